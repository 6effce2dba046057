"""Fixtures every layer's tests share: a real database of each kind."""

import uuid
from contextlib import contextmanager

import psycopg
import pytest

from indexer.escrow import ESCROW_CONTRACTS

POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@contextmanager
def postgres_database():
    """A PostgreSQL database created for the caller and dropped after it; yields its URL."""
    name = f"orrange_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """A fresh, empty database URL of each kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'orrange.db'}"
        return
    with postgres_database() as url:
        yield url


@pytest.fixture(scope="module", params=list(ESCROW_CONTRACTS))
def escrow_contract(request) -> str:
    """The escrow a module's tests deploy, each implementation in turn (its Ape contract name).
    Module-scoped and named apart from the fixtures that use it: Ape tracks fixtures by name and
    scope, and a parametrized `world` of several scopes makes it rebase its snapshots."""
    return ESCROW_CONTRACTS[request.param]
