"""Orders and trades in the database: placing a signed order (matched by `api.engine`),
taking one, cancelling, and the trades each fill creates. The functions take the caller's
session and never commit: the route commits once, so a request changes all or nothing.

Races: every fill rewrites the resting order with a compare-and-set on its `version`
(SQLite's `BEGIN IMMEDIATE` serialises writers besides), so two takers can never both have
the same remainder: the one that finds the version changed retries its whole request. A take
reads its order under a row lock (PostgreSQL `FOR UPDATE`). A placement reads the resting
orders it could meet without one: locking the best few of a book for every placement would
queue all placements of that book, crossing or not, behind each other's commits.
"""

from __future__ import annotations

import bisect
import json
import time
from collections import Counter
from dataclasses import dataclass, field, make_dataclass, replace
from functools import cache
from typing import Any

from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlmodel import Session, select

from api import engine, lifecycle
from api.errors import BadRequest, Conflict, Forbidden, NotFound
from api.market import FIAT_DECIMALS, Market, fiat_amount
from api.models import MakerNonce, Order, Trade
from api.signing import Order as SignedOrder
from api.signing import Side, trade_id
from indexer.models import Uint256, sqlite_uint256

OPEN, FILLED, CANCELLED, EXPIRED = "OPEN", "FILLED", "CANCELLED", "EXPIRED"
MAX_PAYMENT_METHODS = 10
FIRST_CANDIDATES = 8  # resting orders a placement reads first; most orders need no more
VIEW_DEPTH = 16  # resting orders of each side of a book a group of placements reads at once (more: the database)
MAX_CANDIDATES = 512  # the most it reads
INT64_MAX = 2**63 - 1


_ORDERS = Order.__table__

# Placing an order is the API's hot path: it speaks to the database driver directly, with
# statements rendered once per dialect and rows as plain records with the tables' columns
# (SQLAlchemy's per-statement and per-object bookkeeping cost more than the database did).
ORDER_COLUMNS = tuple(column.name for column in _ORDERS.columns)
TRADE_COLUMNS = tuple(column.name for column in Trade.__table__.columns)
OrderRow = make_dataclass("OrderRow", ORDER_COLUMNS, slots=True)
OrderRow.__doc__ = "An `orders` row, as the placement path reads and writes it."
TradeRow = make_dataclass("TradeRow", TRADE_COLUMNS, slots=True)
TradeRow.__doc__ = "A `trades` row, as a fill writes it."
_SEQ = ORDER_COLUMNS.index("seq")


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
    order: OrderRow
    trades: list[TradeRow]


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
    db: Db,
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
    """Stores a verified signed order and matches it against the book by price-time priority,
    reading only as many resting orders as the match needs: a few first, more only if those
    run out. In a group (`db.view`), it reads what the group read at once, and the database
    only when its match could go past that."""
    now = int(time.time()) if now is None else now
    sql = db.sql
    row = OrderRow(
        seq=None, **_columns(signed), hash=order_hash, signature=signature, time_in_force=str(time_in_force),
        status=OPEN, remaining=signed.amount, fills=0, version=0, created_at=now,
    )
    view = db.view
    if view is not None:  # a group's placement: what it reads was read for the whole group
        _refuse_early(signed, order_hash, *view.checks(db, signed.maker, order_hash, max_open_orders), time_in_force,
                      max_open_orders)  # fmt: skip
        candidates, exhaustive = view.crossing(signed, now)
        result = _match(candidates, row, time_in_force, now)
        if result.remaining and not exhaustive:  # it could meet orders past those read
            view = None
    if view is None:
        candidates, result = _read_and_match(db, signed, row, time_in_force, now, max_open_orders)
    row.status = OPEN if result.rested else (FILLED if result.remaining == 0 else CANCELLED)
    row.remaining = result.remaining
    # Submitted meanwhile by another process (the check above read before it committed): the
    # request runs again and is refused then.
    db.write(sql.insert_order, sql.order_params(row), order_hash)
    by_hash = {candidate.hash: candidate for candidate in candidates}
    trades = []
    filled = []
    for fill in result.fills:
        resting = by_hash[fill.order_id]
        trades.append(_fill(db, market, resting, signed.maker, fill.amount, _shared_method(resting, signed),
                            lock_window, now))
        filled.append(resting)
        # A copy: the group's view goes on changing its own (the live update tells this state).
        changes.orders.append(replace(resting) if view is not None else resting)
    if db.view is not None:
        db.view.placed(row, filled)
    changes.orders.append(row)
    changes.trades.extend(trades)
    return Placed(row, trades)


