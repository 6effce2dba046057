"""Ads: signed orders, their matching, taking and cancelling, and the order book."""

from __future__ import annotations

import time
from typing import Annotated

import msgspec
from fastapi import APIRouter, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool
from sqlmodel import select

from api import trading
from api.deps import CurrentTrader, OrderingTrader, Platform, PlatformDep, bearer_token, caller_of, client_ip
from api.errors import BadRequest, Forbidden, NotFound
from api.models import Order
from api.schemas import (
    Address, BookOut, CancelAllIn, CancelAllOut, Hex32, OrderIn, OrderOut, OrderPage, OrderTerms, PlacedOut, TakeIn,
    TradeOut, PRINTABLE, json_body, order_json, parse_body, trade_json,
)
from api.signing import Order as SignedOrder
from api.signing import Side, recover_signer
from indexer.escrow import to_checksum_address

router = APIRouter(prefix="/orders", tags=["orders"])
book_router = APIRouter(prefix="/book", tags=["book"])
OrderHash = Annotated[Hex32, Path(description="the order's EIP-712 hash")]


def signed_order(terms: OrderTerms) -> SignedOrder:
    return SignedOrder(
        maker=to_checksum_address(terms.maker), side=Side(terms.side), token=to_checksum_address(terms.token),
        amount=terms.amount, min_fill=terms.min_fill, price=terms.price, fiat=terms.fiat,
        payment_methods=tuple(terms.payment_methods), expiry=terms.expiry, nonce=terms.nonce,
    )


@router.post("/typed-data")
def typed_data(terms: OrderTerms, platform: PlatformDep) -> dict:
    """The EIP-712 payload of an order, for the maker's wallet to sign (eth_signTypedData_v4)."""
    return signed_order(terms).typed_data(platform.market.chain_id, platform.market.escrow)


# POST /orders is added to the app itself, ahead of the routers (`api.app`): FastAPI matches
# an included router's routes one by one, twice (whether one matches, then which), and that
# cost as much as a tenth of a placement's time on the event loop.
PLACE_ROUTE = dict(
    methods=["POST"], response_model=PlacedOut, status_code=201, tags=["orders"],
    openapi_extra={"requestBody": json_body(OrderIn), "security": [{"HTTPBearer": []}]},
    responses={422: {"description": "a malformed body: `detail` names the fields"}},
)


async def place(request: Request) -> Response:
    """Submits a signed order: it first meets the best compatible orders of the other side
    (price-time priority, partial fills), then GTC/GTD rest what is left, IOC drops it, and FOK
    fills everything or nothing. Each fill is a trade.

    The API's hot path reads its caller and body itself (FastAPI's dependency and body
    machinery cost as much as the rest of the request); the answers are the same."""
    platform: Platform = request.app.state.platform
    caller = await caller_of(platform, bearer_token(request))
    await platform.limiter.orders(client_ip(request), caller.address)
    body = parse_body(OrderIn, await request.body())
    order = signed_order(body.order)
    market = platform.market
    if order.maker != caller.address:
        raise Forbidden("you can only submit your own orders: the maker must be the signed-in address")
    trading.validate(order, market, int(time.time()))
    digest = order.digest(market.chain_id, market.escrow)
    signature = bytes.fromhex(body.signature[2:])
    if recover_signer(digest, signature) != order.maker and not await run_in_threadpool(
        platform.gateway.is_valid_signature, order.maker, digest, signature
    ):
        raise BadRequest("the signature is not the maker's signature of this order (EIP-712, domain \"Orrange\")")
    settings = platform.settings
    work = trading.Placement(
        market, order, "0x" + digest.hex(), body.signature.lower(), body.time_in_force,
        lock_window=settings.lock_window, max_open_orders=settings.max_open_orders,
    )

    if platform.engine.dialect.name == "sqlite":
        # SQLite works in this process: its transaction (a few hundred microseconds of CPU) runs
        # right here, on the event loop, since handing it to a thread and back costs more.
        placed = platform.write_rows(work)
    else:  # PostgreSQL's waits on the network and the disk: a writer thread commits placements in groups
        placed = await platform.write_grouped(work)
    # Rendered here, once, without building the models (they describe the answer in OpenAPI).
    body = {"order": order_json(placed.order), "trades": [trade_json(trade) for trade in placed.trades]}
    return Response(msgspec.json.encode(body), status_code=201, media_type="application/json")


