"""What operators rely on, in one process: /health's verdicts, /metrics' content, rate limits
(429 with a sentence and Retry-After, per IP and per address, off when switched off), the
indexer running inside the API, and JSON log lines. Two processes: tests/api/test_replicas.py."""

import asyncio
import io
import json
import logging
import time
import uuid

import pytest
import redis
from fastapi.testclient import TestClient

from api.app import build_platform, create_app
from api.ratelimit import MemoryCounters, Rate, RedisCounters
from indexer.logs import JsonFormatter
from tests.indexer.world import Activity
from tests.observe import parse_metrics, wait_for
from tests.api.conftest import bearer, make_order, order_body, sign_in, siwe_message

UNIT = 10**6
REDIS_URL = "redis://127.0.0.1:6379/0"


def samples(client) -> dict[tuple, float]:
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return parse_metrics(response.text)


@pytest.fixture
def limited(settings):
    """Settings with low rate limits."""
    return settings.model_copy(update={
        "rate_limits": True, "login_rate_per_ip": Rate(3, 60), "login_rate_per_address": Rate(2, 60),
        "order_rate_per_ip": Rate(100, 60), "order_rate_per_address": Rate(2, 60),
    })  # fmt: skip


# --- /health ------------------------------------------------------------------------------------------


def test_health__indexed_to_the_head__200_every_check_ok(client, indexer, chain):
    indexer.sync()
    health = client.get("/health")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "ok" and body["checks"] == {"database": "ok", "rpc": "ok", "indexer": "ok"}
    assert body["head_block"] == body["indexed_block"] == chain.block_number() and body["lag_blocks"] == 0


def test_health__indexer_behind_more_than_allowed__503_says_how_far(settings, indexer, chain):
    indexer.sync()
    chain.mine(3)
    platform = build_platform(settings.model_copy(update={"health_max_lag": 2}))
    with TestClient(create_app(platform=platform, run_jobs=False)) as client:
        health = client.get("/health")
    assert health.status_code == 503
    assert health.json()["checks"]["indexer"] == "3 blocks behind the chain's head (more than 2)"
    assert health.json()["status"] == "unavailable"
    platform.engine.dispose()


def test_health__rpc_down__503_names_the_rpc(settings, indexer):
    indexer.sync()
    dead = settings.model_copy(update={"rpc_url": "http://127.0.0.1:9", "chain_id": 31337})
    platform = build_platform(dead)
    with TestClient(create_app(platform=platform, run_jobs=False)) as client:
        health = client.get("/health")
    assert health.status_code == 503
    checks = health.json()["checks"]
    assert checks["database"] == "ok" and checks["rpc"].startswith("the chain's RPC does not answer")
    assert checks["indexer"] == "unknown: the chain's head is unknown"
    platform.engine.dispose()


# --- /metrics -----------------------------------------------------------------------------------------


def test_metrics__requests_by_route_template_and_status__latencies__platform_state(client, platform, indexer,
                                                                                 traders, world, chain):
    indexer.sync()
    seller, buyer = bearer(sign_in(client, traders[0])), bearer(sign_in(client, traders[1]))
    order = make_order(traders[0], world.tokens[1])
    placed = client.post("/orders", json=order_body(order, traders[0], platform), headers=seller).json()["order"]
    client.get(f"/orders/{placed['hash']}")
    client.get(f"/orders/0x{'ab' * 32}")  # 404, same route
    client.get("/no-such-thing")
    client.post(f"/orders/{placed['hash']}/take", json={"amount": str(10 * UNIT)}, headers=buyer)

    metrics = samples(client)
    requests = "orrange_http_requests_total"
    assert metrics[(requests, ("method", "POST"), ("route", "/orders"), ("status", "201"))] == 1
    assert metrics[(requests, ("method", "GET"), ("route", "/orders/{order_hash}"), ("status", "200"))] == 1
    assert metrics[(requests, ("method", "GET"), ("route", "/orders/{order_hash}"), ("status", "404"))] == 1
    assert metrics[(requests, ("method", "GET"), ("route", "unmatched"), ("status", "404"))] == 1
    latency = "orrange_http_request_duration_seconds"
    assert metrics[(latency + "_count", ("method", "POST"), ("route", "/orders"))] == 1
    assert metrics[(latency + "_bucket", ("le", "+Inf"), ("method", "POST"), ("route", "/orders"))] == 1
    assert metrics[(latency + "_sum", ("method", "POST"), ("route", "/orders"))] > 0
    chain_id = ("chain_id", "31337")
    assert metrics[("orrange_indexer_lag_blocks", chain_id)] == 0
    assert metrics[("orrange_chain_head_block", chain_id)] == chain.block_number()
    assert ("orrange_indexer_checkpoint_age_seconds", chain_id) in metrics
    assert metrics[("orrange_open_trades", ("status", "AWAITING_LOCK"))] == 1
    assert metrics[("orrange_open_trades", ("status", "LOCKED"))] == 0
    relayer = platform.gateway.relayer.address
    balance = int(chain.rpc("eth_getBalance", [relayer, "latest"]), 16)
    assert metrics[("orrange_relayer_balance_wei", ("address", relayer))] == balance > 0
    assert ("process_resident_memory_bytes",) in metrics


