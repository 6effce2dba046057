"""The production shape: two `orrange serve` processes on one PostgreSQL database with Redis
between them, each running an indexer (one active, one on standby) and logging JSON. A WebSocket
client of one sees an order placed through the other; rate limits count across both; kill -9
the process whose indexer is active and the other's takes over."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
import redis
from websockets.sync.client import connect

from indexer.db import make_engine
from tests.anvil import free_port
from tests.api.conftest import DOMAIN, URI, bearer, make_order, order_body, sign_in
from tests.conftest import postgres_database
from tests.indexer.world import Activity, assert_mirrors_chain
from tests.observe import metric, wait_for

REDIS_URL = "redis://127.0.0.1:6379/0"
ACCESS_FIELDS = {"time", "level", "logger", "message", "method", "path", "route", "status", "duration_ms", "client"}


@dataclass
class Replica:
    url: str
    process: subprocess.Popen
    log: Path

    def metric(self, name: str) -> float:
        return metric(f"{self.url}/metrics", name)

    def log_lines(self) -> list[dict]:
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]


def start_replica(env: dict, log: Path) -> Replica:
    port = free_port()
    with open(log, "w") as stdout:
        process = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--port", str(port)], env=env,
                                   stdout=stdout, stderr=subprocess.PIPE)
    return Replica(f"http://127.0.0.1:{port}", process, log)


@pytest.fixture(scope="module")
def orders_domain(world):
    """What `order_body` needs to sign an order: the chain and the escrow (a platform's market)."""
    return SimpleNamespace(market=SimpleNamespace(chain_id=world.deployment.chain_id, escrow=world.escrow))


@pytest.fixture(scope="module")
def database():
    with postgres_database() as url:
        yield url


@pytest.fixture(scope="module")
def prefix():
    prefix = f"orrange-test-{uuid.uuid4().hex[:8]}:"  # test runs sharing this Redis never meet
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)


@pytest.fixture(scope="module")
def replicas(chain, world, database, prefix, tmp_path_factory):
    env = {
        **os.environ,
        "ORRANGE_DATABASE_URL": database, "ORRANGE_RPC_URL": chain.url, "ORRANGE_WS_URL": "off",
        "ORRANGE_DEPLOYMENTS_DIR": str(world.deployment_dir), "ORRANGE_SIWE_DOMAIN": DOMAIN, "ORRANGE_SIWE_URI": URI,
        "ORRANGE_JWT_SECRET": "replica-secret-replica-secret-replica", "ORRANGE_REDIS_URL": REDIS_URL,
        "ORRANGE_REDIS_PREFIX": prefix, "ORRANGE_LOG_FORMAT": "json", "ORRANGE_INDEXER_IN_API": "true",
        "ORRANGE_STANDBY_INTERVAL": "0.2", "ORRANGE_POLL_INTERVAL": "0.05", "ORRANGE_CONFIRMATIONS": "0",
        "ORRANGE_REORG_DEPTH": "64", "ORRANGE_ORDER_RATE_PER_ADDRESS": "3/minute",
    }  # fmt: skip
    logs = tmp_path_factory.mktemp("replicas")
    started = [start_replica(env, logs / f"{name}.jsonl") for name in ("a", "b")]
    try:
        for replica in started:
            wait_for(lambda: httpx.get(f"{replica.url}/health", timeout=5).status_code == 200, "a healthy replica", seconds=120)
        yield started
    finally:
        for replica in started:
            if replica.process.poll() is None:
                replica.process.send_signal(signal.SIGTERM)
                replica.process.wait(timeout=30)


def test_replicas__one_indexer_is_active_the_other_stands_by(replicas):
    assert sorted(replica.metric("orrange_indexer_active") for replica in replicas) == [0, 1]


def test_replicas__websocket_client_of_one_sees_an_order_placed_through_the_other(replicas, traders, world,
                                                                                 orders_domain):
    watcher, trader = replicas
    token = world.tokens[1]
    with httpx.Client(base_url=trader.url) as client, connect(watcher.url.replace("http", "ws") + "/ws") as socket:
        socket.send(json.dumps({"op": "subscribe", "book": {"token": token, "fiat": "EUR"}}))
        assert json.loads(socket.recv(timeout=10))["type"] == "subscribed"
        assert json.loads(socket.recv(timeout=10))["type"] == "book"
        headers = bearer(sign_in(client, traders[0]))
        placed = client.post("/orders", json=order_body(make_order(traders[0], token), traders[0], orders_domain),
                             headers=headers)
        assert placed.status_code == 201, placed.text
        update = json.loads(socket.recv(timeout=10))
    assert update["type"] == "book_update" and [order["hash"] for order in update["orders"]] == [placed.json()["order"]["hash"]]


def test_replicas__order_rate_per_address_counts_across_both(replicas, traders, world, orders_domain):
    token = world.tokens[1]
    clients = [httpx.Client(base_url=replica.url) for replica in replicas]
    headers = bearer(sign_in(clients[0], traders[2]))
    statuses = []
    for nonce, client in enumerate([clients[0], clients[1], clients[0], clients[1]]):
        body = order_body(make_order(traders[2], token, nonce=nonce), traders[2], orders_domain)
        response = client.post("/orders", json=body, headers=headers)
        statuses.append(response.status_code)
    assert statuses == [201, 201, 201, 429]  # 3 a minute, wherever they were placed
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert response.json()["detail"].startswith(f"too many orders by {traders[2].address}: at most 3 a minute")
    for client in clients:
        client.close()


def test_replicas__log_json_lines_with_request_fields(replicas):
    for replica in replicas:
        lines = replica.log_lines()  # each line parses, or this fails
        assert lines and all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
    access = [line for replica in replicas for line in replica.log_lines() if line["logger"] == "api.access"]
    placed = [line for line in access if (line["method"], line["route"]) == ("POST", "/orders")]
    assert placed and all(ACCESS_FIELDS <= line.keys() and line["client"] == "127.0.0.1" for line in placed)
    assert {line["status"] for line in placed} == {201, 429}


def test_replicas__active_indexer_killed__the_other_takes_over_and_the_database_equals_the_chain(
    replicas, world, database
):
    [active] = [replica for replica in replicas if replica.metric("orrange_indexer_active") == 1]
    [standby] = [replica for replica in replicas if replica is not active]
    active.process.send_signal(signal.SIGKILL)
    active.process.wait()
    Activity(world, seed=77).run(lifecycles=15)
    head = world.chain.block_number()
    wait_for(lambda: standby.metric("orrange_indexer_active") == 1, "the standby taking over")
    wait_for(lambda: httpx.get(f"{standby.url}/health", timeout=5).json()["indexed_block"] >= head, "catching up")
    engine = make_engine(database)
    try:
        assert_mirrors_chain(engine, world)
    finally:
        engine.dispose()
    assert any("this process is its active indexer" in line["message"] for line in standby.log_lines())
