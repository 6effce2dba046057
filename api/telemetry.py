"""What the API tells its operators: a log line and Prometheus metrics for every request (an
ASGI middleware), the platform's state at each scrape (the indexer's lag, open trades, the
relayer's balance), and the checks behind `/health`.

Each app has its own registry, so several apps in one process (tests) never mix their figures.
With several processes, each serves its own `/metrics`: scrape every process."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col, select

from api.lifecycle import TradeStatus
from api.models import Trade
from indexer.errors import RpcError
from indexer.metrics import process_registry
from indexer.models import IndexerState
from indexer.rpc import RpcClient

log = logging.getLogger(__name__)
access_log = logging.getLogger("api.access")

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
HEAD_CACHE_SECONDS = 1.0  # /health and /metrics ask the chain for its head at most this often
PROBE_TIMEOUT = 2.0
_OPEN_TRADE_STATUSES = [str(status) for status in TradeStatus if not status.is_final]


class ChainHead:
    """The chain's head block number, asked of the RPC at most once a second (a load balancer's
    health checks and a scraper must not load the node); a failure is remembered as long."""

    def __init__(self, rpc_url: str):
        self._rpc = RpcClient(rpc_url, timeout=PROBE_TIMEOUT, max_attempts=1)
        self._lock = threading.Lock()
        self._asked_at = float("-inf")
        self._answer: int | str = "not asked yet"

    def get(self) -> int | str:
        """The head block, or a sentence saying why the RPC did not give it."""
        with self._lock:
            if time.monotonic() - self._asked_at >= HEAD_CACHE_SECONDS:
                try:
                    self._answer = int(self._rpc.request("eth_blockNumber"), 16)
                except RpcError as fault:
                    self._answer = f"the chain's RPC does not answer: {fault}"
                self._asked_at = time.monotonic()
            return self._answer


@dataclass
class Health:
    ok: bool
    body: dict


def check_health(platform) -> Health:
    """Whether this process can serve: the database answers, the chain's RPC answers, and the
    indexer's checkpoint is at most `health_max_lag` blocks behind the chain's head."""
    chain_id = platform.market.chain_id
    checks: dict[str, str] = {}
    state = None
    try:
        with platform.read() as session:
            state = session.get(IndexerState, chain_id)
        checks["database"] = "ok"
    except SQLAlchemyError as error:
        checks["database"] = f"the database does not answer: {type(error).__name__}"
    head = platform.chain_head.get()
    checks["rpc"] = "ok" if isinstance(head, int) else head
    lag = None
    if checks["database"] != "ok":
        checks["indexer"] = "unknown: the database does not answer"
    elif state is None:
        checks["indexer"] = f"no indexer has indexed chain {chain_id} yet"
    elif isinstance(head, int):
        lag = max(0, head - state.indexed_block)
        limit = platform.settings.health_max_lag
        checks["indexer"] = "ok" if lag <= limit else f"{lag} blocks behind the chain's head (more than {limit})"
    else:
        checks["indexer"] = "unknown: the chain's head is unknown"
    ok = all(verdict == "ok" for verdict in checks.values())
    return Health(ok, {
        "status": "ok" if ok else "unavailable",
        "checks": checks,
        "chain_id": chain_id,
        "escrow": platform.market.escrow,
        "head_block": head if isinstance(head, int) else None,
        "indexed_block": state.indexed_block if state else None,
        "lag_blocks": lag,
        "indexer_seconds_ago": round(time.time() - state.updated_at, 1) if state else None,
    })  # fmt: skip


class StateCollector:
    """The platform's state, read when Prometheus scrapes (nothing is kept up to date between)."""

    def __init__(self, platform):
        self.platform = platform

    def collect(self):
        platform = self.platform
        chain = [str(platform.market.chain_id)]
        head = platform.chain_head.get()
        if isinstance(head, int):
            yield _gauge("orrange_chain_head_block", "the chain's head block, as its RPC says", chain, head)
        try:
            with platform.read() as session:
                state = session.get(IndexerState, platform.market.chain_id)
                open_trades = dict(session.exec(
                    select(Trade.status, func.count()).where(col(Trade.status).in_(_OPEN_TRADE_STATUSES))
                    .group_by(Trade.status)
                ).all())  # fmt: skip
        except SQLAlchemyError as error:
            log.warning("metrics: the database does not answer: %s", error)
            return
        if state is not None:
            if isinstance(head, int):
                yield _gauge("orrange_indexer_lag_blocks", "blocks between the chain's head and the indexer's checkpoint",
                             chain, max(0, head - state.indexed_block))  # fmt: skip
            yield _gauge("orrange_indexer_checkpoint_age_seconds", "seconds since an indexer last wrote a checkpoint",
                         chain, time.time() - state.updated_at)  # fmt: skip
        trades = GaugeMetricFamily("orrange_open_trades", "trades not yet ended, by status", labels=["status"])
        for status in _OPEN_TRADE_STATUSES:
            trades.add_metric([status], open_trades.get(status, 0))
        yield trades
        relayer = platform.gateway.relayer
        if relayer is not None:
            try:
                balance = int(platform.gateway.rpc.request("eth_getBalance", [relayer.address, "latest"]), 16)
            except RpcError as fault:
                log.warning("metrics: no relayer balance: %s", fault)
                return
            yield _gauge("orrange_relayer_balance_wei", "the relayer account's balance, which pays relays' gas",
                         [relayer.address], balance, label="address")  # fmt: skip


def _gauge(name: str, documentation: str, values: list[str], value: float, label: str = "chain_id"):
    gauge = GaugeMetricFamily(name, documentation, labels=[label])
    gauge.add_metric(values, value)
    return gauge


class Telemetry:
    """One app's metrics registry: the process's own (CPU, memory, GC), the requests', the
    platform's state, and any other collector (an indexer running in this process)."""

    def __init__(self, platform):
        self.registry = process_registry()
        self.requests = Counter("orrange_http_requests", "HTTP requests answered, by route and status",
                                ["method", "route", "status"], registry=self.registry)  # fmt: skip
        self.latency = Histogram("orrange_http_request_duration_seconds", "time to answer an HTTP request, by route",
                                 ["method", "route"], buckets=LATENCY_BUCKETS, registry=self.registry)  # fmt: skip
        self.registry.register(StateCollector(platform))


class RequestTelemetry:
    """ASGI middleware: counts and times each HTTP request by its route's template (so that
    `/orders/{order_hash}` is one series however many orders there are) and logs it."""

    def __init__(self, app, telemetry: Telemetry):
        self.app = app
        self.requests = telemetry.requests
        self.latency = telemetry.latency

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 500  # unless a response starts: an exception ended the request

        async def send_noting_status(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = route.path if route is not None else "unmatched"
            method = scope["method"]
            self.requests.labels(method, template, status).inc()
            self.latency.labels(method, template).observe(elapsed)
            if access_log.isEnabledFor(logging.INFO):
                client = scope.get("client")
                host = client[0] if client else None
                access_log.info(
                    "%s %s %d %.1f ms %s", method, scope["path"], status, elapsed * 1000, host,
                    extra={"method": method, "path": scope["path"], "route": template, "status": status,
                           "duration_ms": round(elapsed * 1000, 2), "client": host},
                )  # fmt: skip
