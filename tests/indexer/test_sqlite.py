"""SQLite specifics: the write-ahead log is copied into the database file by a thread of the
store's own, never by the indexer's writer, and kept short even while the writer never pauses."""

import os
import sqlite3

from indexer.db import make_engine, migrate
from indexer.decode import Event
from indexer.service import Indexer
from indexer.settings import Settings
from indexer.store import Store, _Checkpointer
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


def test_pipeline__sqlite__a_writer_that_never_pauses_still_keeps_the_log_short(tmp_path, monkeypatch):
    monkeypatch.setattr(_Checkpointer, "LIMIT", 256 << 10)
    monkeypatch.setattr(_Checkpointer, "INTERVAL", 0.0)
    path = tmp_path / "indexer.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    store = Store(engine, 31337)
    where = {"to_hash": None, "head": 10_000, "undo_from": 0, "confirmations": 0, "reorg_depth": 4}
    log_sizes = []
    with store.pipeline() as writer:
        for block in range(1, 201):
            writer.write([_locked(block, index) for index in range(20)], to_block=block, **where)
            log_sizes.append(os.path.getsize(f"{path}-wal"))
    # SQLite started the log over, again and again (without: 26 MB; here 0.6-0.8 MB, room left
    # for a slow disk's fsync, during which the writer goes on)
    assert max(log_sizes) < 4 << 20
    assert any(later < earlier for earlier, later in zip(log_sizes, log_sizes[1:]))  # and cut the file back
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM escrows").scalar() == 200 * 20
    engine.dispose()


def _locked(block: int, index: int) -> Event:
    return Event(name="Locked", contract="0x5FbDB2315678afecb367f032d93F642f64180aa3", block_number=block,
                 block_hash=f"0x{block:064x}", log_index=index, tx_hash=f"0x{block:032x}{index:032x}",
                 timestamp=1_700_000_000 + block,
                 args={"trade_id": f"0x{block:032x}{index:032x}", "seller": f"0x{1:040x}", "buyer": f"0x{2:040x}",
                       "token": f"0x{0:040x}", "amount": 10**18, "fee": 5 * 10**15, "arbiter": f"0x{3:040x}",
                       "deadline": 1_700_003_600})  # fmt: skip
