"""EIP-712 orders and trade ids (DESIGN §3, §5). Pure: no chain, no database.

An order is hashed by hand (keccak over the EIP-712 encoding, every field a 32-byte word)
rather than through eth-account's generic encoder, and its signer recovered with libsecp256k1
(coincurve) directly: placing an order checks both, and the generic paths cost more than the
rest of the request. Tests hold both equal to eth-account's.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from functools import lru_cache

from coincurve import PublicKey
from eth_abi import encode as abi_encode
from eth_utils import keccak

from indexer.escrow import to_checksum_address

from indexer.escrow import EIP712_DOMAIN_FIELDS

ORDER_DOMAIN_NAME = "Orrange"
ORDER_DOMAIN_VERSION = "1"
ORDER_TYPE = (
    "Order(address maker,uint8 side,address token,uint256 amount,uint256 minFill,uint256 price,"
    "string fiat,string[] paymentMethods,uint256 expiry,uint256 nonce)"
)
ORDER_TYPEHASH = keccak(text=ORDER_TYPE)
ORDER_FIELDS = [
    {"name": name, "type": kind} for kind, name in (field.split(" ") for field in ORDER_TYPE[6:-1].split(","))
]
_DOMAIN_TYPEHASH = keccak(text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
PRICE_DECIMALS = 8
PRICE_SCALE = 10**PRICE_DECIMALS
"""Prices are fiat per whole token, scaled by 10^8 (as Chainlink feeds are)."""


class Side(IntEnum):
    BUY = 0  # the maker buys crypto: the maker is the trade's buyer
    SELL = 1  # the maker sells crypto: the maker is the trade's seller


@dataclass(frozen=True, slots=True)
class Order:
    """The signed terms of an ad, exactly as the maker's wallet signed them."""

    maker: str
    side: Side
    token: str
    amount: int
    min_fill: int
    price: int
    fiat: str
    payment_methods: tuple[str, ...]
    expiry: int
    nonce: int

    def struct_hash(self) -> bytes:
        """hashStruct(Order): keccak of the type hash and each field as one word (strings and the
        array by their keccak). Raises ValueError for a term no word can hold."""
        try:
            methods = b"".join(_keccak256(method.encode()) for method in self.payment_methods)
            return _keccak256(
                ORDER_TYPEHASH + _address_word(self.maker) + int(self.side).to_bytes(32, "big")
                + _address_word(self.token) + self.amount.to_bytes(32, "big") + self.min_fill.to_bytes(32, "big")
                + self.price.to_bytes(32, "big") + _keccak256(self.fiat.encode()) + _keccak256(methods)
                + self.expiry.to_bytes(32, "big") + self.nonce.to_bytes(32, "big")
            )  # fmt: skip
        except OverflowError:
            raise ValueError("an order's number is negative or above 2^256 - 1") from None

    def digest(self, chain_id: int, escrow: str) -> bytes:
        """The 32 bytes a wallet signs: keccak(0x1901 ‖ domain separator ‖ struct hash)."""
        return _keccak256(b"\x19\x01" + domain_separator(chain_id, escrow) + self.struct_hash())

    def api_terms(self) -> dict:
        """The terms as `POST /orders` takes them (integers as decimal strings)."""
        return {
            "maker": self.maker, "side": int(self.side), "token": self.token, "amount": str(self.amount),
            "min_fill": str(self.min_fill), "price": str(self.price), "fiat": self.fiat,
            "payment_methods": list(self.payment_methods), "expiry": str(self.expiry), "nonce": str(self.nonce),
        }

    def typed_data(self, chain_id: int, escrow: str) -> dict:
        """The payload for `eth_signTypedData_v4`."""
        return {
            "types": {"EIP712Domain": EIP712_DOMAIN_FIELDS, "Order": ORDER_FIELDS},
            "primaryType": "Order",
            "domain": {
                "name": ORDER_DOMAIN_NAME,
                "version": ORDER_DOMAIN_VERSION,
                "chainId": chain_id,
                "verifyingContract": to_checksum_address(escrow),
            },
            "message": {
                "maker": self.maker,
                "side": int(self.side),
                "token": self.token,
                "amount": self.amount,
                "minFill": self.min_fill,
                "price": self.price,
                "fiat": self.fiat,
                "paymentMethods": list(self.payment_methods),
                "expiry": self.expiry,
                "nonce": self.nonce,
            },
        }


@lru_cache(maxsize=16)
def domain_separator(chain_id: int, escrow: str) -> bytes:
    return keccak(
        abi_encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [_DOMAIN_TYPEHASH, keccak(text=ORDER_DOMAIN_NAME), keccak(text=ORDER_DOMAIN_VERSION), chain_id, escrow],
        )
    )


def recover_signer(digest: bytes, signature: bytes) -> str | None:
    """The EOA that signed `digest`, or None when `signature` is not a valid 65-byte signature
    (r ‖ s ‖ v, v being 27 or 28, or 0 or 1)."""
    if len(signature) != 65:
        return None
    v = signature[64] - 27 if signature[64] >= 27 else signature[64]
    if v not in (0, 1):
        return None
    try:
        public_key = PublicKey.from_signature_and_message(signature[:64] + bytes((v,)), digest, hasher=None)
    except Exception:  # noqa: BLE001 - r or s out of range, or no point: it recovers nobody
        return None
    return to_checksum_address("0x" + _keccak256(public_key.format(compressed=False)[1:])[-20:].hex())


try:  # C, a microsecond a hash: an order takes six or seven
    from sha3 import keccak_256 as _keccak_256

    def _keccak256(data: bytes) -> bytes:
        return _keccak_256(data).digest()

except ImportError:  # pragma: no cover - pycryptodome (eth-hash's backend) does the same, four times slower
    from Crypto.Hash import keccak as _keccak

    def _keccak256(data: bytes) -> bytes:
        return _keccak.new(digest_bits=256, data=data).digest()


def _address_word(address: str) -> bytes:
    word = bytes.fromhex(address[2:])
    if len(word) != 20:
        raise ValueError(f"{address} is not a 20-byte address")
    return bytes(12) + word


def trade_id(order_hash: bytes, taker: str, fill_index: int) -> bytes:
    """The escrow key of a fill: both parties can recompute it, and no two fills share one."""
    if len(order_hash) != 32:
        raise ValueError("an order hash is 32 bytes")
    return _keccak256(order_hash + _address_word(taker) + fill_index.to_bytes(32, "big"))
