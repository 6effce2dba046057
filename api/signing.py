"""EIP-712 orders and trade ids (DESIGN §3, §5). Pure: no chain, no database.

An order is hashed by hand (keccak over the EIP-712 encoding) rather than through
eth-account's generic encoder, which costs more than the signature check itself; a test
holds the two equal.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from functools import lru_cache

from eth_abi import encode as abi_encode
from eth_account import Account
from eth_utils import keccak, to_checksum_address

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
        methods = b"".join(keccak(text=method) for method in self.payment_methods)
        return keccak(
            abi_encode(
                ["bytes32", "address", "uint8", "address", "uint256", "uint256", "uint256", "bytes32", "bytes32",
                 "uint256", "uint256"],
                [ORDER_TYPEHASH, self.maker, int(self.side), self.token, self.amount, self.min_fill, self.price,
                 keccak(text=self.fiat), keccak(methods), self.expiry, self.nonce],
            )
        )

    def digest(self, chain_id: int, escrow: str) -> bytes:
        """The 32 bytes a wallet signs: keccak(0x1901 ‖ domain separator ‖ struct hash)."""
        return keccak(b"\x19\x01" + domain_separator(chain_id, escrow) + self.struct_hash())

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
    """The EOA that signed `digest`, or None when `signature` is not a valid 65-byte signature."""
    if len(signature) != 65:
        return None
    try:
        return Account._recover_hash(digest, signature=signature)
    except Exception:  # noqa: BLE001 - any malformed signature (bad v, r or s) just recovers nobody
        return None


def trade_id(order_hash: bytes, taker: str, fill_index: int) -> bytes:
    """The escrow key of a fill: both parties can recompute it, and no two fills share one."""
    return keccak(abi_encode(["bytes32", "address", "uint256"], [order_hash, taker, fill_index]))
