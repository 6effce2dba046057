"""`orrange order`: ads, signed by the trader's Ape account (EIP-712) and placed with the API."""

from __future__ import annotations

import json
import time
from enum import StrEnum
from typing import Annotated

import typer

from api.cli.common import (
    DEFAULT_API_URL, AccountAlias, ApiUrl, Json, UsageError, console, describe_order, describe_trade, out,
    parse_units, trader,
)
from api.engine import TimeInForce

app = typer.Typer(help="Ads: place signed orders, cancel them, list them.", no_args_is_help=True)


class SideName(StrEnum):
    sell = "sell"
    buy = "buy"


class StatusName(StrEnum):
    OPEN = "OPEN"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"
    ANY = "ANY"


@app.command()
def place(
    side: Annotated[SideName, typer.Argument(help="sell: you sell the token for fiat; buy: you buy it.")],
    amount: Annotated[str, typer.Argument(help="How much of the token, in whole tokens (250, 0.5).", show_default=False)],
    token: Annotated[str, typer.Argument(help="The token: its symbol (tUSD, ETH) or address.", show_default=False)],
    price: Annotated[str, typer.Option(help="Fiat per whole token (0.92).", show_default=False)],
    fiat: Annotated[str, typer.Option(help="The fiat currency, an ISO 4217 code (EUR).", show_default=False)],
    method: Annotated[list[str], typer.Option("--method", "-m", help="A payment method you accept (SEPA); repeatable.",
                                              show_default=False)],
    min_fill: Annotated[str | None, typer.Option(help="The least one trade may take, in whole tokens.", show_default="any amount")] = None,
    expires_in: Annotated[int, typer.Option(min=60, help="Seconds until the order expires.")] = 86_400,
    time_in_force: Annotated[TimeInForce, typer.Option(
        help="GTC/GTD: what is not matched at once rests in the book; IOC: it is dropped; FOK: all at once or nothing."
    )] = TimeInForce.GTC,
    api_url: ApiUrl = DEFAULT_API_URL,
    account: AccountAlias = None,
    as_json: Json = False,
) -> None:
    """Sign an order (EIP-712) and place it; print its hash.

    It first trades with the best matching orders of the other side (each fill a trade, shown with
    its id), then, with GTC or GTD, what is left rests in the book as an ad."""
    from api.signing import PRICE_DECIMALS, Order, Side

    with trader(api_url, account) as client:
        details = client.token(token)
        order = Order(
            maker=client.address, side=Side.SELL if side == SideName.sell else Side.BUY, token=details["address"],
            amount=parse_units(amount, details["decimals"], "the amount"),
            min_fill=parse_units(min_fill, details["decimals"], "the minimum fill") if min_fill else 0,
            price=parse_units(price, PRICE_DECIMALS, "the price"), fiat=fiat.upper(), payment_methods=tuple(method),
            expiry=int(time.time()) + expires_in, nonce=time.time_ns(),
        )
        placed = client.place(order, time_in_force.value)
        if as_json:
            out.print_json(json.dumps(placed))
            return
        console.print(f"order {describe_order(client, placed['order'])}", highlight=False, soft_wrap=True)
        for trade in placed["trades"]:
            console.print(f"trade {trade['trade_id']}: {describe_trade(client, trade)}", highlight=False, soft_wrap=True)
        out.print(placed["order"]["hash"], highlight=False)


@app.command()
def cancel(
    order_hash: Annotated[str | None, typer.Argument(help="The order's hash.", show_default=False)] = None,
    all_orders: Annotated[bool, typer.Option("--all", help="Cancel every order of yours placed until now.")] = False,
    api_url: ApiUrl = DEFAULT_API_URL,
    account: AccountAlias = None,
) -> None:
    """Cancel one of your orders, or with --all every order you placed until now.

    Trades already made from an order go on. --all raises your nonce floor, so none of those
    orders can ever be placed again."""
    if all_orders == (order_hash is not None):
        raise UsageError("name one order's hash, or --all")
    with trader(api_url, account) as client:
        if all_orders:
            floor = time.time_ns()  # `order place` uses the time in ns as nonce
            cancelled = client.authorized("POST", "/orders/cancel-all", json={"nonce_floor": str(floor)})["cancelled"]
            console.print(f"cancelled {cancelled} open order{'s' if cancelled != 1 else ''}; "
                          "orders signed until now can never be placed again", highlight=False)
            return
        order = client.authorized("DELETE", f"/orders/{order_hash}")
        console.print(f"order {order['hash']} {describe_order(client, order)}", highlight=False, soft_wrap=True)


@app.command("list")
def list_orders(
    token: Annotated[str | None, typer.Option(help="Only this token (symbol or address).")] = None,
    fiat: Annotated[str | None, typer.Option(help="Only this fiat currency (EUR).")] = None,
    side: Annotated[SideName | None, typer.Option(help="Only sell or buy orders.")] = None,
    method: Annotated[str | None, typer.Option("--method", "-m", help="Only orders that accept this payment method.")] = None,
    status: Annotated[StatusName, typer.Option(help="Only orders in this state.")] = StatusName.OPEN,
    maker: Annotated[str | None, typer.Option(help="Only this maker's orders (an address).")] = None,
    mine: Annotated[bool, typer.Option("--mine", help="Only your own orders (those of --account).")] = False,
    limit: Annotated[int, typer.Option(min=1, max=200, help="At most this many, newest first.")] = 50,
    api_url: ApiUrl = DEFAULT_API_URL,
    account: AccountAlias = None,
    as_json: Json = False,
) -> None:
    """List orders, newest first.

    Each line: the hash (to take or cancel the order), side, amount left of the whole, price,
    payment methods, state and maker."""
    with trader(api_url, account if mine else None) as client:
        params = {
            "token": client.token(token)["address"] if token else None, "fiat": fiat.upper() if fiat else None,
            "side": None if side is None else int(side == SideName.sell), "payment_method": method,
            "status": None if status == StatusName.ANY else status.value,
            "maker": client.address if mine else maker, "limit": limit,
        }
        page = client.call("GET", "/orders", params={key: value for key, value in params.items() if value is not None})
        if as_json:
            out.print_json(json.dumps(page))
            return
        if not page["orders"]:
            console.print("no orders")
        for order in page["orders"]:
            out.print(f"{order['hash']}  {describe_order(client, order)}, maker {order['maker']}", highlight=False,
                      soft_wrap=True)
