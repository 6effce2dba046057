"""SQLite specifics: the write-ahead log is copied into the database file by a thread of the
store's own, never by the indexer's writer."""

import os
import sqlite3

from indexer.db import make_engine, migrate
from indexer.service import Indexer
from indexer.settings import Settings
from indexer.store import _Checkpointer
from tests.indexer.world import Activity, assert_mirrors_chain


def test_sync__sqlite__the_log_is_checkpointed_beside_the_writer(world, tmp_path, monkeypatch):
    monkeypatch.setattr(_Checkpointer, "INTERVAL", 0.0)  # after every batch it can
    path = tmp_path / "indexer.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    Activity(world, seed=41).run(8)
    indexer = Indexer(Settings(rpc_url=world.chain.url, deployments_dir=world.deployment_dir, confirmations=2,
                               reorg_depth=8), engine)  # fmt: skip
    indexer.sync()
    checkpointer = indexer.store._checkpointer
    assert checkpointer._running.acquire(timeout=10)  # the checkpoint the last batch started is over
    checkpointer._running.release()
    with engine.connect() as conn:  # the writer leaves checkpoints to the checkpointer
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
    checkpointer.poke()
    assert checkpointer._running.acquire(timeout=10)
    checkpointer._running.release()
    reader = sqlite3.connect(path)
    try:
        page_size, pages = (reader.execute(f"PRAGMA {name}").fetchone()[0] for name in ("page_size", "page_count"))
    finally:
        reader.close()
    assert os.path.getsize(path) == page_size * pages  # every page is in the file, not only in the log
    assert_mirrors_chain(engine, world)
    engine.dispose()
