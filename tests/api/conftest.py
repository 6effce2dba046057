"""Fixtures for the API tests: the escrow on a private anvil (the indexer tests' world, with
ETH tradable too), the API on real SQLite or PostgreSQL, wallets that sign like a trader's,
and helpers to log in and to sign orders."""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from fastapi.testclient import TestClient

from api.app import build_platform, create_app
from api.auth import login_message
from api.db import make_engine
from api.settings import ApiSettings
from api.signing import Order, Side
from indexer.deployment import DeployedToken
from indexer.escrow import ETH
from indexer.service import Indexer
from tests.anvil import anvil
from tests.chain import Chain
from tests.indexer.world import deploy_world

Account.enable_unaudited_hdwallet_features()
MNEMONIC = "test test test test test test test test test test test junk"  # anvil's accounts
WALLETS = [Account.from_mnemonic(MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}") for i in range(12)]
RELAYER = WALLETS[10]
DOMAIN, URI = "orrange.test", "https://orrange.test/login"
ORRANGE = str(Path(sys.executable).parent / "orrange")  # the command line as `make install` installs it


@pytest.fixture(scope="module")
def chain():
    with anvil("--accounts", "12") as url:
        yield Chain(url)


def deploy_trading_world(chain, project, directory, contract: str = "Escrow"):
    """The indexer tests' world (with the escrow `contract`), with ETH among the tokens the API trades."""
    world = deploy_world(chain, project, directory, contract)
    ether = DeployedToken("ETH", ETH, 18, 10**30)
    world.deployment = replace(world.deployment, tokens=[*world.deployment.tokens, ether])
    world.deployment.save(world.deployment_dir)
    return world


@pytest.fixture(scope="module")
def world(chain, project, tmp_path_factory):
    return deploy_trading_world(chain, project, tmp_path_factory.mktemp("deployments"))


@pytest.fixture
def settings(chain, world, database_url) -> ApiSettings:
    return ApiSettings(
        database_url=database_url, rpc_url=chain.url, ws_url="off", deployments_dir=world.deployment_dir,
        siwe_domain=DOMAIN, siwe_uri=URI, jwt_secret="test-secret-test-secret-test-secret", lock_window=600,
        relayer_key=RELAYER.key.hex(), confirmations=0, reorg_depth=64, poll_interval=0.05,
        rate_limits=False,  # tests sign in dozens of traders from one client; tests/api/test_operations.py has limits on
    )


@pytest.fixture
def platform(settings):
    engine = make_engine(settings.database_url)
    platform = build_platform(settings, engine)
    yield platform
    engine.dispose()


@pytest.fixture
def client(platform):
    with TestClient(create_app(platform=platform, run_jobs=False)) as client:
        yield client


@pytest.fixture
def indexer(settings, platform):
    return Indexer(settings, platform.engine)


@pytest.fixture
def traders(world):
    """Wallets of the world's five funded traders."""
    by_address = {wallet.address: wallet for wallet in WALLETS}
    return [by_address[address] for address in world.traders]


def siwe_message(address: str, nonce: str, *, domain=DOMAIN, uri=URI, chain_id=31337, expires: str | None = None) -> str:
    return login_message(address, nonce, domain=domain, uri=uri, chain_id=chain_id, expires=expires)


def sign_in(client: TestClient, wallet, **overrides) -> dict:
    """Logs `wallet` in the way a browser wallet would; returns the token response."""
    nonce = client.post("/auth/nonce").json()["nonce"]
    message = siwe_message(wallet.address, nonce, **overrides)
    signature = wallet.sign_message(encode_defunct(text=message)).signature.to_0x_hex()
    response = client.post("/auth/login", json={"message": message, "signature": signature})
    assert response.status_code == 200, response.text
    return response.json()


def bearer(tokens: dict) -> dict:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def make_order(wallet, token: str, *, side=Side.SELL, amount=1_000 * 10**6, min_fill=10 * 10**6,
               price=92 * 10**8, fiat="EUR", methods=("SEPA",), expiry=None, nonce=0) -> Order:
    return Order(
        maker=wallet.address, side=side, token=token, amount=amount, min_fill=min_fill, price=price, fiat=fiat,
        payment_methods=tuple(methods), expiry=int(time.time()) + 3600 if expiry is None else expiry, nonce=nonce,
    )


def order_body(order: Order, wallet, platform, time_in_force="GTC") -> dict:
    """The POST /orders body of `order`, signed by `wallet` over EIP-712."""
    typed = order.typed_data(platform.market.chain_id, platform.market.escrow)
    signature = Account.sign_typed_data(wallet.key, full_message=typed).signature.to_0x_hex()
    return {"order": order.api_terms(), "signature": signature, "time_in_force": time_in_force}