@dataclass(frozen=True, slots=True)
class Placement:
    """A verified order to place, as write work (`work(db, changes)`, what `Platform.write_rows`
    and the grouped writer run); a group reads what its placements need at once (`GroupView`)."""

    market: Market
    signed: SignedOrder
    order_hash: str
    signature: str
    time_in_force: engine.TimeInForce
    lock_window: int
    max_open_orders: int

    def __call__(self, db: Db, changes: Changes) -> Placed:
        return place(
            db, self.market, self.signed, self.order_hash, self.signature, self.time_in_force, changes,
            lock_window=self.lock_window, max_open_orders=self.max_open_orders,
        )


def _read_and_match(
    db: Db, signed: SignedOrder, row: OrderRow, time_in_force: engine.TimeInForce, now: int, max_open_orders: int
) -> tuple[list[OrderRow], engine.MatchResult]:
    """Reads the maker's checks and the resting orders the order could meet, a few first and
    more only if those run out, and matches it against them."""
    sql = db.sql
    limit = FIRST_CANDIDATES
    while True:
        # The maker's nonce floor and open orders, whether this order is in already, and the
        # resting orders it could meet, best first, in one round trip (nulls after the first
        # three: none). Every refusal comes from here, before anything is written.
        found = db.read(sql.candidates[signed.side], (
            signed.maker, signed.maker, row.hash, signed.token, signed.fiat, signed.price, now, signed.maker, limit,
        )).fetchall()  # fmt: skip
        if limit == FIRST_CANDIDATES:
            floor, open_orders, submitted = found[0][:3]
            _refuse_early(signed, row.hash, floor, open_orders, submitted, time_in_force, max_open_orders)
        candidates = [sql.order(values[3:]) for values in found if values[3 + _SEQ] is not None]
        result = _match(candidates, row, time_in_force, now)
        if not result.remaining or len(candidates) < limit or limit >= MAX_CANDIDATES:
            return candidates, result
        limit = min(limit * 8, MAX_CANDIDATES)  # the first few ran out before the order did: look deeper


def _refuse_early(
    signed: SignedOrder, order_hash: str, floor, open_orders: int, submitted, time_in_force: engine.TimeInForce,
    max_open_orders: int,
) -> None:
    """The refusals that depend on what is stored: a copy, a cancelled nonce, too many open orders."""
    if submitted:
        raise Conflict(f"order {order_hash} was already submitted")
    if floor is not None and signed.nonce < int(floor):
        raise BadRequest(f"the order's nonce is below the maker's nonce floor {int(floor)}: it was cancelled")
    rests = time_in_force in (engine.TimeInForce.GTC, engine.TimeInForce.GTD)
    if rests and open_orders >= max_open_orders:
        raise Conflict(f"a maker may have at most {max_open_orders} open orders; cancel some first")


def _match(candidates: list[OrderRow], row: OrderRow, time_in_force: engine.TimeInForce, now: int) -> engine.MatchResult:
    book = engine.Book()
    try:
        for candidate in candidates:
            book.add(_book_order(candidate), now=now)
        return book.place(_book_order(row), time_in_force, now=now)
    except engine.EngineError as error:
        raise BadRequest(str(error)) from None


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
) -> TradeRow:
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
    trade = _fill(Db.of(session.connection()), market, row, taker, amount, payment_method, lock_window, now)
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
    db: Db, market: Market, row, taker: str, amount: int, payment_method: str, lock_window: int,
    now: int,
) -> TradeRow:
    """Takes `amount` from the order `row` (a model or an `OrderRow`) for `taker`: the order is
    rewritten (compare-and-set) and the trade stored."""
    fill_index = row.fills
    remaining = row.remaining - amount
    _write_order(db, row, remaining=remaining, fills=fill_index + 1, status=OPEN if remaining else FILLED)
    seller, buyer = (row.maker, taker) if row.side == Side.SELL else (taker, row.maker)
    token = market.tokens[row.token]
    trade = TradeRow(
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
        flag=None,
        lock_deadline=now + lock_window,
        deadline_passed=False,
        created_at=now,
        updated_at=now,
    )
    db.write(db.sql.insert_trade, db.sql.trade_params(trade))
    return trade


def set_order(session: Session, row: Order, **values) -> None:
    """Writes `values` (of remaining, fills, status) to the order if nobody changed it since it
    was read (else LostRace)."""
    _write_order(Db.of(session.connection()), row, **values)


