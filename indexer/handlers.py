"""Turning escrow events into read-model rows: pure, no I/O.

`BatchState` holds the rows a batch of events touches (the store loads them and writes
them back) and, for blocks that could still be reorganised away, the image each row had
before the block first changed it. `apply` folds one event into it, `apply_all` a batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from indexer.decode import Event
from indexer.escrow import Status

LOCKED, PAID, RELEASED, REFUNDED, DISPUTED, RESOLVED = (
    status.name for status in (Status.LOCKED, Status.PAID, Status.RELEASED, Status.REFUNDED, Status.DISPUTED, Status.RESOLVED)
)

ESCROW, CLAIMABLE, FEE_POOL, CONTRACT = "escrows", "claimables", "fee_pools", "escrow_contracts"

EscrowKey = tuple[str, str]  # contract, trade_id
ClaimableKey = tuple[str, str, str]  # contract, token, account
PoolKey = tuple[str, str]  # contract, token


class BatchState:
    """The rows one batch reads and changes.

    `load(table, key)` fetches a row missing from the state (None if it doesn't exist);
    `pools_of(contract)` returns every fee pool of a contract. Rows changed in a block
    after `undo_from` have their earlier image kept in `undo` for rollback.
    """

    def __init__(
        self,
        chain_id: int,
        load: Callable[[str, tuple], Any],
        pools_of: Callable[[str], dict[PoolKey, int]],
        undo_from: int,
    ):
        self.chain_id = chain_id
        self.rows: dict[str, dict[tuple, Any]] = {ESCROW: {}, CLAIMABLE: {}, FEE_POOL: {}, CONTRACT: {}}
        self.dirty: dict[str, set[tuple]] = {table: set() for table in self.rows}
        self.undo: list[tuple[int, str, tuple, Any]] = []  # block, table, key, image before
        self._undone: set[tuple[int, str, tuple]] = set()
        self._load = load
        self._pools_of = pools_of
        self._undo_from = undo_from

    def get(self, table: str, key: tuple) -> Any:
        rows = self.rows[table]
        try:
            return rows[key]
        except KeyError:
            row = rows[key] = self._load(table, key)
            return row

    def touch(self, table: str, key: tuple, block: int) -> Any:
        """The row (None if it doesn't exist yet), about to change in `block`: its image before
        the block is kept for rollback, and it will be written back."""
        rows = self.rows[table]
        try:  # `get`, inline: every event touches a row or three
            row = rows[key]
        except KeyError:
            row = rows[key] = self._load(table, key)
        if block > self._undo_from and (block, table, key) not in self._undone:
            self._undone.add((block, table, key))
            self.undo.append((block, table, key, dict(row) if isinstance(row, dict) else row))
        self.dirty[table].add(key)
        return row

    def put(self, table: str, key: tuple, value: Any, block: int) -> None:
        self.touch(table, key, block)
        self.rows[table][key] = value

    def pools(self, contract: str) -> dict[PoolKey, int]:
        pools = {key: amount for key, amount in self._pools_of(contract).items() if key not in self.rows[FEE_POOL]}
        self.rows[FEE_POOL].update(pools)
        return {key: amount for key, amount in self.rows[FEE_POOL].items() if key[0] == contract}


def apply(state: BatchState, event: Event) -> None:
    """Folds one event into the state; an event without a handler changes nothing."""
    apply_all(state, (event,))


def apply_all(state: BatchState, events: Iterable[Event]) -> None:
    """`apply` to each of `events` in turn (one call a batch rather than one an event)."""
    handler_of = _HANDLERS.get
    for event in events:
        handler = handler_of(event.name)
        if handler is not None:
            handler(state, event)


# --- escrows -------------------------------------------------------------------------------


def _update_escrow(state: BatchState, event: Event, **changes) -> dict:
    key = (event.contract, event.args["trade_id"])
    row = state.touch(ESCROW, key, event.block_number)
    if row is None:  # a log the indexer can't place: the chain guarantees a Locked first
        raise ValueError(f"{event.name} for unknown trade {key[1]} at block {event.block_number}")
    row.update(changes)
    row["updated_block"] = event.block_number
    row["updated_tx"] = event.tx_hash
    row["updated_at"] = event.timestamp
    return row


def _locked(state: BatchState, event: Event) -> None:
    args = event.args
    key = (event.contract, args["trade_id"])
    row = {
        "chain_id": state.chain_id,
        "contract": event.contract,
        "trade_id": args["trade_id"],
        "seller": args["seller"],
        "buyer": args["buyer"],
        "token": args["token"],
        "arbiter": args["arbiter"],
        "amount": args["amount"],
        "fee": args["fee"],
        "deadline": args["deadline"],
        "status": LOCKED,
        "locked_block": event.block_number,
        "locked_tx": event.tx_hash,
        "locked_at": event.timestamp,
        "paid_at": None,
        "disputed_at": None,
        "disputed_by": None,
        "closed_at": None,
        "buyer_amount": None,
        "seller_amount": None,
        "fee_taken": None,
        "updated_block": event.block_number,
        "updated_tx": event.tx_hash,
        "updated_at": event.timestamp,
        "final": False,
    }
    state.put(ESCROW, key, row, event.block_number)


def _paid(state: BatchState, event: Event) -> None:
    _update_escrow(state, event, status=PAID, paid_at=event.timestamp)


def _released(state: BatchState, event: Event) -> None:
    args = event.args
    row = _update_escrow(
        state,
        event,
        status=RELEASED,
        closed_at=event.timestamp,
        buyer_amount=args["buyer_amount"],
        seller_amount=0,
        fee_taken=args["fee"],
    )
    _accrue_fee(state, event, row["token"], args["fee"])


def _refunded(state: BatchState, event: Event) -> None:
    _update_escrow(
        state,
        event,
        status=REFUNDED,
        closed_at=event.timestamp,
        buyer_amount=0,
        seller_amount=event.args["amount"],
        fee_taken=0,
    )


def _extended(state: BatchState, event: Event) -> None:
    _update_escrow(state, event, deadline=event.args["deadline"])


def _disputed(state: BatchState, event: Event) -> None:
    _update_escrow(
        state, event, status=DISPUTED, disputed_at=event.timestamp, disputed_by=event.args["by"]
    )


def _resolved(state: BatchState, event: Event) -> None:
    args = event.args
    row = _update_escrow(
        state,
        event,
        status=RESOLVED,
        closed_at=event.timestamp,
        buyer_amount=args["buyer_amount"],
        seller_amount=args["seller_amount"],
        fee_taken=args["fee"],
    )
    _accrue_fee(state, event, row["token"], args["fee"])


# --- claimable balances and fees -----------------------------------------------------------


def _add(state: BatchState, table: str, key: tuple, delta: int, block: int) -> None:
    """Adds `delta` to an amount row (claimable, fee pool), 0 if there is none yet."""
    state.rows[table][key] = (state.touch(table, key, block) or 0) + delta


def _add_claimable(state: BatchState, event: Event, token: str, account: str, delta: int) -> None:
    _add(state, CLAIMABLE, (event.contract, token, account), delta, event.block_number)


def _accrue_fee(state: BatchState, event: Event, token: str, fee: int) -> None:
    if not fee:
        return
    _add(state, FEE_POOL, (event.contract, token), fee, event.block_number)
    _add_claimable(state, event, token, _contract(state, event)["treasury"], fee)


def _credited(state: BatchState, event: Event) -> None:
    args = event.args
    _add_claimable(state, event, args["token"], args["account"], args["amount"])


def _withdrawn(state: BatchState, event: Event) -> None:
    args = event.args
    state.put(CLAIMABLE, (event.contract, args["token"], args["account"]), 0, event.block_number)
    if args["account"] == _contract(state, event)["treasury"]:
        state.put(FEE_POOL, (event.contract, args["token"]), 0, event.block_number)


# --- contract configuration --------------------------------------------------------------


def _contract(state: BatchState, event: Event) -> dict:
    return state.get(CONTRACT, (event.contract,)) or {
        "chain_id": state.chain_id,
        "contract": event.contract,
        "fee_bps": 0,
        "treasury": None,
        "arbiter": None,
        "paused": False,
    }


def _configure(state: BatchState, event: Event, **changes) -> None:
    state.put(CONTRACT, (event.contract,), {**_contract(state, event), **changes}, event.block_number)


def _treasury_set(state: BatchState, event: Event) -> None:
    old, new = _contract(state, event)["treasury"], event.args["treasury"]
    if old is not None and old != new:  # accrued fees follow the treasury role
        for (contract, token), amount in state.pools(event.contract).items():
            if amount:
                _add_claimable(state, event, token, old, -amount)
                _add_claimable(state, event, token, new, amount)
    _configure(state, event, treasury=new)


_HANDLERS: dict[str, Callable[[BatchState, Event], None]] = {
    "Locked": _locked,
    "Paid": _paid,
    "Released": _released,
    "Refunded": _refunded,
    "Extended": _extended,
    "Disputed": _disputed,
    "Resolved": _resolved,
    "Credited": _credited,
    "Withdrawn": _withdrawn,
    "FeeBpsSet": lambda state, event: _configure(state, event, fee_bps=event.args["fee_bps"]),
    "TreasurySet": _treasury_set,
    "ArbiterSet": lambda state, event: _configure(state, event, arbiter=event.args["arbiter"]),
    "Paused": lambda state, event: _configure(state, event, paused=True),
    "Unpaused": lambda state, event: _configure(state, event, paused=False),
}
