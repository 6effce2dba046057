"""`orrange demo`: one whole trade against a running platform (`orrange up`), the way two
traders' wallets would do it, each step printed with its transaction and the trade's state.

The seller posts an ad for 250 tUSD at 0.92 EUR, the buyer takes 100 of it, the seller locks the
escrow from their wallet, the buyer marks it paid and the seller releases it, both gasless
(signed EIP-712 messages the platform's relayer submits)."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
from eth_account import Account
from eth_account.messages import encode_defunct

from api.auth import login_message
from api.chain import send_transaction
from api.devnet import TRADER_KEYS
from api.signing import Order, Side
from indexer.errors import OrrangeError
from indexer.rpc import RpcClient


class DemoError(OrrangeError):
    """The platform refused a step or did not get there in time."""


class Wallet:
    """A trader's wallet: signs logins, orders and transactions with its key."""

    def __init__(self, key: str, api: httpx.Client, rpc_url: str):
        self.account = Account.from_key(key)
        self.api, self.rpc = api, RpcClient(rpc_url, max_attempts=3)
        self.headers: dict = {}

    @property
    def address(self) -> str:
        return self.account.address

    def sign_in(self) -> None:
        nonce = _ok(self.api.post("/auth/nonce"))
        message = login_message(self.address, nonce["nonce"], domain=nonce["domain"], uri=nonce["uri"],
                                chain_id=nonce["chain_id"], statement="Orrange demo.")
        signature = self.account.sign_message(encode_defunct(text=message)).signature.to_0x_hex()
        tokens = _ok(self.api.post("/auth/login", json={"message": message, "signature": signature}))
        self.headers = {"Authorization": f"Bearer {tokens['access_token']}"}

    def send(self, tx: dict) -> str:
        """Signs and sends an unsigned transaction the API returned; waits for its receipt."""
        call = {"from": tx["from"], "to": tx["to"], "data": tx["data"], "value": hex(int(tx["value"]))}
        gas = int(self.rpc.request("eth_estimateGas", [call]), 16)
        tx_hash = send_transaction(self.rpc, self.account, call, gas)
        _wait(lambda: self.rpc.request("eth_getTransactionReceipt", [tx_hash]), f"transaction {tx_hash} to be mined")
        return tx_hash

    def relay(self, trade_id: str, action: str) -> str:
        payload = _ok(self.api.get(f"/trades/{trade_id}/payload/{action}", headers=self.headers))
        signature = Account.sign_typed_data(self.account.key, full_message=payload["typed_data"]).signature.to_0x_hex()
        body = {"expiry": str(payload["expiry"]), "signature": signature}
        return _ok(self.api.post(f"/trades/{trade_id}/relay/{action}", json=body, headers=self.headers))["tx_hash"]


def run(api_url: str, rpc_url: str, say: Callable[[str], None] = print, timeout: float = 60.0) -> dict:
    """Runs the trade; returns it as the API shows it at the end (RELEASED)."""
    with httpx.Client(base_url=api_url, timeout=30) as api:
        market = _ok(api.get("/market"))
        tokens = {token["symbol"]: token for token in market["tokens"]}
        if "tUSD" not in tokens:
            raise DemoError("the platform trades no tUSD: start it with `orrange up`")
        seller, buyer = Wallet(TRADER_KEYS[0], api, rpc_url), Wallet(TRADER_KEYS[1], api, rpc_url)
        for wallet in (seller, buyer):
            wallet.sign_in()
        say(f"signed in (SIWE): seller {seller.address}, buyer {buyer.address}")

        token = tokens["tUSD"]["address"]
        order = Order(seller.address, Side.SELL, token, 250 * 10**6, 10 * 10**6, 92_000_000, "EUR", ("SEPA",),
                      int(time.time()) + 3600, time.time_ns())
        signature = Account.sign_typed_data(
            seller.account.key, full_message=order.typed_data(market["chain_id"], market["escrow"])
        ).signature.to_0x_hex()
        ad = _ok(api.post("/orders", json={"order": order.api_terms(), "signature": signature}, headers=seller.headers))["order"]
        say(f"seller's ad {ad['hash']}: 250 tUSD at 0.92 EUR, SEPA")

        trade = _ok(api.post(f"/orders/{ad['hash']}/take", json={"amount": str(100 * 10**6)}, headers=buyer.headers))
        trade_id = trade["trade_id"]
        say(f"buyer takes 100 tUSD: trade {trade_id}, {trade['fiat_amount']} EUR to pay, {trade['status']}")

        txs = _ok(api.get(f"/trades/{trade_id}/lock-tx", headers=seller.headers))
        say(f"seller approves: tx {seller.send(txs['approve'])}")
        say(f"seller locks the escrow: tx {seller.send(txs['lock'])}")
        _until(api, buyer, trade_id, "LOCKED", say, timeout)

        say("buyer pays 92.00 EUR by SEPA, outside the chain, then marks it paid (gasless)")
        say(f"relayer submits mark_paid_by_sig: tx {buyer.relay(trade_id, 'mark_paid')}")
        _until(api, buyer, trade_id, "PAID", say, timeout)

        say(f"seller sees the money arrive and releases (gasless): tx {seller.relay(trade_id, 'release')}")
        return _until(api, buyer, trade_id, "RELEASED", say, timeout)


def _until(api: httpx.Client, wallet: Wallet, trade_id: str, status: str, say, timeout: float) -> dict:
    trade = _wait(lambda: (t := _ok(api.get(f"/trades/{trade_id}", headers=wallet.headers)))["status"] == status and t,
                  f"the trade to be {status}", timeout)
    say(f"  trade {status} (as the indexer read it from the chain)")
    return trade


def _wait(check: Callable, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise DemoError(f"gave up waiting for {what} after {timeout:.0f} s")
        time.sleep(0.25)
    return result


def _ok(response: httpx.Response):
    if response.status_code >= 400:
        raise DemoError(f"{response.request.method} {response.request.url.path}: {response.status_code} "
                        f"{response.json().get('detail', response.text) if response.content else ''}")
    return response.json()
