"""HTTP and WebSocket load on the API, on SQLite and PostgreSQL.

    make bench            (or: python bench/api.py [--db sqlite,postgresql] [--seconds 10])

The API runs as it does in production (`uvicorn api.app:create_app --factory`, one process,
jobs off) against an escrow deployed on a fresh anvil; the load comes from one asyncio
process on the same machine, so both share its two cores: HTTP requests prepared as bytes
beforehand over keep-alive connections (bench/rawhttp.py, a tenth of a general client's cost
per request), WebSockets through aiohttp. Figures, per database:

- baseline: GET /market (a few constants, no database) as fast as 100 connections go: what
  this server and client manage at all, the yardstick for the rest (ratios survive a noisy
  machine);
- placement: signed orders (EIP-712, checked on arrival; a fifth of them cross the book and
  trade) offered at `--rate` per second, open loop, from 100 connections: achieved orders/s and
  latency percentiles, after 3 s at that rate that are shown but not counted (a new server's
  caches, prepared statements and table statistics fill in them); then as fast as the 100
  connections go (closed loop);
- book reads: GET /book from 1,000 open connections, each asking about once a second at random
  (open loop, about 1,000 reads/s), latency percentiles; then as fast as they go;
- WebSocket: `--subscribers` connections subscribed to one book; an order is placed and the
  time until each subscriber has its `book_update` is measured (three rounds).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import psycopg
import uvloop
from ape import project
from eth_account import Account
from eth_account.messages import encode_defunct

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.signing import Order, Side  # noqa: E402
from bench import rawhttp  # noqa: E402
from tests.anvil import anvil, free_port  # noqa: E402
from tests.api.conftest import deploy_trading_world, siwe_message  # noqa: E402
from tests.chain import Chain  # noqa: E402

POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
DOMAIN, URI = "bench.orrange.test", "https://bench.orrange.test/login"
CLIENTS = 100
BOOK_CONNECTIONS = 1_000
MID_PRICE = 92 * 10**8
WARM_UP_SECONDS = 3.0  # of placements at the offered rate before the one measured


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


class Server:
    """`uvicorn api.app:create_app --factory` in a child process."""

    def __init__(self, database_url: str, rpc_url: str, deployments: Path, workers: int):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "ORRANGE_DATABASE_URL": database_url, "ORRANGE_RPC_URL": rpc_url, "ORRANGE_WS_URL": "off",
            "ORRANGE_DEPLOYMENTS_DIR": str(deployments), "ORRANGE_SIWE_DOMAIN": DOMAIN, "ORRANGE_SIWE_URI": URI,
            "ORRANGE_JWT_SECRET": "bench-secret-bench-secret-bench-secret", "ORRANGE_JOBS": "false",
            "ORRANGE_MAX_OPEN_ORDERS": "100000", "ORRANGE_LOG_LEVEL": "WARNING",  # no access log
            # An indexer in the API (it follows an idle chain), so that /health says 200.
            "ORRANGE_INDEXER_IN_API": "true",
            # One load generator stands for many clients: limits that never refuse, still counted.
            "ORRANGE_LOGIN_RATE_PER_IP": "1000000/second", "ORRANGE_ORDER_RATE_PER_IP": "1000000/second",
            "ORRANGE_ORDER_RATE_PER_ADDRESS": "1000000/second",
            # Several processes share live updates through Redis, as replicas do.
            **({"ORRANGE_REDIS_URL": "redis://127.0.0.1:6379/0"} if workers > 1 else {}),
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--port", str(self.port),
             "--log-level", "warning", "--no-access-log", "--backlog", "4096", "--workers", str(workers)],
            env=env, cwd=Path(__file__).resolve().parent.parent,
        )

    async def wait(self, session: aiohttp.ClientSession) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                async with session.get(f"{self.url}/health") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
        raise RuntimeError("the API did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


async def sign_in(session: aiohttp.ClientSession, url: str, wallet) -> dict:
    async with session.post(f"{url}/auth/nonce") as response:
        nonce = (await response.json())["nonce"]
    message = siwe_message(wallet.address, nonce, domain=DOMAIN, uri=URI)
    signature = wallet.sign_message(encode_defunct(text=message)).signature.to_0x_hex()
    async with session.post(f"{url}/auth/login", json={"message": message, "signature": signature}) as response:
        assert response.status == 200, await response.text()
        return {"Authorization": f"Bearer {(await response.json())['access_token']}"}


def signed_orders(wallets, token: str, count: int, chain_id: int, escrow: str, rng: random.Random) -> list[tuple]:
    """(wallet index, body) of `count` orders: most rest around the mid price, a fifth cross."""
    expiry = int(time.time()) + 86400
    bodies = []
    for number in range(count):
        index = rng.randrange(len(wallets))
        wallet = wallets[index]
        side = Side(rng.randrange(2))
        crossing = rng.random() < 0.2
        offset = rng.randint(1, 200) * 10**6
        if side == Side.SELL:
            price = MID_PRICE - offset if crossing else MID_PRICE + offset
        else:
            price = MID_PRICE + offset if crossing else MID_PRICE - offset
        amount = rng.randint(10, 500) * 10**6
        order = Order(wallet.address, side, token, amount, 10**6, price, "EUR", ("SEPA", "Revolut")[: rng.randint(1, 2)],
                      expiry, number)
        signature = Account.unsafe_sign_hash(order.digest(chain_id, escrow), wallet.key).signature.to_0x_hex()
        bodies.append((index, {"order": order.api_terms(), "signature": signature, "time_in_force": "GTC"}))
    return bodies


async def closed_loop(request, connections: int, seconds: float) -> tuple[float, list[float], dict]:
    """`connections` workers send back to back for `seconds`; returns (per second, latencies, statuses)."""
    latencies, statuses = [], {}
    stop = time.perf_counter() + seconds

    async def worker(number: int):
        sent = 0
        while time.perf_counter() < stop:
            started = time.perf_counter()
            status = await request(number, sent)
            if status is None:
                break
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1
            sent += 1

    began = time.perf_counter()
    await asyncio.gather(*(worker(number) for number in range(connections)))
    return len(latencies) / (time.perf_counter() - began), latencies, statuses


async def open_loop(request, connections: int, rate: float, seconds: float) -> tuple[float, list[float], dict]:
    """Requests offered at `rate` per second in all (Poisson arrivals spread over `connections`
    workers, each with its own connection); latency counts from the planned send time, so a
    server that falls behind is charged for the queue it builds."""
    latencies, statuses = [], {}
    per_worker = rate / connections
    began = time.perf_counter()
    stop = began + seconds

    async def worker(number: int):
        rng = random.Random(number)
        planned = began + rng.expovariate(per_worker)
        sent = 0
        while planned < stop:
            delay = planned - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            status = await request(number, sent)
            if status is None:
                break
            latencies.append(time.perf_counter() - planned)
            statuses[status] = statuses.get(status, 0) + 1
            sent += 1
            planned += rng.expovariate(per_worker)

    lags: list[float] = []

    async def probe():  # how late this client's own event loop runs: latency the server is not to blame for
        while time.perf_counter() < stop:
            due = time.perf_counter() + 0.005
            await asyncio.sleep(0.005)
            lags.append(time.perf_counter() - due)

    prober = asyncio.create_task(probe())
    await asyncio.gather(*(worker(number) for number in range(connections)))
    await prober
    ms = [lag * 1000 for lag in lags]
    print(f"  (the load generator's own event loop ran late by p50 {percentile(ms, .5):.1f} ms, "
          f"p95 {percentile(ms, .95):.1f} ms during the next run)", flush=True)
    return len(latencies) / (time.perf_counter() - began), latencies, statuses


def row(name: str, rate: float, latencies: list[float], statuses: dict, baseline: float | None = None) -> str:
    ms = [value * 1000 for value in latencies]
    ratio = f"{rate / baseline:5.2f}" if baseline else "    -"
    return (f"  {name:<34} {rate:9,.0f}/s {ratio}  p50 {percentile(ms, .5):7.1f} ms  p95 {percentile(ms, .95):7.1f} ms"
            f"  p99 {percentile(ms, .99):7.1f} ms  {dict(sorted(statuses.items()))}")


async def bench_database(kind: str, database_url: str, chain: Chain, world, args) -> None:
    server = Server(database_url, chain.url, world.deployment_dir, args.workers)
    rng = random.Random(7)
    token = world.tokens[1]
    connector = aiohttp.TCPConnector(limit=0, force_close=False)  # setting up, and the WebSocket round
    try:
        async with aiohttp.ClientSession(connector=connector) as session:
            await server.wait(session)
            url = server.url
            wallets = [Account.create(f"bench {index}") for index in range(CLIENTS)]
            headers = [await sign_in(session, url, wallet) for wallet in wallets]
            # Enough for the open loop and its warm-up, and for a closed loop of up to 5,000/s.
            count = int(args.rate * (args.seconds + WARM_UP_SECONDS) * 1.1) + 5_000 * int(args.seconds)
            started = time.perf_counter()
            orders = [rawhttp.request_bytes(url, "POST", "/orders", body, headers[index])
                      for index, body in signed_orders(wallets, token, count, 31337, world.escrow, rng)]  # fmt: skip
            print(f"{kind}: {count:,} orders signed in {time.perf_counter() - started:.1f} s", flush=True)
        queue = iter(orders)
        clients = await rawhttp.connections(url, CLIENTS)
        trivial_request = rawhttp.request_bytes(url, "GET", "/market")
        book_request = rawhttp.request_bytes(url, "GET", f"/book?token={token}&fiat=EUR")

        async def trivial(number, _sent):
            return (await clients[number].send(trivial_request))[0]

        async def place(number, _sent):
            request = next(queue, None)
            if request is None:  # every signed order is placed: the closed loop ends here
                return None
            return (await clients[number].send(request))[0]

        base, latencies, statuses = await closed_loop(trivial, CLIENTS, args.seconds)
        print(row("baseline GET /market (closed)", base, latencies, statuses), flush=True)
        # A server that has just started has nothing cached yet: its sessions unchecked, no
        # statement prepared, no maker counted, and tables too small for the statistics it
        # planned with. Its first seconds of placements are shown, not counted; the figure is
        # the sustained rate, as a running platform sees it.
        rate, latencies, statuses = await open_loop(place, CLIENTS, args.rate, WARM_UP_SECONDS)
        print(row(f"  warm-up: {WARM_UP_SECONDS:.0f} s at {args.rate:,}/s, not counted", rate, latencies, statuses, base),
              flush=True)
        rate, latencies, statuses = await open_loop(place, CLIENTS, args.rate, args.seconds)
        print(row(f"POST /orders at {args.rate:,}/s (open)", rate, latencies, statuses, base), flush=True)
        rate, latencies, statuses = await closed_loop(place, CLIENTS, args.seconds)
        print(row("POST /orders (closed, max)", rate, latencies, statuses, base), flush=True)
        for connection in clients:
            connection.close()
        if "book" in args.parts:
            readers = await rawhttp.connections(url, BOOK_CONNECTIONS)

            async def read_book(number, _sent):
                return (await readers[number].send(book_request))[0]

            rate, latencies, statuses = await open_loop(read_book, BOOK_CONNECTIONS, BOOK_CONNECTIONS, args.seconds)
            print(row(f"GET /book, {BOOK_CONNECTIONS:,} conns ~1/s each (open)", rate, latencies, statuses, base),
                  flush=True)
            rate, latencies, statuses = await closed_loop(read_book, BOOK_CONNECTIONS, args.seconds)
            print(row(f"GET /book, {BOOK_CONNECTIONS:,} conns (closed, max)", rate, latencies, statuses, base),
                  flush=True)
            for connection in readers:
                connection.close()
        if "websocket" in args.parts:
            await websocket_fanout(server.url, token, wallets[0], headers[0], world, args.subscribers, rng)
    finally:
        server.stop()


async def websocket_fanout(url: str, token: str, wallet, headers: dict, world, subscribers: int, rng) -> None:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        sockets = []
        started = time.perf_counter()
        semaphore = asyncio.Semaphore(200)

        async def connect():
            async with semaphore:
                websocket = await session.ws_connect(f"{url.replace('http', 'ws')}/ws", max_msg_size=0)
                await websocket.send_json({"op": "subscribe", "book": {"token": token, "fiat": "EUR"}})
                while (await websocket.receive_json())["type"] != "book":
                    pass
                sockets.append(websocket)

        await asyncio.gather(*(connect() for _ in range(subscribers)))
        print(f"  {subscribers:,} WebSocket subscribers connected in {time.perf_counter() - started:.1f} s", flush=True)
        arrivals: list[float] = []
        sent_at = [0.0]

        async def read(websocket):  # each subscriber reads all the time, as a browser does (and answers pings)
            async for message in websocket:
                if message.type == aiohttp.WSMsgType.TEXT and '"book_update"' in message.data:
                    arrivals.append(time.perf_counter() - sent_at[0])

        readers = [asyncio.create_task(read(websocket)) for websocket in sockets]
        await asyncio.sleep(1)  # every reader started and waiting, as a browser's socket is, before the first change
        for round_number in range(3):
            body = signed_orders([wallet], token, 1, 31337, world.escrow, rng)[0][1]
            body["order"]["nonce"] = str(10**9 + round_number)
            order = Order(wallet.address, Side(body["order"]["side"]), token, int(body["order"]["amount"]), 10**6,
                          int(body["order"]["price"]), "EUR", tuple(body["order"]["payment_methods"]),
                          int(body["order"]["expiry"]), 10**9 + round_number)
            body["signature"] = Account.unsafe_sign_hash(order.digest(31337, world.escrow),
                                                         wallet.key).signature.to_0x_hex()
            arrivals.clear()
            sent_at[0] = time.perf_counter()
            async with session.post(f"{url}/orders", json=body, headers=headers) as response:
                assert response.status == 201, await response.text()
            deadline = time.perf_counter() + 10
            while len(arrivals) < subscribers and time.perf_counter() < deadline:
                await asyncio.sleep(0.05)
            ms = [value * 1000 for value in arrivals]
            within = sum(value <= 1.0 for value in arrivals)
            print(f"  WebSocket round {round_number + 1}: {len(arrivals):,}/{subscribers:,} got the update, "
                  f"{within:,} within 1 s; p50 {percentile(ms, .5):.0f} ms, p95 {percentile(ms, .95):.0f} ms, "
                  f"last {max(ms, default=float('nan')):.0f} ms", flush=True)
        for task in readers:
            task.cancel()
        await asyncio.gather(*(websocket.close() for websocket in sockets))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=1_000, help="orders offered per second in the open-loop run")
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--parts", default="book,websocket",
                        help="what to measure after placement (always measured): book, websocket, both, "
                        "or neither (e.g. --parts placement)")
    args = parser.parse_args()
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())  # the load generator's share of the CPU, smaller
    with anvil("--accounts", "12") as rpc_url, tempfile.TemporaryDirectory() as directory:
        chain = Chain(rpc_url)
        world = deploy_trading_world(chain, project, Path(directory) / "deployments")
        for kind in args.db.split(","):
            print(f"\n{kind}", flush=True)
            if kind == "sqlite":
                asyncio.run(bench_database(kind, f"sqlite:///{directory}/bench.db", chain, world, args))
                continue
            name = f"orrange_bench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
                admin.execute(f'CREATE DATABASE "{name}"')
            try:
                asyncio.run(bench_database(kind, f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", chain, world,
                                           args))
            finally:
                with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    sys.exit(main())
