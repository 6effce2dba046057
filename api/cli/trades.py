"""`orrange trade`: each step of a trade, from either side. Steps on the chain wait (unless
--no-wait) until the platform shows the trade in its new state, as the indexer read it."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from api.cli.common import (
    DEFAULT_API_URL, DEFAULT_RPC_URL, AccountAlias, ApiUrl, Json, RpcUrl, console, describe_trade, out, parse_units,
    trader,
)
from api.lifecycle import TradeStatus

app = typer.Typer(help="Trades: take an ad, lock, mark paid, release, cancel, refund, dispute.", no_args_is_help=True)

TradeId = Annotated[str, typer.Argument(help="The trade's id (also its escrow's key).", show_default=False)]
Relay = Annotated[bool, typer.Option(
    help="Gasless: your account signs the action and the platform's relayer sends it. "
         "--no-relay sends the transaction from your account, which pays its gas.")]
Wait = Annotated[bool, typer.Option(help="Wait until the platform shows the trade's new state.")]
Timeout = Annotated[float, typer.Option(min=1, help="Seconds to wait for it.")]


def _say(line: str) -> None:
    console.print(line, highlight=False, soft_wrap=True)


def _settle(client, trade_id: str, statuses: set[TradeStatus], wait: bool, timeout: float) -> None:
    if wait:
        trade = client.wait_for(trade_id, statuses, timeout)
        _say(f"trade {trade_id}: {describe_trade(client, trade)}")


@app.command()
def take(
    order_hash: Annotated[str, typer.Argument(help="The ad's order hash (`orrange order list`).", show_default=False)],
    amount: Annotated[str, typer.Argument(help="How much of its token, in whole tokens (100).", show_default=False)],
    method: Annotated[str | None, typer.Option("--method", "-m", help="The payment method.", show_default="the ad's first")] = None,
    api_url: ApiUrl = DEFAULT_API_URL,
    account: AccountAlias = None,
    as_json: Json = False,
) -> None:
    """Take an amount of an ad; print the trade's id.

    The trade then awaits the seller's lock."""
    with trader(api_url, account) as client:
        order = client.call("GET", f"/orders/{order_hash}")
        decimals = client.token_at(order["token"])["decimals"]
        trade = client.take(order_hash, parse_units(amount, decimals, "the amount"), method)
        if as_json:
            out.print_json(json.dumps(trade))
            return
        _say(f"trade {trade['trade_id']}: {describe_trade(client, trade)}")
        out.print(trade["trade_id"], highlight=False)


@app.command()
def lock(
    trade_id: TradeId,
    wait: Wait = True,
    timeout: Timeout = 120,
    api_url: ApiUrl = DEFAULT_API_URL,
    account: AccountAlias = None,
    rpc_url: RpcUrl = DEFAULT_RPC_URL,
) -> None:
    """Lock the trade's tokens in the escrow (the seller).

    Sent from the seller's account: an approve (ERC-20 tokens), then the lock. The buyer then has
    the payment window to pay."""
    with trader(api_url, account, rpc_url) as client:
        for what, tx_hash in client.lock(trade_id):
            _say(f"{what}: tx {tx_hash}")
        _settle(client, trade_id, {TradeStatus.LOCKED}, wait, timeout)


def _step(client, trade_id: str, action: str, relay: bool, ends: TradeStatus, wait: bool, timeout: float) -> None:
    if relay:
        _say(f"{action.replace('_', ' ')} relayed: tx {client.relay(trade_id, action)}")
    else:
        _say(f"{action.replace('_', ' ')}: tx {client.send_call(trade_id, action)}")
    _settle(client, trade_id, {ends}, wait, timeout)


@app.command()
def paid(
    trade_id: TradeId,
    relay: Relay = True,
    wait: Wait = True,
    timeout: Timeout = 120,
    api_url: ApiUrl = DEFAULT_API_URL,
    account: AccountAlias = None,
    rpc_url: RpcUrl = DEFAULT_RPC_URL,
) -> None:
    """Mark the trade paid (the buyer, having paid the fiat, before the deadline)."""
    with trader(api_url, account, rpc_url) as client:
        _step(client, trade_id, "mark_paid", relay, TradeStatus.PAID, wait, timeout)


