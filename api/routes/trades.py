"""Trades: what each party sees and signs, the transactions for their wallets, and relays."""

from __future__ import annotations

import time
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from sqlmodel import Session, select

from api import chain, trading
from api.deps import CurrentTrader, PlatformDep
from api.errors import BadRequest, Conflict, Forbidden
from api.lifecycle import TradeStatus
from api.models import Trade
from api.schemas import Hex32, LockTxOut, PayloadOut, RelayIn, RelayOut, TradeOut, TxOut
from indexer.escrow import ETH, Action, Deal, action_typed_data
from indexer.models import Escrow

router = APIRouter(prefix="/trades", tags=["trades"])
TradeId = Annotated[Hex32, Path(description="the trade's id, which is also its escrow's key")]
ActionName = Literal["mark_paid", "release", "cancel"]
_ACTIONS = {"mark_paid": Action.MARK_PAID, "release": Action.RELEASE, "cancel": Action.CANCEL}
# Who sends which escrow call, and in which trade states the escrow would accept it.
_WALLET_CALLS = {
    "mark_paid": ("buyer", {TradeStatus.LOCKED}),
    "release": ("seller", {TradeStatus.LOCKED, TradeStatus.PAID}),
    "cancel": ("buyer", {TradeStatus.LOCKED, TradeStatus.PAID}),
    "refund": ("seller", {TradeStatus.LOCKED}),
    "dispute": ("either", {TradeStatus.PAID}),
}
MAX_SIGNATURE_LIFETIME = 7 * 86400


