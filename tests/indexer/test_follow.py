"""Following the head: over WebSocket newHeads and by polling, skipping blocks whose logs
bloom rules out an escrow event."""

import threading
import time

import pytest

from indexer.service import Indexer
from tests.fault_proxy import fault_proxy
from tests.indexer.world import Activity, assert_mirrors_chain


def wait_until(condition, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.parametrize("ws", ["auto", "off"])
def test_run__new_escrows__appear_while_following(world, make_indexer, engine, ws):
    indexer: Indexer = make_indexer(ws_url=None if ws == "auto" else "off", poll_interval=0.05)
    indexer.sync()
    stop = threading.Event()
    worker = threading.Thread(target=indexer.run, args=(stop,), daemon=True)
    worker.start()
    try:
        activity = Activity(world, seed=70 if ws == "auto" else 71)
        for _ in range(5):
            activity.lifecycle()
            head = world.chain.block_number()
            wait_until(lambda: indexer.progress.indexed >= head)
        assert_mirrors_chain(engine, world)
        assert (indexer._heads is not None) == (ws == "auto")  # anvil serves newHeads on its RPC port
    finally:
        stop.set()
        worker.join(timeout=10)


def test_follow__blocks_without_escrow_logs__no_getlogs(world, make_indexer, engine):
    chain = world.chain
    with fault_proxy(chain.url) as (url, proxy):
        indexer = make_indexer(rpc_url=url, reorg_depth=512)
        indexer.sync()
        before = proxy.calls["eth_getLogs"]
        token = world.tokens[1]
        for _ in range(20):  # blocks with transactions, none touching the escrow
            chain.transact(world.traders[0], token, "approve", world.traders[1], 1)
        indexer.sync()
        assert proxy.calls["eth_getLogs"] == before
        Activity(world, seed=72).lifecycle()
        indexer.sync()
        assert proxy.calls["eth_getLogs"] > before
    assert_mirrors_chain(engine, world)
