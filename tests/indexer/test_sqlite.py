"""SQLite specifics: the write-ahead log is copied into the database file by a thread of the
store's own, never by the indexer's writer, and kept short even while the writer never pauses;
rows go in a few hundred to a statement."""

import os
import sqlite3

import pytest
from sqlalchemy import event

from indexer.db import make_engine, migrate
from indexer.decode import Event
from indexer.service import Indexer
from indexer.settings import Settings
from indexer import store as store_module
from indexer.store import Store, _Checkpointer, sqlite_rows
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


@pytest.mark.parametrize("rows_a_statement, parameters", [(500, 250_000), (7, 250_000), (500, 10)])
def test_sqlite_rows__any_count__every_row_once_in_as_many_statements_as_the_limits_need(
    tmp_path, monkeypatch, rows_a_statement, parameters
):
    monkeypatch.setattr(store_module, "_SQLITE_ROWS", rows_a_statement)
    monkeypatch.setattr(store_module, "_SQLITE_PARAMETERS", parameters)  # 10: three rows of three
    engine = make_engine(f"sqlite:///{tmp_path / 'rows.db'}")
    statements = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT, c TEXT)")
        statements.clear()
        sqlite_rows(conn, "INSERT INTO t (a, b, c)", [(n, f"b{n}", None) for n in range(1000)])
        sqlite_rows(conn, "INSERT INTO t (a, b, c)", [(n, "again", "c") for n in range(0, 1000, 2)],
                    " ON CONFLICT (a) DO UPDATE SET b = excluded.b, c = excluded.c")  # fmt: skip
        inserts = len(statements)
        rows = conn.exec_driver_sql("SELECT a, b, c FROM t ORDER BY a").all()
    engine.dispose()
    assert rows == [(n, "again", "c") if n % 2 == 0 else (n, f"b{n}", None) for n in range(1000)]
    per_statement = min(rows_a_statement, parameters // 3)
    assert inserts == -(-1000 // per_statement) + -(-500 // per_statement)