def _write_order(db: Db, row, **values) -> None:
    for name, value in values.items():
        setattr(row, name, value)
    sql = db.sql
    db.write(sql.update_order, (sql.uint(row.remaining), row.fills, row.status, row.version + 1, row.hash, row.version),
             row.hash)  # fmt: skip
    row.version += 1


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


def _shared_method(resting, incoming: SignedOrder) -> str:
    """The first of the resting order's payment methods that the incoming order also offers."""
    offered = set(incoming.payment_methods)
    return next(method for method in json.loads(resting.payment_methods) if method in offered)


class _Statements:
    """The placement path's SQL in one dialect's parameter style, and its uint256 columns'
    encoding there (SQLite keeps them as 78-digit strings; PostgreSQL as NUMERIC)."""

    def __init__(self, dialect: str):
        self.postgres = postgres = dialect == "postgresql"
        self.mark = mark = "%s" if postgres else "?"
        columns = ", ".join(ORDER_COLUMNS)
        self.uint = (lambda value: value) if postgres else sqlite_uint256
        self.candidates = {
            incoming: f"SELECT (SELECT floor FROM maker_nonces WHERE maker = {mark}), "
            f"(SELECT count(*) FROM orders WHERE maker = {mark} AND status = '{OPEN}'), "
            f"(SELECT count(*) FROM orders WHERE hash = {mark}), resting.* "
            f"FROM (SELECT 1 AS one) AS always LEFT JOIN ("
            f"SELECT {columns} FROM orders WHERE token = {mark} AND fiat = {mark} AND side = {int(resting)} "
            f"AND status = '{OPEN}' AND price {crosses} {mark} AND expiry > {mark} AND maker <> {mark} "
            f"ORDER BY price {best}, seq ASC LIMIT {mark}) AS resting ON 1 = 1 "
            f"ORDER BY resting.price {best}, resting.seq ASC"
            for incoming, resting, crosses, best in ((Side.BUY, Side.SELL, "<=", "ASC"), (Side.SELL, Side.BUY, ">=", "DESC"))
        }  # fmt: skip
        # A group's reads (PostgreSQL): its makers' floors and open orders, which of its orders are
        # in already, and the best resting orders of each side of a book.
        self.group_makers = (  # the open orders of those makers the group does not know of lately
            "SELECT given.maker, (SELECT floor FROM maker_nonces WHERE maker = given.maker), CASE WHEN given.count "
            f"THEN (SELECT count(*) FROM orders WHERE maker = given.maker AND status = '{OPEN}') END "
            "FROM unnest(%s::VARCHAR(42)[], %s::BOOLEAN[]) AS given(maker, count)"
        )
        self.open_orders = f"SELECT count(*) FROM orders WHERE maker = %s AND status = '{OPEN}'"
        # (a join rather than `hash = ANY(...)`: while the table is small, a plan that scans it
        # compares every row with every hash)
        self.group_submitted = "SELECT hash FROM unnest(%s::VARCHAR(66)[]) AS given(hash) JOIN orders USING (hash)"
        self.book_side = {  # down to the furthest price an order of the group reaches
            side: f"SELECT {columns} FROM orders WHERE token = %s AND fiat = %s AND side = {int(side)} "
            f"AND status = '{OPEN}' AND price {crosses} %s AND expiry > %s ORDER BY price {best}, seq ASC LIMIT %s"
            for side, crosses, best in ((Side.SELL, "<=", "ASC"), (Side.BUY, ">=", "DESC"))
        }
        inserted = [column for column in ORDER_COLUMNS if column != "seq"]  # the database numbers it
        self.insert_order = (
            f"INSERT INTO orders ({', '.join(inserted)}) VALUES ({', '.join([mark] * len(inserted))}) "
            "ON CONFLICT (hash) DO NOTHING"
        )
        self.update_order = (
            f"UPDATE orders SET remaining = {mark}, fills = {mark}, status = {mark}, version = {mark} "
            f"WHERE hash = {mark} AND version = {mark}"
        )
        self.insert_trade = f"INSERT INTO trades ({', '.join(TRADE_COLUMNS)}) VALUES ({', '.join([mark] * len(TRADE_COLUMNS))})"
        # A group's writes (PostgreSQL), a statement per kind: each column's values as an array.
        # The order: the group's new orders before the fills that rewrite them, trades last.
        self.batched = {
            self.insert_order: f"INSERT INTO orders ({', '.join(inserted)}) SELECT * FROM unnest("
            f"{_array_params(_ORDERS, inserted)}) ON CONFLICT (hash) DO NOTHING RETURNING hash",
            self.update_order: "UPDATE orders SET remaining = v.remaining, fills = v.fills, status = v.status, "
            "version = v.new_version FROM unnest("
            f"{_array_params(_ORDERS, ('remaining', 'fills', 'status', 'version', 'hash', 'version'))}) "
            "AS v(remaining, fills, status, new_version, hash, version) "
            "WHERE orders.hash = v.hash AND orders.version = v.version RETURNING orders.hash",
            self.insert_trade: f"INSERT INTO trades ({', '.join(TRADE_COLUMNS)}) SELECT * FROM unnest("
            f"{_array_params(Trade.__table__, TRADE_COLUMNS)})",
        } if postgres else {}  # fmt: skip
        self._order_uints = [i for i, column in enumerate(_ORDERS.columns) if isinstance(column.type, Uint256)]
        self._trade_uints = [i for i, column in enumerate(Trade.__table__.columns) if isinstance(column.type, Uint256)]

    def order(self, values) -> OrderRow:
        """An `orders` row as the driver returned it."""
        values = list(values)
        for position in self._order_uints:
            values[position] = int(values[position])
        return OrderRow(*values)

    def order_params(self, row: OrderRow) -> tuple:
        """The insert's parameters: every column but seq."""
        values = self._params(row, ORDER_COLUMNS, self._order_uints)
        return values[:_SEQ] + values[_SEQ + 1 :]

    def trade_params(self, row: TradeRow) -> tuple:
        return self._params(row, TRADE_COLUMNS, self._trade_uints)

    def _params(self, row, columns: tuple[str, ...], uints: list[int]) -> tuple:
        values = [getattr(row, column) for column in columns]
        for position in uints:
            values[position] = self.uint(values[position])
        return tuple(values)


