"""Whole trades on anvil through the API, the indexer and the jobs: the happy path and every
unhappy ending, with each implementation of the escrow (Vyper and its Solidity twin). Each test
has a chain of its own, as they move its clock."""

import pytest
from eth_account import Account

from api import jobs
from indexer.escrow import Status
from tests.anvil import anvil
from tests.api.conftest import bearer, deploy_trading_world, make_order, order_body, sign_in
from tests.chain import Chain

UNIT = 10**6
RELAY_EXPIRY = 6 * 86400  # the chain's clock runs ahead of the wall's in these tests


@pytest.fixture
def chain():
    with anvil("--accounts", "12") as url:
        yield Chain(url)


@pytest.fixture
def world(chain, project, tmp_path, escrow_contract):
    return deploy_trading_world(chain, project, tmp_path / "deployments", escrow_contract)


class Desk:
    """Two traders at the API: the seller's ad taken by the buyer, and the steps after it."""

    def __init__(self, client, platform, chain, indexer, world, seller, buyer):
        self.client, self.platform, self.chain, self.indexer, self.world = client, platform, chain, indexer, world
        self.seller, self.buyer = seller, buyer
        self.auth = {seller.address: bearer(sign_in(client, seller)), buyer.address: bearer(sign_in(client, buyer))}

    def open_trade(self, amount=100 * UNIT, token=None):
        token = token or self.world.tokens[1]
        order = make_order(self.seller, token, amount=amount * 2, min_fill=UNIT)
        placed = self.client.post("/orders", json=order_body(order, self.seller, self.platform),
                                  headers=self.auth[self.seller.address])
        assert placed.status_code == 201, placed.text
        self.order_hash = placed.json()["order"]["hash"]
        taken = self.client.post(f"/orders/{self.order_hash}/take", json={"amount": str(amount)},
                                 headers=self.auth[self.buyer.address])
        assert taken.status_code == 201, taken.text
        self.trade_id = taken.json()["trade_id"]
        return taken.json()

    def lock(self):
        txs = self.client.get(f"/trades/{self.trade_id}/lock-tx", headers=self.auth[self.seller.address])
        assert txs.status_code == 200, txs.text
        for tx in (txs.json()["approve"], txs.json()["lock"]):
            if tx is not None:
                self.send(tx)

    def send(self, tx):
        receipt = self.chain.send(tx["from"], tx["to"], tx["data"], int(tx["value"]))
        assert receipt["status"] == "0x1", tx["description"]

    def wallet_call(self, wallet, call):
        tx = self.client.get(f"/trades/{self.trade_id}/tx/{call}", headers=self.auth[wallet.address])
        assert tx.status_code == 200, tx.text
        self.send(tx.json())

    def relay(self, wallet, action):
        expiry = self.chain.timestamp() + RELAY_EXPIRY
        headers = self.auth[wallet.address]
        payload = self.client.get(f"/trades/{self.trade_id}/payload/{action}", params={"expiry": expiry},
                                  headers=headers).json()
        signature = Account.sign_typed_data(wallet.key, full_message=payload["typed_data"]).signature.to_0x_hex()
        response = self.client.post(f"/trades/{self.trade_id}/relay/{action}",
                                    json={"expiry": str(expiry), "signature": signature}, headers=headers)
        if response.status_code == 202:  # the relayer sent it: mined before the indexer looks
            self.chain.receipt(response.json()["tx_hash"])
        return response

    def settle(self):
        """The indexer catches up, then trades follow their escrows."""
        self.indexer.sync()
        jobs.follow_escrows(self.platform)
        jobs.expire_trades(self.platform)

    def trade(self):
        return self.client.get(f"/trades/{self.trade_id}", headers=self.auth[self.buyer.address]).json()

    def order(self):
        return self.client.get(f"/orders/{self.order_hash}").json()


@pytest.fixture
def desk(client, platform, chain, indexer, world, traders):
    return Desk(client, platform, chain, indexer, world, traders[0], traders[1])


def test_trade__lock_relayed_mark_paid_relayed_release__released(desk, chain, world):
    desk.open_trade(100 * UNIT)
    before = chain.call(world.tokens[1], "balanceOf", desk.buyer.address, returns="uint256")
    desk.lock()
    desk.settle()
    assert desk.trade()["status"] == "LOCKED"
    relayed = desk.relay(desk.buyer, "mark_paid")
    assert relayed.status_code == 202, relayed.text
    desk.settle()
    assert desk.trade()["status"] == "PAID"
    assert desk.relay(desk.seller, "release").status_code == 202
    desk.settle()
    trade = desk.trade()
    assert trade["status"] == "RELEASED" and trade["flag"] is None
    fee = 100 * UNIT * 50 // 10_000
    assert chain.call(world.tokens[1], "balanceOf", desk.buyer.address, returns="uint256") == before + 100 * UNIT - fee
    reputation = desk.client.get(f"/reputation/{desk.seller.address}").json()
    assert reputation["trades_completed"] == 1 and reputation["as_seller"] == 1
    assert reputation["volume"] == {world.tokens[1]: str(100 * UNIT)}
    assert reputation["median_release_seconds"] is not None


