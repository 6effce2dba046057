"""Fixtures for the indexer tests: a private anvil with an escrow deployment, and a database
that is real SQLite or real PostgreSQL (a database created for the test and dropped after)."""

import uuid

import psycopg
import pytest

from indexer.db import make_engine, migrate
from indexer.service import Indexer
from indexer.settings import Settings
from tests.anvil import anvil
from tests.chain import Chain
from tests.indexer.world import deploy_world

POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="module")
def chain():
    with anvil() as url:
        yield Chain(url)


@pytest.fixture(scope="module")
def world(chain, project, tmp_path_factory):
    return deploy_world(chain, project, tmp_path_factory.mktemp("deployments"))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """A fresh, empty database URL of each kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'orrange.db'}"
        return
    name = f"orrange_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def make_indexer(chain, world, engine):
    """An Indexer on the test chain and database; settings can be overridden."""

    def make(**overrides) -> Indexer:
        values = {
            "rpc_url": chain.url,
            "database_url": engine.url.render_as_string(hide_password=False),
            "deployments_dir": world.deployment_dir,
            "confirmations": 2,
            "reorg_depth": 64,
            "poll_interval": 0.05,
        }
        settings = Settings(**{**values, **overrides})
        return Indexer(settings, engine)

    return make