@router.get("", response_model=list[TradeOut])
def my_trades(
    platform: PlatformDep,
    caller: CurrentTrader,
    status: Annotated[TradeStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[TradeOut]:
    """Your trades, newest first."""
    with platform.read() as session:
        query = select(Trade).where((Trade.seller == caller.address) | (Trade.buyer == caller.address))
        if status is not None:
            query = query.where(Trade.status == str(status))
        return [TradeOut.of(row) for row in session.exec(query.order_by(Trade.created_at.desc()).limit(limit))]


@router.get("/{trade_id}", response_model=TradeOut)
def get_trade(trade_id: TradeId, caller: CurrentTrader, platform: PlatformDep) -> TradeOut:
    with platform.read() as session:
        return TradeOut.of(trading.party_trade(session, trade_id, caller.address))


@router.post("/{trade_id}/cancel", response_model=TradeOut)
def cancel(trade_id: TradeId, caller: CurrentTrader, platform: PlatformDep) -> TradeOut:
    """Calls the trade off before the seller locks; its amount returns to the order."""
    return TradeOut.of(platform.write(lambda session, changes: trading.cancel_trade(session, trade_id, caller.address,
                                                                                    changes)))


@router.get("/{trade_id}/lock-tx", response_model=LockTxOut, response_model_by_alias=True)
def lock_transaction(trade_id: TradeId, caller: CurrentTrader, platform: PlatformDep) -> LockTxOut:
    """The seller's transactions: `approve` (ERC-20 only), then `lock`, for any wallet to send."""
    with platform.read() as session:
        trade = trading.party_trade(session, trade_id, caller.address)
        if caller.address != trade.seller:
            raise Forbidden("only the seller locks the escrow")
        if trade.status != TradeStatus.AWAITING_LOCK:
            raise Conflict(f"the trade is {trade.status}, not awaiting its lock")
        market = platform.market
        key = bytes.fromhex(trade.trade_id[2:])
        window = platform.settings.payment_window
        is_eth = trade.token == ETH
        lock = TxOut(
            from_=trade.seller, to=market.escrow, value=trade.amount if is_eth else 0, chain_id=market.chain_id,
            data=chain.lock_call(key, trade.buyer, trade.token, trade.amount, window),
            description=f"lock {trade.amount} base units for {trade.buyer}, who then has {window} s to pay",
        )
        approve = None if is_eth else TxOut(
            from_=trade.seller, to=trade.token, value=0, chain_id=market.chain_id,
            data=chain.approve_call(market.escrow, trade.amount),
            description=f"let the escrow take {trade.amount} base units",
        )
        return LockTxOut(approve=approve, lock=lock)


@router.get("/{trade_id}/tx/{call}", response_model=TxOut, response_model_by_alias=True)
def wallet_transaction(
    trade_id: TradeId,
    call: Literal["mark_paid", "release", "cancel", "refund", "dispute"],
    caller: CurrentTrader,
    platform: PlatformDep,
) -> TxOut:
    """An escrow call for the caller's own wallet (who pays its gas): mark_paid, release,
    cancel, refund (the seller, after the deadline) or dispute."""
    with platform.read() as session:
        trade = trading.party_trade(session, trade_id, caller.address)
        party, states = _WALLET_CALLS[call]
        if party != "either" and caller.address != getattr(trade, party):
            raise Forbidden(f"only the {party} can {call.replace('_', ' ')}")
        if trade.status not in states:
            raise Conflict(f"the trade is {trade.status}; {call.replace('_', ' ')} needs it {' or '.join(sorted(states))}")
        deal = _deal(session, platform, trade)
        return TxOut(
            from_=caller.address, to=platform.market.escrow, value=0, chain_id=platform.market.chain_id,
            data=chain.deal_call(call, bytes.fromhex(trade.trade_id[2:]), deal), description=f"{call} trade {trade_id}",
        )


@router.get("/{trade_id}/payload/{action}", response_model=PayloadOut)
def payload(
    trade_id: TradeId,
    action: ActionName,
    caller: CurrentTrader,
    platform: PlatformDep,
    expiry: Annotated[int | None, Query(ge=0, le=2**62, description="unix seconds; default: an hour from now")] = None,
) -> PayloadOut:
    """The EIP-712 message to sign for a relayed mark-paid (buyer), release (seller) or cancel (buyer)."""
    with platform.read() as session:
        trade, relayed = _relayable(session, trade_id, caller.address, action)
        expiry = int(time.time()) + 3600 if expiry is None else expiry
        market = platform.market
        data = action_typed_data(relayed, bytes.fromhex(trade.trade_id[2:]), expiry, market.chain_id, market.escrow)
        return PayloadOut(action=action, signer=caller.address, expiry=expiry, typed_data=data)


@router.post("/{trade_id}/relay/{action}", response_model=RelayOut, status_code=202)
def relay(
    trade_id: TradeId, action: ActionName, body: RelayIn, caller: CurrentTrader, platform: PlatformDep,
) -> RelayOut:
    """The platform submits your signed action and pays its gas. It is simulated first: a
    signature the escrow would refuse is refused here, and nothing is sent."""
    with platform.read() as session:
        trade, relayed = _relayable(session, trade_id, caller.address, action)
        now = int(time.time())
        if not now < body.expiry <= now + MAX_SIGNATURE_LIFETIME:
            raise BadRequest(f"the signature's expiry must be in the future, at most {MAX_SIGNATURE_LIFETIME} s ahead")
        deal = _deal(session, platform, trade)
        tx_hash = platform.gateway.relay(
            relayed, bytes.fromhex(trade.trade_id[2:]), deal, body.expiry, bytes.fromhex(body.signature[2:])
        )
        return RelayOut(tx_hash=tx_hash)


def _relayable(session: Session, trade_id: str, caller: str, action: str) -> tuple[Trade, Action]:
    trade = trading.party_trade(session, trade_id, caller)
    relayed = _ACTIONS[action]
    signer = getattr(trade, relayed.signer)
    if caller != signer:
        raise Forbidden(f"the {relayed.signer} signs {action.replace('_', ' ')}, and you are not the {relayed.signer}")
    _party, states = _WALLET_CALLS[action]
    if trade.status not in states:
        raise Conflict(f"the trade is {trade.status}; {action.replace('_', ' ')} needs it {' or '.join(sorted(states))}")
    return trade, relayed


def _deal(session: Session, platform, trade: Trade) -> Deal:
    """The escrow's terms as the indexer mirrored them: every later call passes them back."""
    row = session.get(Escrow, (platform.market.chain_id, platform.market.escrow, trade.trade_id))
    if row is None:
        raise Conflict("the trade's escrow is not indexed yet; try again in a moment")
    return Deal(row.seller, row.buyer, row.token, row.amount, row.fee, row.arbiter, row.deadline)
