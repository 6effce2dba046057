"""Reorganisations: recent blocks replaced by different ones, at random depths within the
window the indexer keeps; after each, the database equals the new chain."""

import random

import pytest

from indexer.errors import ChainMoved, ReorgTooDeep
from indexer.fetch import linked_headers
from indexer.rpc import RpcClient
from indexer.service import FOLLOW_BATCH
from tests.indexer.world import Activity, assert_mirrors_chain

REORG_DEPTH = 64


def test_follow__repeated_reorgs__database_equals_new_chain(world, make_indexer, engine):
    chain, rng = world.chain, random.Random(7)
    Activity(world, seed=10).run(lifecycles=20)
    indexer = make_indexer(reorg_depth=REORG_DEPTH)
    indexer.sync()
    for round_ in range(8):
        snapshot = chain.rpc("evm_snapshot")
        known = len(world.trade_ids)
        start = chain.block_number()
        Activity(world, seed=100 + round_).run(lifecycles=rng.randint(1, 12))  # the blocks to be orphaned
        orphaned = chain.block_number() - start
        indexer.sync()
        assert_mirrors_chain(engine, world)

        chain.rpc("evm_revert", [snapshot])
        del world.trade_ids[known:]  # forget what the old branch locked...
        Activity(world, seed=200 + round_).run(lifecycles=rng.randint(0, 12))  # ...and write another
        if rng.random() < 0.7:  # the new branch is longer, or (sometimes) no longer than the old
            chain.mine(max(1, orphaned + 1 - (chain.block_number() - start)))
        indexer.sync()
        assert_mirrors_chain(engine, world)
    assert indexer.progress.reorgs >= 6


def test_follow__reorg_deeper_than_window__stops_with_clear_error(world, make_indexer):
    chain = world.chain
    indexer = make_indexer(reorg_depth=8)
    indexer.sync()
    snapshot = chain.rpc("evm_snapshot")
    Activity(world, seed=50).run(lifecycles=12)  # well over 8 blocks
    indexer.sync()
    chain.rpc("evm_revert", [snapshot])
    chain.mine(60)
    with pytest.raises(ReorgTooDeep, match="deeper than the 8 blocks"):
        indexer.sync()


def test_backfill_to_the_head__blocks_it_wrote_replaced__rolled_back(world, make_indexer, engine):
    """A backfill runs to the head; the recent blocks it wrote keep their hashes and what they
    changed, so a reorganisation that replaces them rolls back as one of followed blocks does."""
    chain = world.chain
    indexer = make_indexer(reorg_depth=REORG_DEPTH)
    indexer.sync()
    start = chain.block_number()
    Activity(world, seed=300).run(lifecycles=6)
    snapshot = chain.rpc("evm_snapshot")
    known = len(world.trade_ids)
    Activity(world, seed=301).run(lifecycles=8)  # these blocks will be replaced
    chain.mine(FOLLOW_BATCH + 1 - (chain.block_number() - start))  # far enough behind for a backfill
    assert chain.block_number() - start > FOLLOW_BATCH
    indexer.sync()
    assert indexer.progress.backfill_to == chain.block_number()  # the pipeline wrote the recent blocks
    assert_mirrors_chain(engine, world)

    chain.rpc("evm_revert", [snapshot])
    del world.trade_ids[known:]
    Activity(world, seed=302).run(lifecycles=5)
    chain.mine(FOLLOW_BATCH + 2)
    reorgs = indexer.progress.reorgs
    indexer.sync()
    assert indexer.progress.reorgs == reorgs + 1
    assert_mirrors_chain(engine, world)


def test_linked_headers__a_block_replaced_after_its_logs_were_read__chain_moved(world):
    chain = world.chain
    rpc = RpcClient(chain.url)
    snapshot = chain.rpc("evm_snapshot")
    known = len(world.trade_ids)
    Activity(world, seed=310).run(lifecycles=2)
    end = chain.block_number()
    logs = rpc.get_logs({"address": [world.escrow], "fromBlock": hex(end - 3), "toBlock": hex(end)})
    assert logs and [h.number for h in linked_headers(rpc, end - 3, end, None, logs)] == list(range(end - 3, end + 1))
    with pytest.raises(ChainMoved, match="does not build on"):
        linked_headers(rpc, end - 3, end, "0x" + "00" * 32, logs)

    chain.rpc("evm_revert", [snapshot])
    del world.trade_ids[known:]
    Activity(world, seed=311).run(lifecycles=2)
    chain.mine(max(0, end - chain.block_number()))
    with pytest.raises(ChainMoved, match="names another block"):
        linked_headers(rpc, end - 3, end, None, logs)
