"""`orrange demo`: one whole trade against a running platform (`orrange up`), the way two
traders do it with the `orrange` trader commands, each step printed with its transaction and
the trade's state.

The seller (test account TEST::1) posts an ad for 250 tUSD at 0.92 EUR, the buyer (TEST::2)
takes 100 of it, the seller locks the escrow from their account, the buyer marks it paid and the
seller releases it, both gasless (signed EIP-712 messages the platform's relayer submits)."""

from __future__ import annotations

import time
from collections.abc import Callable

from api.client import Client, ClientError
from api.signing import Order, Side
from api.wallet import Wallet

SELLER, BUYER = "TEST::1", "TEST::2"  # funded with tUSD by the deploy script on a local chain


def run(api_url: str, rpc_url: str, say: Callable[[str], None] = print, timeout: float = 60.0) -> dict:
    """Runs the trade; returns it as the API shows it at the end (RELEASED)."""
    with Client(api_url, Wallet(SELLER, rpc_url)) as seller, Client(api_url, Wallet(BUYER, rpc_url)) as buyer:
        if not any(token["symbol"] == "tUSD" for token in seller.market["tokens"]):
            raise ClientError("the platform trades no tUSD: start it with `orrange up`")
        token = seller.token("tUSD")["address"]
        for trader in (seller, buyer):
            trader.sign_in()
        say(f"signed in (SIWE): seller {seller.address}, buyer {buyer.address}")

        order = Order(seller.address, Side.SELL, token, 250 * 10**6, 10 * 10**6, 92_000_000, "EUR", ("SEPA",),
                      int(time.time()) + 3600, time.time_ns())
        ad = seller.place(order)["order"]
        say(f"seller's ad {ad['hash']}: 250 tUSD at 0.92 EUR, SEPA")

        trade = buyer.take(ad["hash"], 100 * 10**6)
        trade_id = trade["trade_id"]
        say(f"buyer takes 100 tUSD: trade {trade_id}, {trade['fiat_amount']} EUR to pay, {trade['status']}")

        for what, tx_hash in seller.lock(trade_id):
            say(f"seller {'approves' if what == 'approve' else 'locks the escrow'}: tx {tx_hash}")
        _until(buyer, trade_id, "LOCKED", say, timeout)

        say("buyer pays 92.00 EUR by SEPA, outside the chain, then marks it paid (gasless)")
        say(f"relayer submits mark_paid_by_sig: tx {buyer.relay(trade_id, 'mark_paid')}")
        _until(buyer, trade_id, "PAID", say, timeout)

        say(f"seller sees the money arrive and releases (gasless): tx {seller.relay(trade_id, 'release')}")
        return _until(buyer, trade_id, "RELEASED", say, timeout)


def _until(trader: Client, trade_id: str, status: str, say, timeout: float) -> dict:
    trade = trader.wait_for(trade_id, {status}, timeout)
    say(f"  trade {status} (as the indexer read it from the chain)")
    return trade