@router.get("", response_model=OrderPage)
def list_orders(
    platform: PlatformDep,
    maker: Address | None = None,
    token: Address | None = None,
    fiat: Annotated[str | None, Query(pattern="^[A-Z]{3}$")] = None,
    side: Annotated[int | None, Query(ge=0, le=1)] = None,
    status: Annotated[str | None, Query(pattern="^(OPEN|FILLED|CANCELLED|EXPIRED)$")] = None,
    payment_method: Annotated[str | None, Query(pattern=PRINTABLE, max_length=40)] = None,
    cursor: Annotated[int | None, Query(ge=0, le=2**62, description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> OrderPage:
    """Orders, newest first, filtered by any of maker, token, fiat, side, status and payment method."""
    with platform.read() as session:
        query = select(Order)
        for column, value in (
            (Order.maker, maker and to_checksum_address(maker)), (Order.token, token and to_checksum_address(token)),
            (Order.fiat, fiat), (Order.side, side), (Order.status, status),
        ):
            if value is not None:
                query = query.where(column == value)
        if payment_method is not None:
            query = query.where(Order.payment_methods.contains(f'"{payment_method}"'))
        if cursor is not None:
            query = query.where(Order.seq < cursor)
        rows = session.exec(query.order_by(Order.seq.desc()).limit(limit + 1)).all()
        page = rows[:limit]
        return OrderPage(
            orders=[OrderOut.of(row) for row in page], next_cursor=page[-1].seq if len(rows) > limit else None
        )


@router.get("/{order_hash}", response_model=OrderOut)
def get_order(order_hash: OrderHash, platform: PlatformDep) -> OrderOut:
    with platform.read() as session:
        row = session.exec(select(Order).where(Order.hash == order_hash.lower())).first()
        if row is None:
            raise NotFound(f"there is no order {order_hash}")
        return OrderOut.of(row)


@router.delete("/{order_hash}", response_model=OrderOut)
def cancel(order_hash: OrderHash, caller: CurrentTrader, platform: PlatformDep) -> OrderOut:
    """Cancels one of your open orders (trades already made from it go on)."""
    row = platform.write(lambda session, changes: trading.cancel(session, caller.address, order_hash.lower(), changes))
    return OrderOut.of(row)


@router.post("/cancel-all", response_model=CancelAllOut)
def cancel_all(body: CancelAllIn, caller: CurrentTrader, platform: PlatformDep) -> CancelAllOut:
    """Raises your nonce floor: all your orders with a lower nonce are cancelled, now and if resubmitted."""
    closed = platform.write(
        lambda session, changes: trading.cancel_all(session, caller.address, body.nonce_floor, changes)
    )
    return CancelAllOut(nonce_floor=body.nonce_floor, cancelled=closed)


@router.post("/{order_hash}/take", response_model=TradeOut, status_code=201)
def take(order_hash: OrderHash, body: TakeIn, caller: OrderingTrader, platform: PlatformDep) -> TradeOut:
    """Takes an amount of an ad (within [min fill, remaining]); the trade awaits the seller's lock."""
    trade = platform.write(
        lambda session, changes: trading.take(
            session, platform.market, order_hash.lower(), caller.address, body.amount, body.payment_method, changes,
            lock_window=platform.settings.lock_window,
        )
    )
    return TradeOut.of(trade)


@book_router.get("", response_model=BookOut)
async def order_book(
    token: Address,
    fiat: Annotated[str, Query(pattern="^[A-Z]{3}$")],
    platform: PlatformDep,
    depth: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Response:
    """The open ads of a token and fiat: sell ads lowest price first, buy ads highest first, then
    oldest. Served from a cache that this process's own changes clear at once; changes made by
    other replicas show within a second."""
    body = await platform.books.get(to_checksum_address(token), fiat, depth)
    return Response(body, media_type="application/json")
