"""Random escrow activity on anvil; the indexer's database equals what the contract says,
whichever implementation of the escrow it is."""

import pytest

from tests.indexer.world import Activity, assert_mirrors_chain, deploy_world


@pytest.fixture(scope="module")
def world(chain, project, tmp_path_factory, escrow_contract):
    """The Vyper escrow, then its Solidity twin, each on the module's chain."""
    return deploy_world(chain, project, tmp_path_factory.mktemp("deployments"), escrow_contract)


def test_index__random_lifecycles__database_equals_chain(world, make_indexer, engine):
    Activity(world, seed=1).run(lifecycles=150)
    indexer = make_indexer()
    progress = indexer.sync()
    assert progress.indexed == world.chain.block_number()
    assert_mirrors_chain(engine, world)

    Activity(world, seed=2).run(lifecycles=60)  # more, then catch up from the checkpoint
    make_indexer().sync()
    assert_mirrors_chain(engine, world)


def test_index__batches_of_three_blocks__database_equals_chain(world, make_indexer, engine):
    """Most lifecycles span batches: a batch is folded while the one before it is still being
    written, reading that one's rows rather than the database's."""
    Activity(world, seed=3).run(lifecycles=40)
    progress = make_indexer(initial_range=3, max_range=3).sync()
    assert progress.indexed == world.chain.block_number()
    assert_mirrors_chain(engine, world)
