"""The trade state machine (DESIGN §5). Pure: no database, no chain.

    AWAITING_LOCK -> LOCKED -> PAID -> RELEASED | REFUNDED | DISPUTED -> RESOLVED
    AWAITING_LOCK -> EXPIRED | CANCELLED        (the amount returns to the order)

Every on-chain step comes from the indexer's mirror of the escrow, never from what a
client says: `follow_escrow` maps the mirrored row onto the trade. The mirror may skip
steps (an indexer catching up sees LOCKED and RELEASED at once) and, after a chain
reorganisation, may step back or lose the escrow altogether; the trade follows it, so it
is always what the chain says now. Only the off-chain steps (expiry, cancellation before
any lock) are decided here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple


class TradeStatus(StrEnum):
    AWAITING_LOCK = "AWAITING_LOCK"
    LOCKED = "LOCKED"
    PAID = "PAID"
    RELEASED = "RELEASED"
    REFUNDED = "REFUNDED"
    DISPUTED = "DISPUTED"
    RESOLVED = "RESOLVED"
    EXPIRED = "EXPIRED"
    CANCELLED = "CANCELLED"

    @property
    def is_final(self) -> bool:
        return self in _FINAL

    @property
    def is_on_chain(self) -> bool:
        """The escrow exists: the trade's money is in the contract or was settled by it."""
        return self in _ON_CHAIN


_ON_CHAIN = frozenset(
    {TradeStatus.LOCKED, TradeStatus.PAID, TradeStatus.RELEASED, TradeStatus.REFUNDED, TradeStatus.DISPUTED,
     TradeStatus.RESOLVED}
)
_FINAL = frozenset({TradeStatus.RELEASED, TradeStatus.REFUNDED, TradeStatus.RESOLVED, TradeStatus.EXPIRED,
                    TradeStatus.CANCELLED})
OFF_CHAIN_ENDINGS = frozenset({TradeStatus.EXPIRED, TradeStatus.CANCELLED})


class TransitionError(ValueError):
    """A step the trade's state does not allow; the message says why."""


@dataclass(frozen=True, slots=True)
class Terms:
    """What the escrow of a trade must hold: parties, token and amount."""

    seller: str
    buyer: str
    token: str
    amount: int


@dataclass(frozen=True, slots=True)
class Mirrored:
    """The indexer's row of the trade's escrow (the fields the trade is checked against)."""

    status: str  # LOCKED, PAID, RELEASED, REFUNDED, DISPUTED, RESOLVED
    seller: str
    buyer: str
    token: str
    amount: int


class Outcome(NamedTuple):
    status: TradeStatus
    flag: str | None  # why the trade needs a human look; None when all is well


def mismatch(terms: Terms, escrow: Mirrored) -> str | None:
    """Which term the escrow does not hold, as a sentence; None when it holds all of them."""
    for name in ("seller", "buyer", "token"):
        if getattr(terms, name).lower() != getattr(escrow, name).lower():
            return f"the escrow's {name} is {getattr(escrow, name)}, not the trade's {getattr(terms, name)}"
    if escrow.amount != terms.amount:
        return f"the escrow holds {escrow.amount} base units, not the trade's {terms.amount}"
    return None


def follow_escrow(current: TradeStatus, terms: Terms, escrow: Mirrored | None) -> Outcome:
    """The trade's status given the escrow the indexer mirrors under its trade id (None: no escrow).

    - No escrow: a trade that was on chain goes back to AWAITING_LOCK (its lock was reorganised
      away); one that ended off chain stays ended.
    - An escrow with other terms (someone else locked under the id, or the seller locked a
      different amount) is never accepted: the trade keeps its off-chain status and is flagged.
    - An escrow locked after the trade expired or was cancelled is flagged too: its amount went
      back to the order, so the buyer should cancel the escrow (its funds return to the seller).
    """
    if escrow is None:
        status = TradeStatus.AWAITING_LOCK if current.is_on_chain else current
        return Outcome(status, None)
    wrong = mismatch(terms, escrow)
    if wrong is not None:
        status = TradeStatus.AWAITING_LOCK if current.is_on_chain else current
        return Outcome(status, f"escrow not accepted: {wrong}")
    if current in OFF_CHAIN_ENDINGS:
        return Outcome(current, f"escrow locked after the trade was {current.lower()}: the buyer can cancel it")
    return Outcome(TradeStatus(escrow.status), None)


def expire(current: TradeStatus) -> TradeStatus:
    if current is not TradeStatus.AWAITING_LOCK:
        raise TransitionError(f"a trade can expire only while awaiting its lock, and this one is {current}")
    return TradeStatus.EXPIRED


def cancel(current: TradeStatus) -> TradeStatus:
    """Either party calls a trade off before the seller locks; after the lock, only the escrow can."""
    if current is not TradeStatus.AWAITING_LOCK:
        raise TransitionError(
            f"the trade is {current}: once locked it ends on chain (the buyer cancels the escrow, or the seller "
            "refunds it after the deadline)"
        )
    return TradeStatus.CANCELLED

