"""The lock that elects one active indexer per chain: taken by one holder at a time, per chain,
released by ending the holder; an indexer stands by while another holds it, and one that loses
it (its connection killed) stops, stands by and comes back."""

import logging
import threading

import psycopg
import pytest
from sqlmodel import Session

from indexer import leader
from indexer.errors import LeadershipLost
from indexer.models import IndexerState
from tests.indexer.world import Activity
from tests.observe import wait_for


POSTGRES_ONLY = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # a connection to kill


def indexed_block(engine, chain_id):
    with Session(engine) as session:
        state = session.get(IndexerState, chain_id)
        return state.indexed_block if state else None


def test_lock__one_holder_per_chain__the_next_takes_it_when_released(engine):
    first, second, other_chain = (leader.lock_for(engine.url, chain) for chain in (31337, 31337, 10))
    try:
        assert first.try_acquire()
        assert not second.try_acquire()
        assert other_chain.try_acquire()
        first.release()
        assert second.try_acquire()
    finally:
        for lock in (first, second, other_chain):
            lock.release()


@POSTGRES_ONLY
def test_postgres_lock__shows_in_pg_locks_with_the_holder_named(database_url, engine):
    lock = leader.lock_for(engine.url, 31337)
    assert lock.try_acquire()
    with psycopg.connect(lock.conninfo) as admin:
        holders = admin.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
            "WHERE l.locktype = 'advisory' AND l.classid = %s AND l.objid = 31337 AND l.granted "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            (leader.LOCK_CLASS,),
        ).fetchall()
    lock.release()
    assert holders == [(leader.holder_name(),)]


def test_file_lock__names_its_holder_in_the_file(tmp_path):
    path = tmp_path / "chain.lock"
    lock, rival = leader.FileLock(path), leader.FileLock(path)
    assert lock.try_acquire() and not rival.try_acquire()
    assert path.read_text() == leader.holder_name() + "\n"
    lock.release()
    assert rival.try_acquire()
    rival.release()


@POSTGRES_ONLY
def test_postgres_lock__connection_killed__confirm_says_lost(database_url, engine, monkeypatch):
    monkeypatch.setattr(leader, "CONFIRM_EVERY", 0.0)
    lock = leader.lock_for(engine.url, 31337)
    assert lock.try_acquire()
    lock.confirm()
    _kill_lock_holder(lock.conninfo)
    with pytest.raises(LeadershipLost, match="the connection holding the indexer's lock broke"):
        lock.confirm()
    assert leader.lock_for(engine.url, 31337).try_acquire()  # the server released it


def test_indexer__stands_by_while_another_holds_the_lock__then_indexes(make_indexer, engine, world, caplog):
    Activity(world, seed=60).run(lifecycles=5)
    indexer = make_indexer(standby_interval=0.05)
    rival = leader.lock_for(engine.url, indexer.chain_id)
    assert rival.try_acquire()
    stop = threading.Event()
    with caplog.at_level(logging.INFO, logger="indexer.service"):
        running = threading.Thread(target=indexer.run, args=(stop,), kwargs={"once": True})
        running.start()
        try:
            wait_for(lambda: "standing by" in caplog.text, "standing by")
            assert indexed_block(engine, indexer.chain_id) is None and not indexer.progress.active
            rival.release()
            running.join(timeout=60)
        finally:
            stop.set()
            rival.release()
    assert not running.is_alive()
    assert indexed_block(engine, indexer.chain_id) == world.chain.block_number()


@POSTGRES_ONLY
def test_indexer__loses_its_lock__stops_stands_by_and_takes_it_again(database_url, make_indexer, engine, world,
                                                                    monkeypatch, caplog):
    monkeypatch.setattr(leader, "CONFIRM_EVERY", 0.0)
    indexer = make_indexer(standby_interval=0.05)
    stop = threading.Event()
    running = threading.Thread(target=indexer.run, args=(stop,))
    with caplog.at_level(logging.INFO, logger="indexer.service"):
        running.start()
        try:
            wait_for(lambda: indexed_block(engine, indexer.chain_id) == world.chain.block_number(), "indexing")
            _kill_lock_holder(indexer.leadership.conninfo)
            wait_for(lambda: "the connection holding the indexer's lock broke" in caplog.text, "noticing the loss")
            Activity(world, seed=61).run(lifecycles=3)
            wait_for(lambda: indexed_block(engine, indexer.chain_id) == world.chain.block_number(), "indexing again")
        finally:
            stop.set()
            running.join(timeout=30)
    assert caplog.text.count("this process is its active indexer") == 2


def _kill_lock_holder(conninfo: str) -> None:
    """Ends the session holding an indexer's lock, as a database restart or a network cut would."""
    with psycopg.connect(conninfo, autocommit=True) as admin:
        [(killed,)] = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND classid = %s "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            (leader.LOCK_CLASS,),
        ).fetchall()
    assert killed
