"""Indexer throughput and head-following lag, measured on anvil.

    make bench            (or: python bench/indexer.py [--events 100000])

For each block shape (about 50 and about 500 escrow events per block) it puts at least
`--events` events on a fresh anvil (whole ETH trades: Locked, Paid, Released), then times,
in the same run and best of `--runs` (this machine is noisy):
  - the ceiling: fetching and decoding every log with the indexer's own fetcher and decoder,
    no database;
  - a full backfill into SQLite (a new file) and into PostgreSQL (a new database).
Then it measures head-following lag: an escrow locked on anvil until its row is visible in
the database, p50 and p95 over many locks, with the indexer polling and over WebSocket.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psycopg
from ape import project
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from indexer.db import make_engine, migrate  # noqa: E402
from indexer.deployment import DeployedContract, Deployment  # noqa: E402
from indexer.escrow import ETH  # noqa: E402
from indexer.fetch import FetchJob, decoded_ranges  # noqa: E402
from indexer.models import Escrow  # noqa: E402
from indexer.rpc import RpcClient  # noqa: E402
from indexer.service import Indexer  # noqa: E402
from indexer.settings import Settings  # noqa: E402
from tests.anvil import anvil  # noqa: E402
from tests.chain import Chain, calldata  # noqa: E402

TRADES_PER_TX = 17  # 51 events per transaction
POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
TRADES_SIGNATURE = "trades(address,address,uint256,uint256,uint256)"


def deploy(chain: Chain, directory: Path) -> tuple[str, str, str]:
    owner = chain.accounts[0]
    escrow, receipt = chain.deploy(owner, project.Escrow.contract_type, 50, chain.accounts[1], chain.accounts[2])
    chain.transact(owner, escrow, "set_token_cap", ETH, 10**30)
    seller, _ = chain.deploy(owner, project.LoadGenerator.contract_type)
    buyer, _ = chain.deploy(owner, project.LoadGenerator.contract_type)
    chain.send(owner, seller, "0x", value=10**21)
    abi = [item.model_dump(mode="json", by_alias=True) for item in project.Escrow.contract_type.abi]
    Deployment(
        chain_id=int(chain.rpc("eth_chainId"), 16),
        network="ethereum:local:foundry",
        deployer=owner,
        escrow=DeployedContract("Escrow", escrow, int(receipt["blockNumber"], 16), receipt["transactionHash"], abi),
        fee_bps=50,
        treasury=chain.accounts[1],
        arbiter=chain.accounts[2],
    ).save(directory)
    return escrow, seller, buyer


def generate(chain: Chain, escrow: str, seller: str, buyer: str, events: int, per_block: int) -> int:
    """Mines blocks of `per_block` events (rounded to whole transactions) until `events` exist."""
    from eth_abi import encode
    from eth_utils import function_signature_to_4byte_selector

    selector = function_signature_to_4byte_selector(TRADES_SIGNATURE)
    txs_per_block = max(1, round(per_block / (3 * TRADES_PER_TX)))
    owner, made, next_id = chain.accounts[0], 0, 1
    chain.automine(False)
    try:
        while made < events:
            for _ in range(txs_per_block):
                data = selector + encode(
                    ["address", "address", "uint256", "uint256", "uint256"], [escrow, buyer, next_id, TRADES_PER_TX, 1000]
                )
                last = chain.send(owner, seller, "0x" + data.hex(), wait=False)
                next_id += TRADES_PER_TX
                made += 3 * TRADES_PER_TX
            chain.mine()
    finally:
        chain.automine(True)
    while (receipt := chain.rpc("eth_getTransactionReceipt", [last])) is None:
        time.sleep(0.01)
    assert receipt["status"] == "0x1", "load transaction reverted"
    return made


def ceiling(url: str, deployment: Deployment) -> tuple[int, float]:
    """Fetch + decode every log, no database, the way the indexer's fetching process does
    (same code, same collector settings): the most the indexer could do."""
    settings = Settings()
    end = int(RpcClient(url).request("eth_blockNumber"), 16)
    job = FetchJob(url, settings.rpc_timeout, settings.rpc_max_attempts, [deployment.escrow.address],
                   deployment.escrow.abi, settings.initial_range, settings.max_range, window_from=end + 1)  # fmt: skip
    gc.disable()
    try:
        began, count = time.perf_counter(), 0
        for _first, _last, events, _headers in decoded_ranges(job, deployment.escrow.block, end, []):
            count += len(events)
        return count, time.perf_counter() - began
    finally:
        gc.enable()


def backfill(url: str, database_url: str, directory: Path) -> tuple[int, float]:
    engine = make_engine(database_url)
    migrate(engine)
    settings = Settings(rpc_url=url, database_url=database_url, deployments_dir=directory, confirmations=0, reorg_depth=16)
    indexer = Indexer(settings, engine)
    began = time.perf_counter()
    progress = indexer.sync()
    seconds = time.perf_counter() - began
    engine.dispose()
    return progress.events, seconds


class PostgresDatabase:
    def __enter__(self) -> str:
        self.name = f"orrange_bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{self.name}"')
        return f"postgresql+psycopg://postgres@127.0.0.1:5432/{self.name}"

    def __exit__(self, *exc):
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            # The server writes out what a 100,000-event load dirtied now, rather than in the
            # background of the next run (another kind's, which it would slow).
            admin.execute("CHECKPOINT")


def lag(url: str, database_url: str, directory: Path, use_ws: bool, samples: int, first_id: int) -> list[float]:
    """Seconds from an escrow's lock being mined to its row being visible, `samples` times."""
    chain = Chain(url)
    engine = make_engine(database_url)
    migrate(engine)
    settings = Settings(
        rpc_url=url,
        ws_url=url.replace("http://", "ws://") if use_ws else None,
        database_url=database_url,
        deployments_dir=directory,
        confirmations=0,
        reorg_depth=16,
        poll_interval=0.02,
    )
    indexer = Indexer(settings, engine)
    indexer.sync()
    stop = threading.Event()
    worker = threading.Thread(target=indexer.run, args=(stop,), daemon=True)
    worker.start()
    deployment = Deployment.load(indexer.chain_id, directory)
    seller, buyer = chain.accounts[3], chain.accounts[4]
    lags = []
    table = Escrow.__table__
    try:
        for n in range(samples):
            trade_id = (first_id + n).to_bytes(32, "big")
            receipt = chain.send(seller, deployment.escrow.address, calldata("lock", trade_id, buyer, ETH, 1000, 600), 1000)
            mined = time.perf_counter()
            wanted = "0x" + trade_id.hex()
            with engine.connect() as conn:
                while conn.execute(select(table.c.trade_id).where(table.c.trade_id == wanted)).first() is None:
                    conn.rollback()
                    time.sleep(0.001)
            lags.append(time.perf_counter() - mined)
            assert receipt["status"] == "0x1"
            time.sleep(0.05)
    finally:
        stop.set()
        worker.join(timeout=10)
        engine.dispose()
    return lags


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000, help="events per block shape (default 100,000)")
    parser.add_argument("--lag-samples", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5, help="throughput runs; the best counts (default 5)")
    args = parser.parse_args()

    rows = []
    for per_block in (50, 500):
        with anvil("--gas-limit", "100000000") as url, tempfile.TemporaryDirectory() as tmp:
            directory = Path(tmp)
            chain = Chain(url)
            escrow, seller, buyer = deploy(chain, directory)
            began = time.perf_counter()
            made = generate(chain, escrow, seller, buyer, args.events, per_block)
            print(f"{per_block}/block: {made:,} events in {chain.block_number():,} blocks, generated in "
                  f"{time.perf_counter() - began:.0f} s", flush=True)  # fmt: skip
            deployment = Deployment.load(31337, directory)
            # Best of `--runs`, each kind in turn, so that all three meet the same machine.
            times = {"ceiling": [], "sqlite": [], "postgresql": []}
            for run in range(args.runs):
                count, seconds = ceiling(url, deployment)
                times["ceiling"].append(seconds)
                sqlite_events, seconds = backfill(url, f"sqlite:///{directory / f'bench{run}.db'}", directory)
                times["sqlite"].append(seconds)
                with PostgresDatabase() as database_url:
                    pg_events, seconds = backfill(url, database_url, directory)
                times["postgresql"].append(seconds)
                assert sqlite_events == pg_events == count, (sqlite_events, pg_events, count)
                print(f"  run {run + 1}: " + ", ".join(f"{kind} {count / seconds[-1]:,.0f} ev/s"
                                                     for kind, seconds in times.items()), flush=True)  # fmt: skip
            best = {kind: count / min(seconds) for kind, seconds in times.items()}
            rows.append((per_block, count, best["ceiling"], best["sqlite"], best["postgresql"]))

    print()
    print("| events/block | events | ceiling (fetch+decode) | SQLite backfill | PostgreSQL backfill |")
    print("|---|---|---|---|---|")
    for per_block, count, top, sqlite_rate, pg_rate in rows:
        print(f"| ~{per_block} | {count:,} | {top:,.0f} ev/s | {sqlite_rate:,.0f} ev/s ({sqlite_rate / top:.0%}) "
              f"| {pg_rate:,.0f} ev/s ({pg_rate / top:.0%}) |")  # fmt: skip

    print()
    print("| head-following lag (lock mined -> row visible) | p50 | p95 |")
    print("|---|---|---|")
    with anvil() as url, tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        deploy(Chain(url), directory)
        for run, (label, use_ws, database_url) in enumerate((
            ("SQLite, polling every 20 ms", False, f"sqlite:///{directory / 'poll.db'}"),
            ("SQLite, WebSocket newHeads", True, f"sqlite:///{directory / 'ws.db'}"),
        )):
            lags = lag(url, database_url, directory, use_ws, args.lag_samples, first_id=10**12 * (run + 1))
            print(f"| {label} | {statistics.median(lags) * 1000:.0f} ms | {percentile(lags, 0.95) * 1000:.0f} ms |")
        with PostgresDatabase() as database_url:
            lags = lag(url, database_url, directory, True, args.lag_samples, first_id=10**12 * 3)
            print(f"| PostgreSQL, WebSocket newHeads | {statistics.median(lags) * 1000:.0f} ms "
                  f"| {percentile(lags, 0.95) * 1000:.0f} ms |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
