"""Fixtures every layer's tests share: a real database of each kind; the anvil that Ape starts
keeps no old states on disk."""

import atexit
import os
import shutil
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from api.devnet import NO_STATES_ON_DISK
from indexer.escrow import ESCROW_CONTRACTS

POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def _anvil_without_old_states_on_disk() -> None:
    """ape-foundry starts the `anvil` on PATH with flags of its own choosing: it gets one that
    adds `NO_STATES_ON_DISK` (api/devnet.py says why) unless the caller gave them."""
    real = shutil.which("anvil")
    if real is None:  # ape-foundry says what is missing
        return
    directory = tempfile.mkdtemp(prefix="orrange-anvil-")
    atexit.register(shutil.rmtree, directory, True)
    wrapper = Path(directory) / "anvil"
    flag, value = NO_STATES_ON_DISK
    wrapper.write_text(
        "#!/bin/sh\n"
        'case " $* " in\n'
        f'  *" {flag} "*) exec "{real}" "$@" ;;\n'
        f'  *) exec "{real}" "$@" {flag} {value} ;;\n'
        "esac\n"
    )
    wrapper.chmod(0o755)
    os.environ["PATH"] = directory + os.pathsep + os.environ["PATH"]


_anvil_without_old_states_on_disk()


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
