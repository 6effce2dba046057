"""Database engines and the schema's migrations (Alembic), for SQLite and PostgreSQL alike."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

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
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
