"""Fixtures for the escrow contract tests, run on anvil through Ape.

Roles are named accounts; `create_token` and `lock_deal` build the world a test
needs; `sign_action` signs a relayed action the way a wallet would.
"""

import itertools
from collections.abc import Callable
from typing import NamedTuple

import pytest
from eth_account import Account

from indexer.escrow import ETH, Action, Deal, action_message

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


@pytest.fixture(scope="session")
def escrow(project, owner, treasury, arbiter):
    contract = owner.deploy(project.Escrow, FEE_BPS, treasury, arbiter)
    contract.set_token_cap(ETH, CAP, sender=owner)
    return contract


@pytest.fixture(scope="session")
def create_token(project, owner, seller, buyer, escrow):
    """Deploys a test token of `kind`, funds seller and buyer, approves the escrow, lists it."""

    def create(kind: str = "TestToken", *args, cap: int = CAP):
        token = owner.deploy(getattr(project, kind), *args)
        for trader in (seller, buyer):
            token.mint(trader, START_BALANCE, sender=owner)
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
def world(escrow, token, usdt, fee_token, blacklist_token):
    """Deploys everything at session start, before Ape's per-test snapshots, so that
    fixtures fetched lazily (by parametrized tests) don't vanish with a test's revert."""
