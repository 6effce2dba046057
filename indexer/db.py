"""Database engines and the schema's migrations (Alembic), for SQLite and PostgreSQL alike."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, Engine

from indexer.store import tune_sqlite

MIGRATIONS = Path(__file__).parent / "migrations"


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
    with engine.begin() as connection:
        one_migration_at_a_time(connection)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


MIGRATION_LOCK = 0x6F7272616E6765  # "orrange"
"""The PostgreSQL advisory lock that migrations hold, so that processes starting together
(`uvicorn --workers N`, an indexer beside an API) don't create the same tables at once."""


def one_migration_at_a_time(connection: Connection) -> None:
    """Waits for any other process's migration, in the caller's transaction (PostgreSQL; on
    SQLite the transaction's write lock already does)."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
