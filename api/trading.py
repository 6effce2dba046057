"""Orders and trades in the database: placing a signed order (matched by `api.engine`),
taking one, cancelling, and the trades each fill creates. The functions take the caller's
session and never commit: the route commits once, so a request changes all or nothing.

Races: every fill rewrites the resting order with a compare-and-set on its `version`
after reading it under a row lock (PostgreSQL `FOR UPDATE`; SQLite's `BEGIN IMMEDIATE`
serialises writers), so two takers can never both have the same remainder.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from types import SimpleNamespace

from sqlalchemy import bindparam, func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from api import engine, lifecycle
from api.errors import BadRequest, Conflict, Forbidden, NotFound
from api.market import FIAT_DECIMALS, Market, fiat_amount
from api.models import MakerNonce, Order, Trade
from api.signing import Order as SignedOrder
from api.signing import Side, trade_id

OPEN, FILLED, CANCELLED, EXPIRED = "OPEN", "FILLED", "CANCELLED", "EXPIRED"
MAX_PAYMENT_METHODS = 10
FIRST_CANDIDATES = 8  # resting orders a placement reads first; most orders need no more
MAX_CANDIDATES = 512  # the most it reads
INT64_MAX = 2**63 - 1


_ORDERS = Order.__table__
_FLOOR = select(MakerNonce.__table__.c.floor).where(MakerNonce.__table__.c.maker == bindparam("maker"))
_OPEN_COUNT = (
    select(func.count()).select_from(_ORDERS).where(_ORDERS.c.maker == bindparam("maker"), _ORDERS.c.status == OPEN)
)
_INSERT_ORDER = _ORDERS.insert()
_UPDATE_ORDER = (
    update(_ORDERS)
    .where(_ORDERS.c.seq == bindparam("seq_"), _ORDERS.c.version == bindparam("read_version"))
    .values(remaining=bindparam("remaining"), fills=bindparam("fills"), status=bindparam("status"),
            version=bindparam("version"))
)
_INSERT_TRADE = Trade.__table__.insert()


class LostRace(Conflict):
    """A resting order changed between reading and writing it; the whole request is retried."""


@dataclass
class Changes:
    """What a request changed, for the live updates and webhooks sent once it commits."""

    orders: list[Order] = field(default_factory=list)  # placed, filled, cancelled, expired or reopened
    trades: list[Trade] = field(default_factory=list)

    @property
    def books(self) -> set[tuple[str, str]]:
        """The (token, fiat) books the change touched."""
        return {(order.token, order.fiat) for order in self.orders}


@dataclass
class Placed:
    order: Order
    trades: list[Trade]


def validate(order: SignedOrder, market: Market, now: int) -> None:
    """Refuses an order the platform can't trade, with the reason."""
    token = market.token(order.token)
    if token is None:
        accepted = ", ".join(f"{t.symbol} ({t.address})" for t in market.tokens.values())
        raise BadRequest(f"the escrow does not accept token {order.token}; it accepts {accepted}")
    if order.fiat not in FIAT_DECIMALS:
        raise BadRequest(f"fiat {order.fiat!r} is not a currency priced here (ISO 4217 codes such as EUR, USD, INR)")
    if order.amount <= 0:
        raise BadRequest("the amount must be a positive number of base units")
    if order.amount > token.cap:
        raise BadRequest(f"the escrow takes at most {token.cap} base units of {token.symbol} per trade")
    if order.min_fill > order.amount:
        raise BadRequest("the minimum fill is larger than the amount")
    if not 0 < order.price <= INT64_MAX:
        raise BadRequest(f"the price must be a positive integer (fiat per whole token x 10^8) up to {INT64_MAX}")
    methods = order.payment_methods
    if not 1 <= len(methods) <= MAX_PAYMENT_METHODS or len(set(methods)) != len(methods):
        raise BadRequest(f"name 1 to {MAX_PAYMENT_METHODS} distinct payment methods")
    if not all(0 < len(method) <= 40 and method.isprintable() for method in methods):
        raise BadRequest("a payment method is a name of 1 to 40 printable characters")
    if order.expiry <= now:
        raise BadRequest("the order has already expired")
    if order.expiry > INT64_MAX:
        raise BadRequest(f"the expiry must be unix seconds up to {INT64_MAX}")


