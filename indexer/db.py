"""Database engines and the schema's migrations (Alembic), for SQLite and PostgreSQL alike."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, Engine

from indexer.store import tune_sqlite

MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_LOCK = 0x6F7272616E6765  # "orrange": the PostgreSQL advisory lock migrations hold


def make_engine(url: str, **options) -> Engine:
    """An engine for `url` (`options` go to SQLAlchemy's create_engine); a bare postgresql://
    URL uses psycopg 3."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    engine = create_engine(url, pool_pre_ping=True, **options)
    tune_sqlite(engine)
    return engine


def migrate(engine: Engine, revision: str = "head") -> None:
    """Brings the schema to `revision` (creating the tables on an empty database)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with migrating(engine) as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


@contextlib.contextmanager
def migrating(engine: Engine) -> Iterator[Connection]:
    """A transaction to migrate in, one process at a time: processes that start together on a
    new database (API replicas, standby indexers) would otherwise all create the same tables.
    The first migrates; the others then find the schema current. PostgreSQL: an advisory lock
    that ends with the transaction; SQLite (whose DDL does not wait in a transaction): an flock
    on `<database file>-migrations.lock`."""
    with contextlib.ExitStack() as held:
        path = engine.url.database
        if engine.dialect.name == "sqlite" and path and path != ":memory:":
            lock = held.enter_context(open(f"{path}-migrations.lock", "a"))
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        connection = held.enter_context(engine.begin())
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        yield connection
