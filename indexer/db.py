"""Database engines and the schema's migrations (Alembic), for SQLite and PostgreSQL alike."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from indexer.store import tune_sqlite

MIGRATIONS = Path(__file__).parent / "migrations"
_MIGRATIONS_LOCK = int.from_bytes(b"ORNM", "big")  # a PostgreSQL advisory lock key


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


def one_migration_at_a_time(connection) -> None:
    """Processes that start together on a new PostgreSQL database (API replicas, standby
    indexers) take turns to migrate it, rather than all creating the same tables: the first
    migrates, the others then find the schema current. The lock ends with the transaction.
    (On SQLite, a migration's first write waits for the database's one writer.)"""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATIONS_LOCK})")