def _array_params(table, columns) -> str:
    """`%s::<type>[]` for each of `columns`: one array parameter per column (PostgreSQL)."""
    dialect = postgresql.dialect()
    return ", ".join(f"%s::{table.columns[name].type.compile(dialect=dialect)}[]" for name in columns)


@cache
def statements(dialect: str) -> _Statements:
    """The placement path's statements for a dialect ("sqlite", "postgresql")."""
    return _Statements(dialect)


@dataclass(frozen=True, slots=True)
class Db:
    """A write transaction as the hot path speaks to it: the driver's own connection (sqlite3 or
    psycopg, in the transaction) and the statements in its dialect.

    A write that must change exactly one row (a compare-and-set, an insert that a duplicate
    would skip) names that row, and is checked. Alone, a write runs at once. In a group
    (`batch`, PostgreSQL's grouped writer, in psycopg's pipeline), writes queue by statement
    and go out as one statement per kind when the group is done or reads (`flush`), and are
    checked once their results came back (`settle`): a group of placements costs a few
    statements rather than a few per placement, and so a few waits on the connection (each
    wait hands this process's GIL to its other threads and waits to get it back)."""

    driver: Any
    sql: _Statements
    batch: dict[str, list] | None = None
    view: GroupView | None = None
    _sent: list = field(default_factory=list)  # (cursor, rows it must change) of flushed statements

    @classmethod
    def of(cls, connection: Connection) -> Db:
        """The transaction a SQLAlchemy connection is in."""
        return cls(connection.connection.driver_connection, statements(connection.dialect.name))

    def write(self, statement: str, params: tuple, changes: str | None = None) -> None:
        """Writes; `changes` names the row (an order's hash) it must change, or the request lost
        a race for it (LostRace)."""
        if self.batch is not None:
            self.batch.setdefault(statement, []).append((params, changes))
            return
        if self.driver.execute(statement, params).rowcount != 1 and changes is not None:
            raise LostRace(f"order {changes} changed while this request used it; try again")

    def read(self, statement: str, params: tuple):
        """A cursor with the rows `statement` reads, after the group's writes so far."""
        self.flush()
        return self.driver.execute(statement, params)

    def flush(self) -> None:
        """Sends the group's queued writes, one statement per kind, in `sql.batched`'s order."""
        if not self.batch:
            return
        for statement, batched in self.sql.batched.items():
            queued = self.batch.pop(statement, None)
            if not queued:
                continue
            if statement == self.sql.update_order:  # an order filled twice: once, first version to last
                merged: dict[str, tuple] = {}
                for params, _hash in queued:
                    first = merged.get(params[4])
                    merged[params[4]] = params if first is None else params[:5] + first[5:]
                rows = list(merged.values())
            else:
                rows = [params for params, _changes in queued]
            cursor = self.driver.cursor()
            # The update is not prepared: a generic plan made while the table was small would
            # scan it whole ever after; planned each time, it follows the table's size. The
            # inserts read no table: prepared, they are parsed and planned once.
            cursor.execute(batched, [list(column) for column in zip(*rows)], prepare=statement != self.sql.update_order)
            self._sent.append((cursor, {changes for _params, changes in queued if changes is not None}))
        assert not self.batch, f"no batched form for {list(self.batch)}"

    def settle(self) -> None:
        """Checks the flushed writes (their results have come back): each changed the rows it named."""
        sent, self._sent[:] = list(self._sent), []
        for cursor, named in sent:
            if named:
                missed = named - {changed for (changed,) in cursor.fetchall()}
                if missed:
                    raise LostRace(f"order {min(missed)} changed while this request used it; try again")


