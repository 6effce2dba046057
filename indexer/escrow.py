"""The escrow contract's data model in Python: statuses, the `Deal`, and the
EIP-712 messages a party signs for a relayed action (DESIGN §2-3).

Pure: no chain access. The indexer decodes into these types, the API builds
payloads with them, and the tests sign with them.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import Any, NamedTuple

from eth_abi import encode as abi_encode
from eth_account.messages import SignableMessage, encode_typed_data
from eth_utils import keccak

try:  # a C implementation that ships with eth-ape; eth-utils' costs ten times as much
    from cchecksum import to_checksum_address
except ImportError:  # pragma: no cover
    from eth_utils import to_checksum_address

ETH = "0x0000000000000000000000000000000000000000"
"""The `token` of an escrow of native ETH."""

DEAL_ABI_TYPE = "(address,address,address,uint256,uint256,address,uint256)"
ESCROW_CONTRACTS = {"vyper": "Escrow", "solidity": "OrrangeEscrow"}
"""The contract (Ape's name) of each implementation of this one interface, by its language."""
ESCROW_DOMAIN_NAME = "Orrange Escrow"
ESCROW_DOMAIN_VERSION = "1"


EIP712_DOMAIN_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]


class Status(IntEnum):
    NONE = 0
    LOCKED = 1
    PAID = 2
    RELEASED = 3
    REFUNDED = 4
    DISPUTED = 5
    RESOLVED = 6

    @property
    def is_terminal(self) -> bool:
        return self in (Status.RELEASED, Status.REFUNDED, Status.RESOLVED)


class Deal(NamedTuple):
    """The terms of one escrow, as `lock` fixed them and every later call passes them back."""

    seller: str
    buyer: str
    token: str
    amount: int
    fee: int
    arbiter: str
    deadline: int

    @classmethod
    def from_event(cls, event: Any) -> Deal:
        """Rebuilds the deal from a `Locked` event's arguments (a mapping or an object)."""
        get = event.get if hasattr(event, "get") else lambda name: getattr(event, name)
        return cls(
            seller=to_checksum_address(get("seller")),
            buyer=to_checksum_address(get("buyer")),
            token=to_checksum_address(get("token")),
            amount=int(get("amount")),
            fee=int(get("fee")),
            arbiter=to_checksum_address(get("arbiter")),
            deadline=int(get("deadline")),
        )

    def commitment(self, status: Status) -> bytes:
        """The word the contract stores for this deal in `status`."""
        digest = bytearray(keccak(abi_encode([DEAL_ABI_TYPE], [tuple(self)])))
        digest[31] = int(status)
        return bytes(digest)


class Action(StrEnum):
    """The relayable actions; each value is the action's EIP-712 primary type."""

    MARK_PAID = "MarkPaid"
    RELEASE = "Release"
    CANCEL = "Cancel"

    @property
    def signer(self) -> str:
        """The party of the deal who must sign it."""
        return "seller" if self is Action.RELEASE else "buyer"


def action_typed_data(action: Action, trade_id: bytes, expiry: int, chain_id: int, escrow: str) -> dict:
    """The EIP-712 payload (as `eth_signTypedData_v4` takes it) for a relayed action."""
    action = Action(action)
    return {
        "types": {
            "EIP712Domain": EIP712_DOMAIN_FIELDS,
            action.value: [
                {"name": "tradeId", "type": "bytes32"},
                {"name": "expiry", "type": "uint256"},
            ],
        },
        "primaryType": action.value,
        "domain": {
            "name": ESCROW_DOMAIN_NAME,
            "version": ESCROW_DOMAIN_VERSION,
            "chainId": chain_id,
            "verifyingContract": to_checksum_address(escrow),
        },
        "message": {"tradeId": "0x" + bytes(trade_id).hex(), "expiry": expiry},
    }


def action_message(action: Action, trade_id: bytes, expiry: int, chain_id: int, escrow: str) -> SignableMessage:
    """The signable form of `action_typed_data`, for eth-account's `sign_message`."""
    return encode_typed_data(full_message=action_typed_data(action, trade_id, expiry, chain_id, escrow))


def permit_typed_data(
    token_name: str, chain_id: int, token: str, owner: str, spender: str, value: int, nonce: int, deadline: int
) -> dict:
    """The EIP-2612 `Permit` payload a seller signs for `lock_with_permit` (domain version "1")."""
    return {
        "types": {
            "EIP712Domain": EIP712_DOMAIN_FIELDS,
            "Permit": [
                {"name": "owner", "type": "address"},
                {"name": "spender", "type": "address"},
                {"name": "value", "type": "uint256"},
                {"name": "nonce", "type": "uint256"},
                {"name": "deadline", "type": "uint256"},
            ],
        },
        "primaryType": "Permit",
        "domain": {
            "name": token_name,
            "version": "1",
            "chainId": chain_id,
            "verifyingContract": to_checksum_address(token),
        },
        "message": {
            "owner": to_checksum_address(owner),
            "spender": to_checksum_address(spender),
            "value": value,
            "nonce": nonce,
            "deadline": deadline,
        },
    }