@app.command()
def release(
    trade_id: TradeId,
    relay: Relay = True,
    wait: Wait = True,
    timeout: Timeout = 120,
    api_url: ApiUrl = DEFAULT_API_URL,
    account: AccountAlias = None,
    rpc_url: RpcUrl = DEFAULT_RPC_URL,
) -> None:
    """Release the tokens to the buyer, less the fee (the seller, having received the fiat)."""
    with trader(api_url, account, rpc_url) as client:
        _step(client, trade_id, "release", relay, TradeStatus.RELEASED, wait, timeout)


@app.command()
def cancel(
    trade_id: TradeId,
    relay: Relay = True,
    wait: Wait = True,
    timeout: Timeout = 120,
    api_url: ApiUrl = DEFAULT_API_URL,
    account: AccountAlias = None,
    rpc_url: RpcUrl = DEFAULT_RPC_URL,
) -> None:
    """Call the trade off.

    Before the lock either party can, and the amount returns to the ad; once locked only the
    buyer can, and the escrow gives everything back to the seller."""
    with trader(api_url, account, rpc_url) as client:
        if client.trade(trade_id)["status"] == TradeStatus.AWAITING_LOCK:
            trade = client.authorized("POST", f"/trades/{trade_id}/cancel")
            _say(f"trade {trade_id}: {describe_trade(client, trade)}")
        else:
            _step(client, trade_id, "cancel", relay, TradeStatus.REFUNDED, wait, timeout)


@app.command()
def refund(
    trade_id: TradeId,
    wait: Wait = True,
    timeout: Timeout = 120,
    api_url: ApiUrl = DEFAULT_API_URL,
    account: AccountAlias = None,
    rpc_url: RpcUrl = DEFAULT_RPC_URL,
) -> None:
    """Take back an escrow not marked paid by its deadline (the seller, from their account)."""
    with trader(api_url, account, rpc_url) as client:
        _step(client, trade_id, "refund", False, TradeStatus.REFUNDED, wait, timeout)


@app.command()
def dispute(
    trade_id: TradeId,
    wait: Wait = True,
    timeout: Timeout = 120,
    api_url: ApiUrl = DEFAULT_API_URL,
    account: AccountAlias = None,
    rpc_url: RpcUrl = DEFAULT_RPC_URL,
) -> None:
    """Send a paid trade to the arbiter, who splits the escrow (either party, from their account)."""
    with trader(api_url, account, rpc_url) as client:
        _step(client, trade_id, "dispute", False, TradeStatus.DISPUTED, wait, timeout)


@app.command()
def show(
    trade_id: TradeId,
    api_url: ApiUrl = DEFAULT_API_URL,
    account: AccountAlias = None,
    as_json: Json = False,
) -> None:
    """Show one of your trades: amounts, parties, state."""
    with trader(api_url, account) as client:
        trade = client.trade(trade_id)
        if as_json:
            out.print_json(json.dumps(trade))
            return
        out.print(f"{trade['trade_id']}  {describe_trade(client, trade)}", highlight=False, soft_wrap=True)


@app.command("list")
def list_trades(
    status: Annotated[TradeStatus | None, typer.Option(help="Only trades in this state.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200, help="At most this many, newest first.")] = 50,
    api_url: ApiUrl = DEFAULT_API_URL,
    account: AccountAlias = None,
    as_json: Json = False,
) -> None:
    """List your trades, newest first."""
    with trader(api_url, account) as client:
        params = {"limit": limit} | ({"status": status.value} if status else {})
        trades = client.authorized("GET", "/trades", params=params)
        if as_json:
            out.print_json(json.dumps(trades))
            return
        if not trades:
            console.print("no trades")
        for trade in trades:
            out.print(f"{trade['trade_id']}  {describe_trade(client, trade)}", highlight=False, soft_wrap=True)
