"""Scheduled jobs (apscheduler): trades follow their escrows as the indexer mirrors them,
unlocked trades and stale orders expire, escrows past their deadline are flagged, and the
webhook outbox is delivered. Each job is idempotent: running one twice, or on two replicas
at once, changes nothing more than running it once."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time

import requests
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import and_, update
from sqlmodel import Session, col, select

from api import lifecycle, trading
from api.lifecycle import Mirrored, Terms, TradeStatus
from api.models import Order, Trade, Webhook, WebhookDelivery
from api.trading import OPEN, Changes
from indexer.models import BlockRecord, Escrow, IndexerState

log = logging.getLogger(__name__)
_FOLLOWED = [str(status) for status in TradeStatus if not status.is_final]
_ENDED_OFF_CHAIN = [str(status) for status in lifecycle.OFF_CHAIN_ENDINGS]  # watched for a late lock
LATE_LOCK_WATCH = 7 * 86400  # how long an ended trade is still watched for a late lock
MAX_BACKOFF = 3600.0


def follow_escrows(platform) -> int:
    """Moves every open trade to what its escrow says now; returns how many changed."""
    market = platform.market
    now = int(time.time())

    def work(session: Session, changes: Changes) -> int:
        rows = session.exec(
            select(Trade, Escrow)
            .join(Escrow, _its_escrow(market), isouter=True)
            .where(col(Trade.status).in_(_FOLLOWED)
                   | (col(Trade.status).in_(_ENDED_OFF_CHAIN) & (Trade.flag == None)  # noqa: E711
                      & (Trade.updated_at > now - LATE_LOCK_WATCH)))
        ).all()
        chain_now = _indexed_time(session, platform) or now  # escrow deadlines are in the chain's time
        changed = 0
        for trade, escrow in rows:
            if trade.status in _ENDED_OFF_CHAIN and escrow is None:
                continue
            mirrored = None if escrow is None else Mirrored(escrow.status, escrow.seller, escrow.buyer, escrow.token,
                                                            escrow.amount)
            terms = Terms(trade.seller, trade.buyer, trade.token, trade.amount)
            outcome = lifecycle.follow_escrow(TradeStatus(trade.status), terms, mirrored)
            passed = bool(escrow is not None and outcome.status == TradeStatus.LOCKED and escrow.deadline <= chain_now)
            if (str(outcome.status), outcome.flag, passed) == (trade.status, trade.flag, trade.deadline_passed):
                continue
            if outcome.flag and outcome.flag != trade.flag:
                log.warning("trade %s flagged: %s", trade.trade_id, outcome.flag)
            trade.status, trade.flag, trade.deadline_passed = str(outcome.status), outcome.flag, passed
            trade.updated_at = now
            session.add(trade)
            changes.trades.append(trade)
            changed += 1
        return changed

    return platform.write(work)


def expire_trades(platform) -> int:
    """Trades the seller did not lock in time end; their amounts return to the orders. A trade
    expires only once the indexer has read the chain past its lock deadline, so a lock mined in
    time but not yet indexed is never lost to the race."""
    market = platform.market

    def work(session: Session, changes: Changes) -> int:
        indexed_time = _indexed_time(session, platform)
        if indexed_time is None:
            return 0
        due = session.exec(
            select(Trade)
            .join(Escrow, _its_escrow(market), isouter=True)
            .where(Trade.status == TradeStatus.AWAITING_LOCK, Trade.lock_deadline <= indexed_time,
                   Escrow.trade_id == None)  # noqa: E711
            .with_for_update(of=Trade)
        ).all()
        for trade in due:
            trading.end_trade(session, trade, lifecycle.expire(TradeStatus(trade.status)), changes)
        return len(due)

    return platform.write(work)


def expire_orders(platform) -> int:
    """Open orders past their expiry leave the book."""
    now = int(time.time())

    def work(session: Session, changes: Changes) -> int:
        stale = session.exec(
            select(Order).where(Order.status == OPEN, Order.expiry <= now).with_for_update()
        ).all()
        for row in stale:
            trading.set_order(session, row, status=trading.EXPIRED)
        changes.orders.extend(stale)
        return len(stale)

    return platform.write(work)


def deliver_webhooks(platform, batch: int = 100) -> int:
    """Sends due deliveries of the outbox; a failed one is retried later, with backoff."""
    settings = platform.settings
    now = time.time()
    with Session(platform.engine) as session:
        due = session.exec(
            select(WebhookDelivery, Webhook)
            .join(Webhook, Webhook.id == WebhookDelivery.webhook_id, isouter=True)
            .where(WebhookDelivery.delivered == False, WebhookDelivery.next_attempt_at <= now)  # noqa: E712
            .order_by(WebhookDelivery.id)
            .limit(batch)
        ).all()
    sent = 0
    for delivery, hook in due:
        error = "the webhook was deleted" if hook is None else _post(hook, delivery.payload, settings.webhook_timeout)
        attempts = delivery.attempts + 1
        done = error is None or hook is None or attempts >= settings.webhook_max_attempts
        values = {"attempts": attempts, "delivered": done, "last_error": error,
                  "next_attempt_at": time.time() + min(2.0 ** attempts, MAX_BACKOFF)}
        platform.write(lambda session, _: session.exec(
            update(WebhookDelivery).where(WebhookDelivery.id == delivery.id).values(**values)))
        sent += error is None
        if error is not None:
            log.info("webhook %s delivery %s failed (attempt %d): %s", delivery.webhook_id, delivery.id, attempts, error)
    return sent


def _its_escrow(market):
    """The join of a trade to the escrow the indexer mirrors under its id."""
    return and_(Escrow.chain_id == market.chain_id, Escrow.contract == market.escrow, Escrow.trade_id == Trade.trade_id)


def sign_webhook(secret: str, timestamp: str, body: str) -> str:
    """`sha256=<hex>`: HMAC-SHA256 of "<timestamp>.<body>", which a receiver recomputes to trust a delivery."""
    return "sha256=" + hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()


def _post(hook: Webhook, body: str, timeout: float) -> str | None:
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Orrange-Timestamp": timestamp,
        "X-Orrange-Signature": sign_webhook(hook.secret, timestamp, body),
        "X-Orrange-Event": json.loads(body)["event"],
    }
    try:
        response = requests.post(hook.url, data=body.encode(), headers=headers, timeout=timeout)
    except requests.RequestException as error:
        return f"{error.__class__.__name__}: {error}"[:500]
    return None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"


def _indexed_time(session: Session, platform) -> int | None:
    """The timestamp of the newest block the indexer has read completely (None: it has not run)."""
    chain_id = platform.market.chain_id
    state = session.get(IndexerState, chain_id)
    if state is None:
        return None
    block = session.get(BlockRecord, (chain_id, state.indexed_block))
    return block.timestamp if block is not None else platform.gateway.block_timestamp(state.indexed_block)


def start(platform) -> BackgroundScheduler:
    """Starts the jobs on a background scheduler (stop it with `.shutdown()`)."""
    interval = platform.settings.jobs_interval
    scheduler = BackgroundScheduler(job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30})
    for job, seconds in ((follow_escrows, interval), (expire_trades, interval), (deliver_webhooks, interval),
                         (expire_orders, 10 * interval)):
        scheduler.add_job(_logged(job, platform), "interval", seconds=seconds, id=job.__name__)
    scheduler.start()
    return scheduler


def _logged(job, platform):
    def run():
        try:
            job(platform)
        except Exception:  # a job must survive one bad run (the next one retries)
            log.exception("job %s failed", job.__name__)

    return run
