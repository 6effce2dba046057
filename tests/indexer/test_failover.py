"""Failover: two `orrange index` processes started together on one new database (they take
turns to create the tables); one indexes, the other stands by. The active one is killed with
SIGKILL in the middle of its backfill; the standby takes over, and the database ends equal to
the chain (nothing lost or doubled)."""

import json
import os
import signal
import subprocess
import time

from indexer import leader
from indexer.db import make_engine
from tests.anvil import free_port
from tests.indexer.test_crash import checkpoint, survivors
from tests.indexer.world import Activity, assert_mirrors_chain
from tests.observe import metric, wait_for

ACTIVE, STANDING_BY = "this process is its active indexer", "standing by"


def start_indexer(chain, world, database_url, log_path, metrics_port):
    env = {
        **os.environ,
        "ORRANGE_RPC_URL": chain.url, "ORRANGE_DATABASE_URL": database_url,
        "ORRANGE_DEPLOYMENTS_DIR": str(world.deployment_dir), "ORRANGE_WS_URL": "off",
        "ORRANGE_CONFIRMATIONS": "2", "ORRANGE_REORG_DEPTH": "16", "ORRANGE_POLL_INTERVAL": "0.05",
        "ORRANGE_INITIAL_RANGE": "2", "ORRANGE_MAX_RANGE": "4",  # many small batches: the kill lands mid-backfill
        "ORRANGE_STANDBY_INTERVAL": "0.2", "ORRANGE_LOG_FORMAT": "json", "ORRANGE_METRICS_PORT": str(metrics_port),
    }  # fmt: skip
    with open(log_path, "w") as log:
        return subprocess.Popen(["orrange", "index"], env=env, stdout=log, stderr=subprocess.PIPE)


def said(log_path, words: str) -> bool:
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    return any(words in line["message"] for line in lines)


def test_failover__active_killed_mid_backfill__standby_takes_over__database_equals_chain(world, database_url, tmp_path):
    chain, chain_id = world.chain, world.deployment.chain_id
    activity = Activity(world, seed=50)
    activity.run(lifecycles=30)
    chain.mine(1000)  # empty blocks: a backfill long enough for the kill to land in it
    activity.run(lifecycles=30)
    engine = make_engine(database_url)
    # The test holds the chain's lock first, so that both processes are seen standing by; once
    # it lets go, one takes over, and is killed as soon as it is into its backfill.
    held = leader.lock_for(engine.url, chain_id)
    assert held.try_acquire()
    logs = [tmp_path / "a.jsonl", tmp_path / "b.jsonl"]
    ports = [free_port(), free_port()]
    processes = [start_indexer(chain, world, database_url, log, port)  # together, on a new database
                 for log, port in zip(logs, ports)]
    try:
        for process, log in zip(processes, logs):
            wait_for(lambda: said(log, STANDING_BY) or process.poll() is not None, "an indexer standing by")
            assert process.poll() is None, process.stderr.read().decode()[-2000:]
        held.release()
        wait_for(lambda: any(said(log, ACTIVE) for log in logs), "one indexer taking over")
        first = 0 if said(logs[0], ACTIVE) else 1
        active, standby, standby_log = processes[first], processes[1 - first], logs[1 - first]
        metrics_url = f"http://127.0.0.1:{ports[1 - first]}/metrics"
        assert not said(standby_log, ACTIVE) and metric(metrics_url, "orrange_indexer_active") == 0
        early = world.deployment.escrow.block + 20
        while (checkpoint(engine, chain_id) or 0) < early:
            time.sleep(0.002)
        active.send_signal(signal.SIGKILL)
        active.wait()
        assert checkpoint(engine, chain_id) < chain.block_number() - 16, "the kill came after the backfill"
        Activity(world, seed=51).run(lifecycles=10)  # more while the standby takes over
        head = chain.block_number()
        wait_for(lambda: said(standby_log, ACTIVE), "the standby taking over")
        wait_for(lambda: (checkpoint(engine, chain_id) or 0) >= head, "the new active indexer reaching the head", seconds=120)
        assert_mirrors_chain(engine, world)
        assert metric(metrics_url, "orrange_indexer_active") == 1
        assert metric(metrics_url, "orrange_indexer_events_total") > 0
    finally:
        held.release()
        engine.dispose()
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=30)
    assert standby.returncode == 0, standby.stderr.read().decode()[-2000:]
    assert not survivors(chain.url), "a killed indexer left a process behind"