def place(
    session: Session,
    market: Market,
    signed: SignedOrder,
    order_hash: str,
    signature: str,
    time_in_force: engine.TimeInForce,
    changes: Changes,
    *,
    lock_window: int,
    max_open_orders: int,
    now: int | None = None,
) -> Placed:
    """Stores a verified signed order and matches it against the book by price-time priority.

    The hot path of the API, so it speaks SQLAlchemy Core (no ORM identity map) and reads
    only as many resting orders as the match needs: a few first, more only if those run out."""
    now = int(time.time()) if now is None else now
    connection = session.connection()
    floor = connection.execute(_FLOOR, {"maker": signed.maker}).scalar()
    if floor is not None and signed.nonce < floor:
        raise BadRequest(f"the order's nonce is below the maker's nonce floor {floor}: it was cancelled")
    rests = time_in_force in (engine.TimeInForce.GTC, engine.TimeInForce.GTD)
    if rests and connection.execute(_OPEN_COUNT, {"maker": signed.maker}).scalar() >= max_open_orders:
        raise Conflict(f"a maker may have at most {max_open_orders} open orders; cancel some first")

    limit = FIRST_CANDIDATES
    while True:
        candidates = _candidates(connection, signed, now, limit)
        book = engine.Book()
        try:
            for candidate in candidates:
                book.add(_book_order(candidate), now=now)
            result = book.place(_book_order(_incoming_row(signed, order_hash)), time_in_force, now=now)
        except engine.EngineError as error:
            raise BadRequest(str(error)) from None
        if not result.remaining or len(candidates) < limit or limit >= MAX_CANDIDATES:
            break
        limit = min(limit * 8, MAX_CANDIDATES)  # the first few ran out before the order did: look deeper

    status = OPEN if result.rested else (FILLED if result.remaining == 0 else CANCELLED)
    row = Order(**_columns(signed), hash=order_hash, signature=signature, time_in_force=str(time_in_force),
                status=status, remaining=result.remaining, created_at=now)
    values = row.model_dump(exclude={"seq"})
    try:
        row.seq = connection.execute(_INSERT_ORDER.values(**values)).inserted_primary_key[0]
    except IntegrityError:
        raise Conflict(f"order {order_hash} was already submitted") from None
    by_hash = {candidate.hash: candidate for candidate in candidates}
    trades = []
    for fill in result.fills:
        resting = Order(**by_hash[fill.order_id]._mapping)
        trades.append(_fill(session, market, resting, signed.maker, fill.amount, _shared_method(resting, signed),
                            lock_window, now))
        changes.orders.append(resting)
    changes.orders.append(row)
    changes.trades.extend(trades)
    return Placed(row, trades)


def take(
    session: Session,
    market: Market,
    order_hash: str,
    taker: str,
    amount: int,
    payment_method: str | None,
    changes: Changes,
    *,
    lock_window: int,
    now: int | None = None,
) -> Trade:
    """The P2P way: the taker names an order and an amount within [min fill, remaining]."""
    now = int(time.time()) if now is None else now
    row = session.exec(select(Order).where(Order.hash == order_hash).with_for_update()).first()
    if row is None:
        raise NotFound(f"there is no order {order_hash}")
    if row.status != OPEN:
        raise Conflict(f"order {order_hash} is {row.status}, not open")
    if row.expiry <= now:
        raise Conflict(f"order {order_hash} expired")
    if row.maker == taker:
        raise BadRequest("you cannot take your own order")
    methods = json.loads(row.payment_methods)
    if payment_method is None:
        payment_method = methods[0]
    elif payment_method not in methods:
        raise BadRequest(f"order {order_hash} is paid by {', '.join(methods)}, not {payment_method}")
    if not engine.can_take(row.remaining, row.min_fill, amount):
        raise BadRequest(f"the amount taken from this order must be {engine.takeable(row.remaining, row.min_fill)} "
                         "base units")
    trade = _fill(session, market, row, taker, amount, payment_method, lock_window, now)
    changes.orders.append(row)
    changes.trades.append(trade)
    return trade


def cancel(session: Session, maker: str, order_hash: str, changes: Changes) -> Order:
    row = session.exec(select(Order).where(Order.hash == order_hash).with_for_update()).first()
    if row is None:
        raise NotFound(f"there is no order {order_hash}")
    if row.maker != maker:
        raise Forbidden("only the order's maker can cancel it")
    if row.status != OPEN:
        raise Conflict(f"order {order_hash} is {row.status}, not open")
    set_order(session, row, status=CANCELLED)
    changes.orders.append(row)
    return row


def cancel_all(session: Session, maker: str, floor: int, changes: Changes) -> int:
    """Raises the maker's nonce floor: every order of theirs with a lower nonce is cancelled,
    and any copy of one submitted later is refused. Returns how many open orders it closed."""
    current = session.get(MakerNonce, maker, with_for_update=True)
    if current is not None and floor <= current.floor:
        raise BadRequest(f"the new nonce floor must be above the current one, {current.floor}")
    session.merge(MakerNonce(maker=maker, floor=floor))
    closed = 0
    for row in session.exec(select(Order).where(Order.maker == maker, Order.status == OPEN).with_for_update()):
        if row.nonce < floor:
            set_order(session, row, status=CANCELLED)
            changes.orders.append(row)
            closed += 1
    return closed


def cancel_trade(session: Session, trade_id_hex: str, caller: str, changes: Changes) -> Trade:
    """Either party calls off a trade before its lock; the amount returns to the order."""
    trade = party_trade(session, trade_id_hex, caller, for_update=True)
    try:
        status = lifecycle.cancel(lifecycle.TradeStatus(trade.status))
    except lifecycle.TransitionError as error:
        raise Conflict(str(error)) from None
    end_trade(session, trade, status, changes)
    return trade


