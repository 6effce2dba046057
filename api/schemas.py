"""Request and response bodies. Token amounts, prices and nonces travel as decimal strings
(they outgrow JavaScript's 2^53), and are read from strings or JSON integers alike."""

from __future__ import annotations

import json
from typing import Annotated, Literal, TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, ValidationError, WithJsonSchema

from api.engine import TimeInForce

UINT256_MAX = 2**256 - 1


def _uint(value: object) -> int:
    if isinstance(value, bool):
        raise ValueError("expected an unsigned integer, not a boolean")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 78:
        number = int(value)
    else:
        raise ValueError("expected an unsigned integer as a decimal string, such as \"1000000\"")
    if not 0 <= number <= UINT256_MAX:
        raise ValueError("expected an unsigned 256-bit integer")
    return number


Uint = Annotated[
    int,
    BeforeValidator(_uint),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "pattern": "^[0-9]{1,78}$", "examples": ["1000000"]}),
]
Address = Annotated[str, Field(pattern="^0x[0-9a-fA-F]{40}$", examples=["0x70997970C51812dc3A010C7d01b50e0d17dc79C8"])]
Hex32 = Annotated[str, Field(pattern="^0x[0-9a-fA-F]{64}$")]
PRINTABLE = r"^[^\x00-\x1f\x7f]+$"
"""A text without control characters (PostgreSQL refuses NUL in text, and none belongs in a name)."""
HexBytes = Annotated[str, Field(pattern="^0x([0-9a-fA-F]{2}){1,1024}$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- auth -----------------------------------------------------------------------------------


class NonceOut(BaseModel):
    nonce: str
    expires_at: int
    domain: str
    uri: str
    chain_id: int


class LoginIn(Strict):
    message: str = Field(max_length=4000, description="the EIP-4361 message the wallet signed")
    signature: HexBytes


class RefreshIn(Strict):
    refresh_token: str = Field(max_length=200)


class TokensOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    address: str


# --- orders ---------------------------------------------------------------------------------


class OrderTerms(Strict):
    """The EIP-712 `Order` exactly as signed (DESIGN §3)."""

    maker: Address
    side: Literal[0, 1] = Field(description="0: the maker buys crypto, 1: the maker sells crypto")
    token: Address
    amount: Uint
    min_fill: Uint
    price: Uint = Field(description="fiat per whole token x 10^8")
    fiat: str = Field(pattern="^[A-Z]{3}$", description="ISO 4217 code")
    payment_methods: list[Annotated[str, Field(min_length=1, max_length=40)]] = Field(min_length=1, max_length=10)
    expiry: Uint = Field(description="unix seconds")
    nonce: Uint


class OrderIn(Strict):
    order: OrderTerms
    signature: HexBytes = Field(description="the maker's EIP-712 signature (65 bytes, or an ERC-1271 wallet's)")
    time_in_force: TimeInForce = TimeInForce.GTC


class OrderOut(BaseModel):
    hash: str
    maker: str
    side: int
    token: str
    amount: Uint
    min_fill: Uint
    price: Uint
    fiat: str
    payment_methods: list[str]
    expiry: int
    nonce: Uint
    signature: str
    time_in_force: str
    status: str
    remaining: Uint
    version: int = Field(description="rises with every change of the order: of two copies, the higher is newer")
    created_at: int

    @classmethod
    def of(cls, row) -> OrderOut:
        """From an `orders` row (the model, or any object with its columns)."""
        values = {name: getattr(row, name) for name in _ORDER_FIELDS}
        values["payment_methods"] = json.loads(row.payment_methods)
        return cls(**values)


class TradeOut(BaseModel):
    trade_id: str
    order_hash: str
    fill_index: int
    maker: str
    taker: str
    seller: str
    buyer: str
    token: str
    amount: Uint
    price: Uint
    fiat: str
    fiat_amount: str = Field(description="what the buyer pays, to the currency's precision")
    payment_method: str
    status: str
    flag: str | None
    lock_deadline: int
    deadline_passed: bool
    created_at: int
    updated_at: int

    @classmethod
    def of(cls, row) -> TradeOut:
        """From a `trades` row (the model, or any object with its columns)."""
        return cls(**{name: getattr(row, name) for name in _TRADE_FIELDS})


_ORDER_FIELDS = tuple(OrderOut.model_fields)
_TRADE_FIELDS = tuple(TradeOut.model_fields)


def _renderer(model: type[BaseModel], json_text: tuple[str, ...] = ()):
    """A function that turns a row into `model`'s JSON form (what `model_dump(mode="json")`
    gives) without building the model: the hot path answers, and publishes, with it. `json_text`
    names columns stored as JSON text."""
    fields = tuple(model.model_fields)
    as_text = tuple(name for name, field in model.model_fields.items()
                    if any(isinstance(item, PlainSerializer) for item in field.metadata))  # fmt: skip

    def render(row) -> dict:
        values = {name: getattr(row, name) for name in fields}
        for name in as_text:
            values[name] = str(values[name])
        for name in json_text:
            values[name] = json.loads(values[name])
        return values

    return render


order_json = _renderer(OrderOut, json_text=("payment_methods",))
"""An `orders` row as `OrderOut` renders it to JSON."""
trade_json = _renderer(TradeOut)
"""A `trades` row as `TradeOut` renders it to JSON."""


class PlacedOut(BaseModel):
    order: OrderOut
    trades: list[TradeOut]


class TakeIn(Strict):
    amount: Uint
    payment_method: str | None = Field(None, max_length=40, description="one of the order's; default: its first")


class CancelAllIn(Strict):
    nonce_floor: Uint = Field(description="every order of yours with a lower nonce is cancelled")


class CancelAllOut(BaseModel):
    nonce_floor: Uint
    cancelled: int


class OrderPage(BaseModel):
    orders: list[OrderOut]
    next_cursor: int | None = Field(description="pass as `cursor` for the next page; null on the last")


class BookOut(BaseModel):
    token: str
    fiat: str
    asks: list[OrderOut] = Field(description="sell ads: lowest price first, then oldest")
    bids: list[OrderOut] = Field(description="buy ads: highest price first, then oldest")


# --- trades ---------------------------------------------------------------------------------


class TxOut(BaseModel):
    """An unsigned transaction for the trader's own wallet (eth_sendTransaction's fields)."""

    from_: str = Field(alias="from", serialization_alias="from")
    to: str
    data: str
    value: Uint
    chain_id: int
    description: str

    model_config = ConfigDict(populate_by_name=True)


class LockTxOut(BaseModel):
    approve: TxOut | None = Field(description="first, for an ERC-20 token: let the escrow take the amount")
    lock: TxOut


class PayloadOut(BaseModel):
    action: str
    signer: str
    expiry: int
    typed_data: dict = Field(description="for eth_signTypedData_v4")


class RelayIn(Strict):
    expiry: Uint
    signature: HexBytes


class RelayOut(BaseModel):
    tx_hash: str


class WebhookIn(Strict):
    url: str = Field(pattern=r"^https?://[^\x00-\x20\x7f]+$", max_length=2000)


class WebhookOut(BaseModel):
    id: int
    url: str
    secret: str | None = Field(None, description="shown once, at registration: the HMAC key of the deliveries")
    created_at: int


# --- bodies a route reads itself -----------------------------------------------------------

M = TypeVar("M", bound=BaseModel)
HAND_READ_BODIES: list[type[BaseModel]] = []
"""Models of bodies that routes parse with `parse_body`; `api.app` adds their schemas to OpenAPI."""


def json_body(model: type[BaseModel]) -> dict:
    """The OpenAPI `requestBody` of a route that reads `model` with `parse_body`."""
    HAND_READ_BODIES.append(model)
    return {"required": True, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}}


def parse_body(model: type[M], body: bytes) -> M:
    """`body` as `model`; malformed, it is refused as FastAPI refuses a body (422, the fields named)."""
    try:
        return model.model_validate_json(body)
    except ValidationError as error:
        raise RequestValidationError([{**problem, "loc": ("body", *problem["loc"])} for problem in error.errors()]) from None
