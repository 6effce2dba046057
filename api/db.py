"""The API's database: the indexer's schema plus the API's own tables (a second Alembic
history, `api/migrations`, with its own version table), and sessions that write safely
when many requests race (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: row locks)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session

from indexer import db as indexer_db

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "api_alembic_version"


def make_engine(url: str) -> Engine:
    """The indexer's engine for `url`; on SQLite, a session opened by `writing` takes the write
    lock when it begins (a deferred transaction that reads, then writes, fails under contention)."""
    # As many connections as request threads (anyio's pool has 40), so none waits for one.
    engine = indexer_db.make_engine(url, pool_size=10, max_overflow=40, pool_timeout=10)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _no_implicit_begin(connection, _record):
            connection.isolation_level = None  # SQLAlchemy's "begin" below says BEGIN itself

        @event.listens_for(engine, "begin")
        def _begin(connection):
            immediate = connection.get_execution_options().get("sqlite_immediate")
            connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def migrate(engine: Engine) -> None:
    """Brings the indexer's tables and the API's to their newest schema."""
    indexer_db.migrate(engine)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # Immediate on SQLite: a deferred transaction that reads, then writes, fails at once when a
    # running indexer wrote in between.
    with indexer_db.migrating(engine.execution_options(sqlite_immediate=True)) as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


@contextmanager
def writing(engine: Engine) -> Iterator[Session]:
    """A session for a read-then-write transaction, committed on success, rolled back on error."""
    with Session(engine.execution_options(sqlite_immediate=True), expire_on_commit=False) as session:
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        session.commit()