def test_indexer_in_api__indexes_reports_its_throughput_and_goes_healthy(settings, world):
    Activity(world, seed=41).run(lifecycles=5)
    platform = build_platform(settings.model_copy(update={"indexer_in_api": True}))
    with TestClient(create_app(platform=platform, run_jobs=False)) as client:
        wait_for(lambda: client.get("/health").status_code == 200, "indexing to the head")
        metrics = samples(client)
    chain_id = ("chain_id", "31337")
    assert metrics[("orrange_indexer_active", chain_id)] == 1
    assert metrics[("orrange_indexer_events_total", chain_id)] >= 5  # a lock at least per lifecycle
    assert metrics[("orrange_indexer_indexed_block", chain_id)] == metrics[("orrange_indexer_head_block", chain_id)]
    platform.engine.dispose()


# --- rate limits --------------------------------------------------------------------------------------


def test_rate_limit__login_per_ip__429_with_a_sentence_and_retry_after(limited, traders):
    platform = build_platform(limited)
    with TestClient(create_app(platform=platform, run_jobs=False)) as client:
        sign_in(client, traders[0])  # a nonce and a login: 2 of the IP's 3
        assert client.post("/auth/nonce").status_code == 200
        refused = client.post("/auth/nonce")
        assert refused.status_code == 429
        retry_after = int(refused.headers["Retry-After"])
        assert 1 <= retry_after <= 60
        assert refused.json()["detail"] == (f"too many login requests from testclient: at most 3 a minute; "
                                            f"try again in {retry_after} s")
    platform.engine.dispose()


def test_rate_limit__login_per_address__others_still_log_in(limited, traders):
    limited = limited.model_copy(update={"login_rate_per_ip": Rate(100, 60)})
    platform = build_platform(limited)
    with TestClient(create_app(platform=platform, run_jobs=False)) as client:
        sign_in(client, traders[0])
        sign_in(client, traders[0])
        nonce = client.post("/auth/nonce").json()["nonce"]
        refused = client.post("/auth/login", json={"message": siwe_message(traders[0].address, nonce),
                                                   "signature": "0x" + "00" * 65})
        assert refused.status_code == 429 and f"too many logins of {traders[0].address}" in refused.json()["detail"]
        sign_in(client, traders[1])
    platform.engine.dispose()


