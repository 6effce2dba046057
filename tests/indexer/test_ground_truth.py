"""Random escrow activity on anvil; the indexer's database equals what the contract says."""

from tests.indexer.world import Activity, assert_mirrors_chain


def test_index__random_lifecycles__database_equals_chain(world, make_indexer, engine):
    Activity(world, seed=1).run(lifecycles=150)
    indexer = make_indexer()
    progress = indexer.sync()
    assert progress.indexed == world.chain.block_number()
    assert_mirrors_chain(engine, world)

    Activity(world, seed=2).run(lifecycles=60)  # more, then catch up from the checkpoint
    make_indexer().sync()
    assert_mirrors_chain(engine, world)
