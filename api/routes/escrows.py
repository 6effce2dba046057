"""The chain's word: escrows as the indexer mirrors them, and reputations computed from them."""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlmodel import or_, select

from api.deps import PlatformDep
from api.errors import NotFound
from api.schemas import Address, Hex32, Uint
from indexer.escrow import to_checksum_address
from indexer.models import Escrow, IndexerState

router = APIRouter(prefix="/escrows", tags=["escrows"])
reputation_router = APIRouter(prefix="/reputation", tags=["reputation"])


class EscrowOut(BaseModel):
    trade_id: str
    contract: str
    seller: str
    buyer: str
    token: str
    arbiter: str
    amount: Uint
    fee: Uint
    deadline: int
    status: str
    locked_block: int
    locked_tx: str
    locked_at: int | None
    paid_at: int | None
    disputed_at: int | None
    disputed_by: str | None
    closed_at: int | None
    buyer_amount: Uint | None
    seller_amount: Uint | None
    fee_taken: Uint | None
    updated_block: int
    updated_tx: str
    final: bool


class ReputationOut(BaseModel):
    address: str
    trades_completed: int = 0
    as_seller: int = 0
    as_buyer: int = 0
    refunded: int = 0
    disputes: int = 0
    disputes_opened: int = 0
    volume: dict[str, Uint] = {}  # token -> base units released
    median_release_seconds: float | None = None  # from marked paid (else locked) to released, as seller
    indexed_block: int | None = None


@router.get("/{trade_id}", response_model=EscrowOut)
def get_escrow(trade_id: Hex32, platform: PlatformDep) -> EscrowOut:
    """An escrow's state on chain (public: the chain shows it to anyone)."""
    with platform.read() as session:
        row = session.get(Escrow, (platform.market.chain_id, platform.market.escrow, trade_id.lower()))
        if row is None:
            raise NotFound(f"no escrow {trade_id} is indexed")
        return EscrowOut(**row.model_dump())


@router.get("", response_model=list[EscrowOut])
def list_escrows(
    platform: PlatformDep,
    address: Address,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[EscrowOut]:
    """The escrows an address is seller or buyer of, newest first."""
    with platform.read() as session:
        party = to_checksum_address(address)
        query = (
            select(Escrow)
            .where(Escrow.chain_id == platform.market.chain_id, or_(Escrow.seller == party, Escrow.buyer == party))
            .order_by(Escrow.locked_block.desc())
            .limit(limit)
        )
        return [EscrowOut(**row.model_dump()) for row in session.exec(query)]


@reputation_router.get("/{address}", response_model=ReputationOut)
def reputation(address: Address, platform: PlatformDep) -> ReputationOut:
    """What the chain says of an address: completed trades, volume, disputes, and how fast it
    releases as seller. Nothing here comes from what anyone typed."""
    with platform.read() as session:
        party = to_checksum_address(address)
        chain_id = platform.market.chain_id
        rows = session.exec(
            select(Escrow).where(Escrow.chain_id == chain_id, or_(Escrow.seller == party, Escrow.buyer == party))
        ).all()
        out = ReputationOut(address=party)
        volume: dict[str, int] = defaultdict(int)
        release_times = []
        for row in rows:
            if row.disputed_at is not None:
                out.disputes += 1
                out.disputes_opened += row.disputed_by == party
            if row.status == "REFUNDED":
                out.refunded += 1
            if row.status != "RELEASED":
                continue
            out.trades_completed += 1
            volume[row.token] += row.amount
            if row.seller == party:
                out.as_seller += 1
                start = row.paid_at if row.paid_at is not None else row.locked_at
                if start is not None and row.closed_at is not None:
                    release_times.append(row.closed_at - start)
            else:
                out.as_buyer += 1
        out.volume = dict(volume)
        out.median_release_seconds = statistics.median(release_times) if release_times else None
        state = session.get(IndexerState, chain_id)
        out.indexed_block = state.indexed_block if state else None
        return out