class GroupView:
    """What a group of placements reads (PostgreSQL's grouped writer), read for the whole group
    in one round trip: its makers' nonce floors and open orders, which of its orders are in
    already, and the best `VIEW_DEPTH` resting orders its orders could meet, book by book.
    Each placement's writes are applied to it as the group goes, so it tells each placement
    what reading the database would. A side that had more orders than were read is certain only
    down to its last one read: an order whose match could go further reads the database
    (`crossing` says so). Another request's take or cancel meanwhile is caught as now, by the
    compare-and-set on the resting order's version, which runs the group again."""

    def __init__(self, db: Db, placements: list[Placement], now: int, known: OpenOrders | None = None):
        sql, driver = db.sql, db.driver
        orders = [placement.signed for placement in placements]
        hashes = [placement.order_hash for placement in placements]
        makers = sorted({order.maker for order in orders})
        self._known = known if known is not None else OpenOrders()
        # maker -> (open orders, when counted)
        remembered = self._known.recent(makers, min(placement.max_open_orders for placement in placements))
        # All sent before any is fetched: one round trip through the pipeline. Not prepared: a
        # prepared statement's generic plan knows neither the arrays nor the price bound, and
        # read the book more slowly than a plan for the values (measured: 800 -> 1,000/s).
        pending = [
            driver.execute(sql.group_makers, (makers, [maker not in remembered for maker in makers]), prepare=False),
            driver.execute(sql.group_submitted, (hashes,), prepare=False),
        ]
        # The resting side an order meets is read down to the furthest price the group's orders
        # reach into it; nothing past that can cross any of them. A side no order meets is not read.
        reach: dict[tuple, int] = {}
        for order in orders:
            resting = (order.token, order.fiat, _resting_side(order.side))
            further = max if resting[2] == Side.SELL else min
            reach[resting] = further(reach.get(resting, order.price), order.price)
        for (token, fiat, side), bound in reach.items():
            pending.append(driver.execute(sql.book_side[side], (token, fiat, bound, now, VIEW_DEPTH), prepare=False))
        checks, submitted, *read = (cursor.fetchall() for cursor in pending)
        self._floors = {maker: floor for maker, floor, _count in checks if floor is not None}
        counted_at = time.monotonic()
        self._counted = {maker: counted_at for maker, _floor, count in checks if count is not None}
        self._counted.update((maker, at) for maker, (_count, at) in remembered.items())
        self._open = Counter({maker: count for maker, _floor, count in checks if count is not None})
        self._open.update({maker: count for maker, (count, _at) in remembered.items()})
        self._exact = set(makers) - set(remembered)  # counted by this group (else: remembered)
        self._submitted = {order_hash for (order_hash,) in submitted}
        self._sides = {(o.token, o.fiat, side): _ViewSide(side, [], complete=True) for o in orders for side in Side}
        self._orders: dict[str, OrderRow] = {}
        for key, rows in zip(reach, read, strict=True):
            rows = [sql.order(values) for values in rows]
            self._sides[key] = _ViewSide(key[2], rows, complete=len(rows) < VIEW_DEPTH)
            self._orders.update((row.hash, row) for row in rows)
        self._next_seq = 2**62  # the group's own orders come after every stored one, in order

    def checks(self, db: Db, maker: str, order_hash: str, max_open_orders: int) -> tuple:
        """(nonce floor, open orders, already submitted) of a placement, as `candidates` reads
        them. A remembered count that would refuse the order is counted again first."""
        if self._open[maker] >= max_open_orders and maker not in self._exact:
            (self._open[maker],) = db.read(db.sql.open_orders, (maker,)).fetchone()  # after the group's writes
            self._exact.add(maker)
            self._counted[maker] = time.monotonic()
        return self._floors.get(maker), self._open[maker], order_hash in self._submitted

    def committed(self) -> None:
        """The group committed: its makers' open orders are remembered for the next groups."""
        self._known.remember({maker: (self._open[maker], at) for maker, at in self._counted.items()})

    def crossing(self, signed: SignedOrder, now: int) -> tuple[list[OrderRow], bool]:
        """The resting orders `signed` could meet, best first, and whether they are all there are
        (else only those down to the last one read, and the match may need more)."""
        return self._sides[signed.token, signed.fiat, _resting_side(signed.side)].crossing(signed, now)

    def placed(self, row: OrderRow, filled: list[OrderRow]) -> None:
        """Applies a placement's writes: the resting orders it filled (in their new state) and
        the order itself, in the book if it rests."""
        for resting in filled:
            own = self._orders.get(resting.hash)
            if own is not None and own is not resting:  # read from the database: the view's copy follows
                own.remaining, own.fills, own.status, own.version = (
                    resting.remaining, resting.fills, resting.status, resting.version)  # fmt: skip
            if resting.status != OPEN:
                self._open[resting.maker] -= 1
        self._submitted.add(row.hash)
        if row.status == OPEN:
            self._open[row.maker] += 1
            own = replace(row, seq=self._next_seq)
            self._next_seq += 1
            self._orders[own.hash] = own
            self._sides[row.token, row.fiat, Side(row.side)].add(own)


