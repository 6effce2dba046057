"""An RPC that misbehaves (timeouts, 429/5xx, dropped connections, garbled bodies, "too many
results" with good and bad hints) and blocks too dense for one response: same result, no crash."""

import signal
import threading

import pytest

from indexer.fetch import FetchJob, fetch_in_process
from tests.chain import calldata
from tests.fault_proxy import fault_proxy
from tests.indexer.world import Activity, _deal_from_receipt, assert_mirrors_chain


def test_index__through_faulty_rpc__database_equals_chain(world, make_indexer, engine):
    Activity(world, seed=40).run(lifecycles=100)
    with fault_proxy(world.chain.url, rate=0.25, stall=0.6, seed=4) as (url, proxy):
        # Small ranges make many requests, so that every kind of fault is met.
        indexer = make_indexer(rpc_url=url, rpc_timeout=0.3, initial_range=4, max_range=8, reorg_depth=32)
        indexer.sync()
        Activity(world, seed=41).run(lifecycles=30)  # and following the head through it
        indexer.sync()
    assert_mirrors_chain(engine, world)
    assert len(proxy.injected) >= 6, proxy.injected  # most kinds of fault were met
    fetching = indexer.fetch_stats  # the backfill fetches in a child process
    assert indexer.rpc.retries + sum(stats.retries for stats in fetching) > 0
    assert indexer.fetcher.shrinks + sum(stats.shrinks for stats in fetching) > 0


def dense_blocks(world, locks: int) -> None:
    """One block of `locks` locks, then one where half are marked paid and half released."""
    chain, activity = world.chain, Activity(world, seed=60)
    chain.automine(False)
    try:
        hashes = [activity.lock(wait=False) for _ in range(locks)]
        chain.mine()
        deals = [(world.trade_ids[-locks + i], _deal_from_receipt(chain.rpc("eth_getTransactionReceipt", [h])))
                 for i, h in enumerate(hashes)]  # fmt: skip
        for index, (trade_id, deal) in enumerate(deals):
            tid = bytes.fromhex(trade_id[2:])
            if index % 2:
                chain.send(deal.buyer, world.escrow, calldata("mark_paid", tid, tuple(deal)), wait=False)
            else:
                chain.send(deal.seller, world.escrow, calldata("release", tid, tuple(deal)), wait=False)
        chain.mine()
    finally:
        chain.automine(True)
    receipts = chain.rpc("eth_getBlockByNumber", ["latest", False])["transactions"]
    assert len(receipts) == locks


@pytest.mark.parametrize("mode", ["backfill", "follow"])
def test_index__blocks_denser_than_a_response__split_not_fatal(world, make_indexer, engine, mode):
    dense_blocks(world, locks=240)
    # The provider serves at most 150 logs per eth_getLogs: the lock block must come from
    # receipts (one event type alone is too many), the other split by event type.
    with fault_proxy(world.chain.url, max_logs=150) as (url, _proxy):
        indexer = make_indexer(rpc_url=url, reorg_depth=2 if mode == "backfill" else 512)
        indexer.sync()
    assert_mirrors_chain(engine, world)


def test_backfill_stopped_early__fetching_child_ends_whatever_its_signal_handlers(world):
    """The fetching child is a fork and carries this process's signal handlers; one that never
    returns (as Ape's and schemathesis' could, in the test process) must not keep it, and the
    backfill's end waiting for it, alive."""
    Activity(world, seed=70).run(lifecycles=20)
    end = world.chain.block_number()
    job = FetchJob(world.chain.url, 5.0, 3, [world.escrow], world.deployment.escrow.abi, 1, 1, window_from=end + 1)
    stuck = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stuck.wait())
    try:
        batches = fetch_in_process(job, world.deployment.escrow.block, end, [])
        next(batches)  # the child goes on fetching, a block a request
        closing = threading.Thread(target=batches.close, daemon=True)
        closing.start()
        closing.join(timeout=60)
        assert not closing.is_alive(), "the backfill's end waited for a fetching child that did not stop"
    finally:
        signal.signal(signal.SIGTERM, previous)