def test_rate_limit__orders_per_address__placing_and_taking_count__refused_changes_nothing(limited, traders, world):
    platform = build_platform(limited.model_copy(update={"login_rate_per_ip": Rate(100, 60)}))
    token = world.tokens[1]
    with TestClient(create_app(platform=platform, run_jobs=False)) as client:
        seller, buyer = bearer(sign_in(client, traders[0])), bearer(sign_in(client, traders[1]))
        first = make_order(traders[0], token, nonce=1)
        placed = client.post("/orders", json=order_body(first, traders[0], platform), headers=seller).json()["order"]
        assert client.post(f"/orders/{placed['hash']}/take", json={"amount": str(10 * UNIT)}, headers=buyer).status_code == 201
        assert client.post("/orders", json=order_body(make_order(traders[0], token, nonce=2), traders[0], platform),
                           headers=seller).status_code == 201
        refused = client.post("/orders", json=order_body(make_order(traders[0], token, nonce=3), traders[0], platform),
                              headers=seller)
        assert refused.status_code == 429 and refused.headers["Retry-After"]
        assert refused.json()["detail"].startswith(f"too many orders by {traders[0].address}: at most 2 a minute")
        assert len(client.get("/orders", params={"maker": traders[0].address}).json()["orders"]) == 2
        assert client.post(f"/orders/{placed['hash']}/take", json={"amount": str(10 * UNIT)},
                           headers=buyer).status_code == 201  # the buyer's second
    platform.engine.dispose()


def test_rate_limit__switched_off__never_refuses(limited, traders):
    platform = build_platform(limited.model_copy(update={"rate_limits": False}))
    with TestClient(create_app(platform=platform, run_jobs=False)) as client:
        assert all(client.post("/auth/nonce").status_code == 200 for _ in range(10))
    platform.engine.dispose()


def test_memory_counters__window_ends__counts_again():
    counters = MemoryCounters()
    one_a_second = [("key", Rate(1, 1))]
    assert counters.hit(one_a_second) is None
    position, wait = counters.hit(one_a_second)
    assert position == 0 and 0 < wait <= 1
    time.sleep(wait)
    assert counters.hit(one_a_second) is None


def test_memory_counters__refused_request__counts_against_no_key():
    counters = MemoryCounters()
    assert counters.hit([("ip", Rate(5, 60)), ("address", Rate(1, 60))]) is None
    assert counters.hit([("ip", Rate(5, 60)), ("address", Rate(1, 60))])[0] == 1
    for _ in range(4):  # the refused request above did not use up one of the IP's five
        assert counters.hit([("ip", Rate(5, 60))]) is None


def test_redis_counters__shared_by_two_clients__refusal_names_the_key_at_its_rate():
    prefix = f"orrange-test-{uuid.uuid4().hex[:8]}:"
    first, second = RedisCounters(REDIS_URL), RedisCounters(REDIS_URL)  # two processes' worth
    checks = [(prefix + "ip", Rate(10, 60)), (prefix + "address", Rate(2, 60))]
    try:
        assert first.hit(checks) is None
        assert asyncio.run(second.hit_async(checks)) is None
        position, wait = first.hit(checks)
        assert position == 1 and 59 < wait <= 60
        assert int(redis.Redis.from_url(REDIS_URL).get(prefix + "ip")) == 2  # the refused one is not counted
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        client.delete(prefix + "ip", prefix + "address")


def test_redis_counters__redis_down__let_through_with_a_warning(caplog):
    counters = RedisCounters("redis://127.0.0.1:9/0")
    with caplog.at_level(logging.WARNING, logger="api.ratelimit"):
        assert counters.hit([("key", Rate(1, 60))]) is None
        assert asyncio.run(counters.hit_async([("key", Rate(1, 60))])) is None
    assert caplog.text.count("rate limits are off while Redis does not answer") == 1  # once a minute at most


@pytest.mark.parametrize("text", ["30", "30/fortnight", "0/minute", "-1/second", "x/minute"])
def test_rate__malformed__says_the_format(text):
    with pytest.raises(ValueError, match="<count>/<second|minute|hour|day>"):
        Rate.parse(text)


def test_rate__round_trip():
    assert Rate.parse(" 30 / minute") == Rate(30, 60) and str(Rate(5, 3600)) == "5/hour"


# --- logs ---------------------------------------------------------------------------------------------


def test_json_logs__one_object_per_line_with_extra_fields_and_exception():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.json")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("served %s", "it", extra={"status": 201, "route": "/orders"})
        try:
            raise ValueError("line one\nline two")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["level"] == "WARNING" and first["logger"] == "tests.json" and first["message"] == "served it"
    assert (first["status"], first["route"]) == (201, "/orders") and first["time"].endswith("+00:00")
    assert second["message"] == "failed" and "ValueError: line one\nline two" in second["exception"]