def end_trade(session: Session, trade: Trade, status: lifecycle.TradeStatus, changes: Changes, now: int | None = None):
    """Moves an unlocked trade to EXPIRED or CANCELLED and gives its amount back to the order."""
    trade.status = str(status)
    trade.updated_at = int(time.time()) if now is None else now
    session.add(trade)
    order = session.exec(select(Order).where(Order.hash == trade.order_hash).with_for_update()).one()
    reopened = order.status == FILLED and order.expiry > trade.updated_at
    set_order(session, order, remaining=order.remaining + trade.amount, status=OPEN if reopened else order.status)
    changes.orders.append(order)
    changes.trades.append(trade)


def party_trade(session: Session, trade_id_hex: str, caller: str, for_update: bool = False) -> Trade:
    """The trade, if `caller` is one of its parties (anyone else learns nothing, not even that it exists)."""
    query = select(Trade).where(Trade.trade_id == trade_id_hex.lower())
    trade = session.exec(query.with_for_update() if for_update else query).first()
    if trade is None or caller not in (trade.seller, trade.buyer):
        raise NotFound(f"you have no trade {trade_id_hex}")
    return trade


# --- internals ------------------------------------------------------------------------------


def _fill(
    session: Session, market: Market, row: Order, taker: str, amount: int, payment_method: str, lock_window: int,
    now: int,
) -> Trade:
    fill_index = row.fills
    remaining = row.remaining - amount
    set_order(session, row, remaining=remaining, fills=fill_index + 1, status=OPEN if remaining else FILLED)
    seller, buyer = (row.maker, taker) if row.side == Side.SELL else (taker, row.maker)
    token = market.tokens[row.token]
    trade = Trade(
        trade_id="0x" + trade_id(bytes.fromhex(row.hash[2:]), taker, fill_index).hex(),
        order_hash=row.hash,
        fill_index=fill_index,
        maker=row.maker,
        taker=taker,
        seller=seller,
        buyer=buyer,
        token=row.token,
        amount=amount,
        price=row.price,
        fiat=row.fiat,
        fiat_amount=str(fiat_amount(amount, row.price, token.decimals, row.fiat)),
        payment_method=payment_method,
        status=str(lifecycle.TradeStatus.AWAITING_LOCK),
        lock_deadline=now + lock_window,
        created_at=now,
        updated_at=now,
    )
    session.connection().execute(_INSERT_TRADE, trade.model_dump())
    return trade


def set_order(session: Session, row: Order, **values) -> None:
    """Writes `values` (of remaining, fills, status) to the order if nobody changed it since it
    was read (else LostRace)."""
    for name, value in values.items():
        setattr(row, name, value)
    written = session.connection().execute(
        _UPDATE_ORDER,
        {"seq_": row.seq, "read_version": row.version, "remaining": row.remaining, "fills": row.fills,
         "status": row.status, "version": row.version + 1},
    ).rowcount
    if written != 1:
        raise LostRace(f"order {row.hash} changed while this request used it; try again")
    row.version += 1


def _candidates(connection, incoming: SignedOrder, now: int, limit: int) -> list:
    """The first `limit` resting orders the incoming one could meet, best first, locked for
    this transaction (PostgreSQL; SQLite's writer lock already covers them)."""
    if incoming.side == Side.BUY:
        side, crosses, best = Side.SELL, _ORDERS.c.price <= incoming.price, (_ORDERS.c.price.asc(), _ORDERS.c.seq.asc())
    else:
        side, crosses, best = Side.BUY, _ORDERS.c.price >= incoming.price, (_ORDERS.c.price.desc(), _ORDERS.c.seq.asc())
    query = (
        select(_ORDERS)
        .where(_ORDERS.c.token == incoming.token, _ORDERS.c.fiat == incoming.fiat, _ORDERS.c.side == int(side),
               _ORDERS.c.status == OPEN, crosses, _ORDERS.c.expiry > now, _ORDERS.c.maker != incoming.maker)
        .order_by(*best)
        .limit(limit)
        .with_for_update()
    )
    return connection.execute(query).all()


def _columns(signed: SignedOrder) -> dict:
    return {
        "maker": signed.maker,
        "side": int(signed.side),
        "token": signed.token,
        "amount": signed.amount,
        "min_fill": signed.min_fill,
        "price": signed.price,
        "fiat": signed.fiat,
        "payment_methods": json.dumps(list(signed.payment_methods)),
        "expiry": signed.expiry,
        "nonce": signed.nonce,
    }


def _book_order(row) -> engine.BookOrder:
    """An order row (or anything with its columns) as the engine sees it."""
    return engine.BookOrder(
        row.hash, row.maker, row.side, row.amount, row.price, json.loads(row.payment_methods),
        min_fill=row.min_fill, expiry=row.expiry, sequence=row.seq, remaining=row.remaining,
    )


def _incoming_row(signed: SignedOrder, order_hash: str):
    return SimpleNamespace(**_columns(signed), hash=order_hash, seq=None, remaining=signed.amount)


def _shared_method(resting: Order, incoming: SignedOrder) -> str:
    """The first of the resting order's payment methods that the incoming order also offers."""
    offered = set(incoming.payment_methods)
    return next(method for method in json.loads(resting.payment_methods) if method in offered)

