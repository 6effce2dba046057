"""Fixtures for the escrow contract tests, run on anvil through Ape.

Every test that takes `escrow` (or `escrow_type`) runs once per implementation, the Vyper
contract and its Solidity twin: both are deployed at session start, with the same tokens
listed and approved on each. Roles are named accounts; `create_token` and `lock_deal` build
the world a test needs; `sign_action` signs a relayed action the way a wallet would.
"""

import itertools
from collections.abc import Callable
from typing import NamedTuple

import pytest
from eth_account import Account
from hypothesis import HealthCheck, settings

from indexer.escrow import ESCROW_CONTRACTS, ETH, Action, Deal, action_message

FEE_BPS = 50  # 0.5%
WINDOW = 3600
CAP = 10**30
START_BALANCE = 10**27  # of every test token, for the seller and the buyer


class Trade(NamedTuple):
    trade_id: bytes
    deal: Deal
    receipt: object


@pytest.fixture(scope="session")
def owner(accounts):
    return accounts[0]


@pytest.fixture(scope="session")
def seller(accounts):
    return accounts[1]


@pytest.fixture(scope="session")
def buyer(accounts):
    return accounts[2]


@pytest.fixture(scope="session")
def arbiter(accounts):
    return accounts[3]


@pytest.fixture(scope="session")
def treasury(accounts):
    return accounts[4]


@pytest.fixture(scope="session")
def stranger(accounts):
    return accounts[5]


@pytest.fixture(params=list(ESCROW_CONTRACTS))
def implementation(request) -> str:
    """The language of the escrow under test: each test runs with both."""
    return request.param


@pytest.fixture
def escrow_type(project, implementation):
    return getattr(project, ESCROW_CONTRACTS[implementation])


@pytest.fixture(scope="session")
def escrows(project, owner, treasury, arbiter) -> dict:
    """One escrow of each implementation, by language, accepting ETH."""
    deployed = {}
    for language, name in ESCROW_CONTRACTS.items():
        deployed[language] = owner.deploy(getattr(project, name), FEE_BPS, treasury, arbiter)
        deployed[language].set_token_cap(ETH, CAP, sender=owner)
    return deployed


@pytest.fixture
def escrow(escrows, implementation):
    return escrows[implementation]


@pytest.fixture(scope="session")
def create_token(project, owner, seller, buyer, escrows):
    """Deploys a test token of `kind`, funds seller and buyer, approves every escrow and
    lists it there."""

    def create(kind: str = "TestToken", *args, cap: int = CAP):
        token = owner.deploy(getattr(project, kind), *args)
        for trader in (seller, buyer):
            token.mint(trader, START_BALANCE, sender=owner)
        for escrow in escrows.values():
            for trader in (seller, buyer):
                token.approve(escrow, 2**256 - 1, sender=trader)
            if cap:
                escrow.set_token_cap(token, cap, sender=owner)
        return token

    return create


@pytest.fixture(scope="session")
def token(create_token):
    return create_token("TestToken", "Test USD", "tUSD", 6)


@pytest.fixture(scope="session")
def usdt(create_token):
    return create_token("UsdtToken")


@pytest.fixture(scope="session")
def fee_token(create_token):
    return create_token("FeeToken")


@pytest.fixture(scope="session")
def blacklist_token(create_token):
    return create_token("BlacklistToken")


_trade_ids = itertools.count(1)


def new_trade_id() -> bytes:
    return next(_trade_ids).to_bytes(32, "big")


@pytest.fixture
def lock_deal(escrow, seller, buyer) -> Callable[..., Trade]:
    """Locks an escrow (ETH unless `token` is given) and returns its trade id and `Deal`."""

    def lock(token=ETH, amount: int = 10**18, *, by=seller, to=buyer, window: int = WINDOW, trade_id=None):
        trade_id = trade_id or new_trade_id()
        value = amount if token == ETH else 0
        receipt = escrow.lock(trade_id, to, token, amount, window, sender=by, value=value)
        [event] = receipt.events.filter(escrow.Locked)
        return Trade(trade_id, Deal.from_event(event.event_arguments), receipt)

    return lock


@pytest.fixture
def sign_action(chain, escrow):
    """Signs a relayed action as a wallet would; domain fields can be overridden to forge."""

    def sign(signer, action: Action, trade_id: bytes, expiry: int, *, chain_id=None, contract=None) -> bytes:
        message = action_message(
            action, trade_id, expiry, chain_id or chain.chain_id, contract or escrow.address
        )
        key = signer if isinstance(signer, str) else signer.private_key
        return bytes(Account.sign_message(message, key).signature)

    return sign


@pytest.fixture
def balance_of():
    """Balance of `account` in `token` (ETH included) as an int."""

    def balance(token, account) -> int:
        return int(account.balance) if token == ETH else int(token.balanceOf(account))

    return balance


@pytest.fixture(scope="session", autouse=True)
def world(escrows, token, usdt, fee_token, blacklist_token):
    """Deploys everything at session start, before Ape's per-test snapshots, so that
    fixtures fetched lazily (by parametrized tests) don't vanish with a test's revert."""


def state_machine_settings(examples: int, steps: int) -> settings:
    """How the property tests run their hypothesis state machines against a chain: no deadline
    (a step is a transaction), no health checks, no example database."""
    return settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
