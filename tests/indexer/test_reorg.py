"""Reorganisations: recent blocks replaced by different ones, at random depths within the
window the indexer keeps; after each, the database equals the new chain."""

import random

import pytest

from indexer.errors import ReorgTooDeep
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