class OpenOrders:
    """The makers' open orders a grouped writer counted lately, so that a maker placing order
    after order is not counted for each group (counting reads every open order of the maker).

    A count is used for `ttl` seconds after it was read, with the writer's own changes applied.
    Other writers' changes meanwhile are unseen: takes, cancels and expiries (fewer open orders)
    and reopened orders and other API processes (more). So a count that would refuse an order
    is read again before it does, and a count within `slack` of the limit is not remembered:
    a maker can pass the limit only by more than `slack` orders opened elsewhere within `ttl`."""

    def __init__(self, ttl: float = 2.0, slack: int = 16):
        self.ttl, self.slack = ttl, slack
        self._counts: dict[str, tuple[int, float]] = {}

    def recent(self, makers: list[str], max_open_orders: int) -> dict[str, tuple[int, float]]:
        """(open orders, when counted) of those of `makers` counted within `ttl` and more than
        `slack` below `max_open_orders`."""
        fresh_after = time.monotonic() - self.ttl
        return {
            maker: known for maker in makers
            if (known := self._counts.get(maker)) is not None and known[1] > fresh_after
            and known[0] < max_open_orders - self.slack
        }  # fmt: skip

    def remember(self, counts: dict[str, tuple[int, float]]) -> None:
        if len(self._counts) > 100_000:
            self._counts.clear()
        self._counts.update(counts)


def _resting_side(incoming: Side) -> Side:
    """The side of the book an incoming order meets."""
    return Side.SELL if incoming == Side.BUY else Side.BUY


class _ViewSide:
    """One side of a book as a group sees it: open orders best first (price, then seq)."""

    def __init__(self, side: Side, rows: list[OrderRow], complete: bool):
        self._sells = side == Side.SELL  # sells: the lowest price first
        self._rows = rows
        self._keys = [self._key(row) for row in rows]
        # Incomplete: orders past the last one read may exist in the database.
        self._boundary = None if complete else self._keys[-1]

    def _key(self, row: OrderRow) -> tuple[int, int]:
        return (row.price if self._sells else -row.price, row.seq)

    def add(self, row: OrderRow) -> None:
        key = self._key(row)
        position = bisect.bisect(self._keys, key)
        self._keys.insert(position, key)
        self._rows.insert(position, row)

    def crossing(self, signed: SignedOrder, now: int) -> tuple[list[OrderRow], bool]:
        limit = signed.price if self._sells else -signed.price  # crosses while key price <= limit
        boundary = self._boundary
        exhaustive = boundary is None or boundary[0] > limit
        candidates = []
        for key, row in zip(self._keys, self._rows):
            if key[0] > limit or (not exhaustive and key > boundary):
                break
            if row.status == OPEN and row.expiry > now and row.maker != signed.maker:
                candidates.append(row)
        return candidates, exhaustive