def test_trade__eth_trade__locks_with_value(desk, world):
    desk.open_trade(10**17, token=world.tokens[0])
    txs = desk.client.get(f"/trades/{desk.trade_id}/lock-tx", headers=desk.auth[desk.seller.address]).json()
    assert txs["approve"] is None and txs["lock"]["value"] == str(10**17)
    desk.lock()
    desk.settle()
    assert desk.trade()["status"] == "LOCKED"


def test_trade__never_locked__expires_and_amount_returns(desk, chain, platform):
    desk.open_trade(100 * UNIT)
    assert desk.order()["remaining"] == str(100 * UNIT)
    desk.settle()
    assert desk.trade()["status"] == "AWAITING_LOCK"
    chain.sleep(platform.settings.lock_window + 60)
    desk.settle()
    assert desk.trade()["status"] == "EXPIRED"
    assert desk.order()["remaining"] == str(200 * UNIT)


def test_trade__buyer_cancels_by_relay__refunded(desk):
    desk.open_trade(100 * UNIT)
    desk.lock()
    desk.settle()
    assert desk.relay(desk.buyer, "cancel").status_code == 202
    desk.settle()
    assert desk.trade()["status"] == "REFUNDED"


def test_trade__unpaid_past_deadline__flagged_then_seller_refunds(desk, chain, platform):
    desk.open_trade(100 * UNIT)
    desk.lock()
    desk.settle()
    refused = desk.client.get(f"/trades/{desk.trade_id}/tx/refund", headers=desk.auth[desk.buyer.address])
    assert refused.status_code == 403
    chain.sleep(platform.settings.payment_window + 60)
    desk.settle()
    assert desk.trade()["deadline_passed"] is True
    desk.wallet_call(desk.seller, "refund")
    desk.settle()
    assert desk.trade()["status"] == "REFUNDED"


def test_trade__dispute_resolved_by_arbiter(desk, chain, world, platform):
    desk.open_trade(100 * UNIT)
    desk.lock()
    desk.settle()
    desk.wallet_call(desk.buyer, "mark_paid")
    desk.settle()
    desk.wallet_call(desk.seller, "dispute")
    desk.settle()
    assert desk.trade()["status"] == "DISPUTED"
    escrow = desk.client.get(f"/escrows/{desk.trade_id}").json()
    deal = (escrow["seller"], escrow["buyer"], escrow["token"], int(escrow["amount"]), int(escrow["fee"]),
            escrow["arbiter"], escrow["deadline"])
    chain.transact(escrow["arbiter"], world.escrow, "resolve", bytes.fromhex(desk.trade_id[2:]), deal, 5_000)
    desk.settle()
    assert desk.trade()["status"] == "RESOLVED"
    assert desk.client.get(f"/reputation/{desk.buyer.address}").json()["disputes"] == 1


def test_relay__bad_signature__refused_before_any_gas(desk, chain):
    desk.open_trade(100 * UNIT)
    desk.lock()
    desk.settle()
    expiry = chain.timestamp() + RELAY_EXPIRY
    relayer = desk.platform.gateway.relayer.address
    nonce = chain.rpc("eth_getTransactionCount", [relayer, "latest"])
    response = desk.client.post(f"/trades/{desk.trade_id}/relay/mark_paid",
                                json={"expiry": str(expiry), "signature": "0x" + "11" * 65},
                                headers=desk.auth[desk.buyer.address])
    assert response.status_code == 400 and "escrow would refuse" in response.json()["detail"]
    assert chain.rpc("eth_getTransactionCount", [relayer, "latest"]) == nonce
    seller = desk.auth[desk.seller.address]
    payload = desk.client.get(f"/trades/{desk.trade_id}/payload/mark_paid", headers=seller)
    relay = desk.client.post(f"/trades/{desk.trade_id}/relay/mark_paid",
                             json={"expiry": str(expiry), "signature": "0x" + "11" * 65}, headers=seller)
    for response in (payload, relay):
        assert response.status_code == 403 and "buyer" in response.json()["detail"]


def test_lock__with_other_terms__flagged_never_accepted(desk, chain, world):
    trade = desk.open_trade(100 * UNIT)
    squatter = world.traders[4]
    chain.transact(squatter, world.escrow, "lock", bytes.fromhex(trade["trade_id"][2:]), desk.buyer.address,
                   world.tokens[1], 1, 3600)
    desk.settle()
    trade = desk.trade()
    assert trade["status"] == "AWAITING_LOCK"
    assert trade["flag"].startswith("escrow not accepted: the escrow's seller")
    assert desk.client.get(f"/escrows/{desk.trade_id}").json()["status"] == Status.LOCKED.name
