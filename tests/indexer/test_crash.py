"""Crashes: `orrange index` killed with SIGKILL at random points of a backfill, many times;
restarted each time, it ends with the database equal to the chain, nothing lost or doubled."""

import os
import random
import signal
import subprocess
import time

import pytest

from indexer.models import IndexerState
from tests.indexer.world import Activity, assert_mirrors_chain


def start_indexer(chain, world, database_url):
    env = {
        **os.environ,
        "ORRANGE_RPC_URL": chain.url,
        "ORRANGE_DATABASE_URL": database_url,
        "ORRANGE_DEPLOYMENTS_DIR": str(world.deployment_dir),
        "ORRANGE_CONFIRMATIONS": "2",
        "ORRANGE_REORG_DEPTH": "16",
        "ORRANGE_INITIAL_RANGE": "2",  # many small batches, so kills land mid-backfill
        "ORRANGE_MAX_RANGE": "4",
    }
    return subprocess.Popen(
        ["orrange", "index", "--once", "--quiet"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def checkpoint(engine, chain_id):
    from sqlalchemy import select

    with engine.connect() as conn:
        return conn.execute(select(IndexerState.indexed_block).where(IndexerState.chain_id == chain_id)).scalar()


@pytest.mark.parametrize("kills", [12])
def test_index__killed_during_backfill__resumes_without_loss_or_doubles(world, engine, database_url, kills):
    chain, rng = world.chain, random.Random(3)
    Activity(world, seed=30).run(lifecycles=120)
    chain_id, head = world.deployment.chain_id, chain.block_number()
    positions = []
    for target in sorted(rng.sample(range(world.deployment.escrow.block, head - 20), kills)):
        process = start_indexer(chain, world, database_url)
        # Kill it once it has passed a random block: it is then in the middle of later batches.
        while process.poll() is None and (checkpoint(engine, chain_id) or 0) < target:
            time.sleep(0.002)
        process.send_signal(signal.SIGKILL)
        process.wait()
        positions.append(checkpoint(engine, chain_id))
    process = start_indexer(chain, world, database_url)
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err.decode()[-2000:]
    assert_mirrors_chain(engine, world)
    assert len({p for p in positions if p}) >= kills // 2, f"the kills did not land mid-backfill: {positions}"
    assert not survivors(chain.url), "a killed indexer left a process behind"


def survivors(rpc_url: str) -> list[int]:
    """Processes still running with this test's ORRANGE_RPC_URL (a fetching child that outlived
    its parent would hold the parent's database connection open, and its locks)."""
    time.sleep(0.5)
    marker = f"ORRANGE_RPC_URL={rpc_url}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/environ", "rb") as environ:
                    if marker in environ.read().split(b"\0"):
                        found.append(int(entry))
            except OSError:
                continue
    return found
