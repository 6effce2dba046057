"""Fixtures for the indexer tests: a private anvil with an escrow deployment, and a database
that is real SQLite or real PostgreSQL (`database_url`, from tests/conftest.py)."""

import pytest

from indexer.db import make_engine, migrate
from indexer.service import Indexer
from indexer.settings import Settings
from tests.anvil import anvil
from tests.chain import Chain
from tests.indexer.world import deploy_world


@pytest.fixture(scope="module")
def chain():
    with anvil() as url:
        yield Chain(url)


@pytest.fixture(scope="module")
def world(chain, project, tmp_path_factory):
    return deploy_world(chain, project, tmp_path_factory.mktemp("deployments"))


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
