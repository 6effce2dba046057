"""What happens after a change: webhook deliveries written into the outbox in the change's
own transaction (so none is sent for a change that rolled back, and none is lost for one
that committed), and live updates published once it has committed."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

from sqlmodel import Session, select
from starlette.concurrency import run_in_threadpool

from api.hub import Hub, book_channel, trades_channel
from api.models import Order, Trade
from api.schemas import order_json, trade_json
from api.trading import OPEN, Changes, Db

BOOK_DEPTH = 50


def trade_event(trade: Trade) -> dict:
    return {"type": "trade", "event": f"trade.{trade.status.lower()}", "trade": trade_json(trade)}


def webhooks_of(db: Db, changes: Changes):
    """A cursor reading (id, owner) of the webhooks of the parties to `changes`' trades (sent, not
    yet fetched: in a pipeline, it travels with the statements around it)."""
    parties = sorted({address for trade in changes.trades for address in (trade.seller, trade.buyer)})
    marks = ", ".join([db.sql.mark] * len(parties))
    return db.driver.execute(f"SELECT id, owner FROM webhooks WHERE owner IN ({marks})", parties)


def record_webhooks(db: Db, changes: Changes, hooks: list | None = None) -> None:
    """Queues one delivery per webhook of either party, for each changed trade, in the change's
    own transaction. Call before commit; `hooks`: the parties' webhooks as `webhooks_of` reads
    them, if looked up already."""
    if not changes.trades:
        return
    hooks = webhooks_of(db, changes).fetchall() if hooks is None else hooks
    if not hooks:
        return
    now = time.time()
    deliveries = [
        (hook_id, json.dumps({"id": uuid.uuid4().hex, "created_at": int(now), **trade_event(trade)}), 0, now, False)
        for trade in changes.trades
        for hook_id, owner in hooks
        if owner in (trade.seller, trade.buyer)
    ]
    db.driver.cursor().executemany(
        "INSERT INTO webhook_deliveries (webhook_id, payload, attempts, next_attempt_at, delivered) "
        f"VALUES ({', '.join([db.sql.mark] * 5)})",
        deliveries,
    )


def book(session: Session, token: str, fiat: str, depth: int = BOOK_DEPTH, now: int | None = None) -> dict:
    """The open ads of a (token, fiat) book, best price first, then oldest."""
    now = int(time.time()) if now is None else now

    def side(value: int, best):
        query = (
            select(Order)
            .where(Order.token == token, Order.fiat == fiat, Order.side == value, Order.status == OPEN,
                   Order.expiry > now)
            .order_by(best, Order.seq.asc())
            .limit(depth)
        )
        return [order_json(row) for row in session.exec(query)]

    return {"token": token, "fiat": fiat, "asks": side(1, Order.price.asc()), "bids": side(0, Order.price.desc())}


def publish(hub: Hub, changes: Changes) -> None:
    """Live updates of a committed change: each touched book gets its changed orders, in the
    order they changed (a subscriber got the whole book when it subscribed, and applies these on
    top), and each trade goes to its two parties."""
    by_book: dict[str, list[dict]] = {}
    for order in changes.orders:
        channel = book_channel(order.token, order.fiat)
        if hub.wanted(channel):
            by_book.setdefault(channel, []).append(order_json(order))
    messages = [(channel, {"type": "book_update", "orders": orders}) for channel, orders in by_book.items()]
    for trade in changes.trades:
        event = trade_event(trade)
        messages += [(trades_channel(party), event) for party in {trade.seller, trade.buyer}]
    hub.publish_many(messages)


class BookCache:
    """Order books as JSON, for the book endpoint and WebSocket snapshots.

    An entry is fresh for `ttl` seconds; this process's own changes drop it at once (other
    replicas' changes show when it ages out). One load per book at a time: requests that find
    no entry wait for the load in flight, and an entry past its age is still served while one
    request's load replaces it, so an expiring book never sends every reader to the database.
    """

    def __init__(self, engine, ttl: float = 1.0, max_entries: int = 1024):
        self.engine, self.ttl, self.max_entries = engine, ttl, max_entries
        self._entries: dict[tuple, tuple[float, bytes]] = {}  # (token, fiat, depth) -> (fresh until, body)
        self._loads: dict[tuple, asyncio.Future] = {}

    async def get(self, token: str, fiat: str, depth: int) -> bytes:
        key = (token, fiat, depth)
        entry = self._entries.get(key)
        if entry is not None and entry[0] > time.monotonic():
            return entry[1]
        load = self._loads.get(key)
        if load is None:
            load = self._loads[key] = asyncio.ensure_future(self._load(key))
        if entry is not None:
            return entry[1]  # stale by less than a load: the load in flight replaces it
        return await asyncio.shield(load)

    def invalidate(self, books: set[tuple[str, str]]) -> None:
        """Drops the entries (and forgets loads in flight) of `books`; safe from any thread."""
        for key in [key for key in list(self._entries) if key[:2] in books]:
            self._entries.pop(key, None)
        for key in [key for key in list(self._loads) if key[:2] in books]:
            self._loads.pop(key, None)

    async def _load(self, key: tuple) -> bytes:
        try:
            body = await run_in_threadpool(self._read, key)
            if self._loads.get(key) is asyncio.current_task():  # not invalidated while it ran
                if len(self._entries) >= self.max_entries:
                    self._entries.clear()
                self._entries[key] = (time.monotonic() + self.ttl, body)
            return body
        finally:
            if self._loads.get(key) is asyncio.current_task():
                del self._loads[key]

    def _read(self, key: tuple) -> bytes:
        with Session(self.engine) as session:
            return json.dumps(book(session, *key), separators=(",", ":")).encode()
