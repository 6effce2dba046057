"""What happens after a change: webhook deliveries written into the outbox in the change's
own transaction (so none is sent for a change that rolled back, and none is lost for one
that committed), and live updates published once it has committed."""

from __future__ import annotations

import json
import time
import uuid

from sqlmodel import Session, or_, select

from api.hub import Hub, book_channel, trades_channel
from api.models import Order, Trade, Webhook, WebhookDelivery
from api.schemas import OrderOut, TradeOut
from api.trading import OPEN, Changes

BOOK_DEPTH = 50


def trade_event(trade: Trade) -> dict:
    return {"type": "trade", "event": f"trade.{trade.status.lower()}", "trade": TradeOut.of(trade).model_dump(mode="json")}


def record_webhooks(session: Session, changes: Changes) -> None:
    """Queues one delivery per webhook of either party, for each changed trade. Call before commit."""
    if not changes.trades:
        return
    parties = {address for trade in changes.trades for address in (trade.seller, trade.buyer)}
    hooks = session.exec(select(Webhook).where(or_(*(Webhook.owner == party for party in parties)))).all()
    if not hooks:
        return
    now = time.time()
    for trade in changes.trades:
        for hook in hooks:
            if hook.owner in (trade.seller, trade.buyer):
                body = {"id": uuid.uuid4().hex, "created_at": int(now), **trade_event(trade)}
                session.add(WebhookDelivery(webhook_id=hook.id, payload=json.dumps(body), next_attempt_at=now))


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
        return [OrderOut.of(row).model_dump(mode="json") for row in session.exec(query)]

    return {"token": token, "fiat": fiat, "asks": side(1, Order.price.asc()), "bids": side(0, Order.price.desc())}


def publish(hub: Hub, changes: Changes) -> None:
    """Live updates of a committed change: each touched book gets its changed orders (a
    subscriber got the whole book when it subscribed, and applies these on top), and each
    trade goes to its two parties."""
    by_book: dict[tuple[str, str], list[dict]] = {}
    for order in changes.orders:
        channel = book_channel(order.token, order.fiat)
        if hub.wanted(channel):
            by_book.setdefault(channel, []).append(OrderOut.of(order).model_dump(mode="json"))
    for channel, orders in by_book.items():
        hub.publish(channel, {"type": "book_update", "orders": orders})
    for trade in changes.trades:
        event = trade_event(trade)
        for party in {trade.seller, trade.buyer}:
            hub.publish(trades_channel(party), event)
