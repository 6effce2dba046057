"""What the `orrange` commands share: the consoles, the one-line refusal, the options every
trader command takes, and amounts as people type them (exact: never a float)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from typer.core import TyperGroup

from indexer.errors import OrrangeError

console = Console(stderr=True)  # what happens on the way: progress, transactions, refusals
out = Console()  # the command's result: ids, tables, JSON

DEFAULT_API_URL = "http://127.0.0.1:8000"
DEFAULT_RPC_URL = "http://127.0.0.1:8545"

ApiUrl = Annotated[str, typer.Option("--api", envvar="ORRANGE_API_URL", help="The platform's API.")]
AccountAlias = Annotated[
    str | None,
    typer.Option(
        "--account", "-a", envvar="ORRANGE_ACCOUNT",
        help="The Ape account that signs (`ape accounts list`; TEST::0 to TEST::9 are the local test accounts).",
    ),
]
RpcUrl = Annotated[
    str,
    typer.Option("--rpc", envvar="ORRANGE_RPC_URL", help="The chain's JSON-RPC, for transactions you send yourself."),
]
Json = Annotated[bool, typer.Option("--json", help="Print the API's JSON instead of a summary.")]


def fail(message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(1)


class OneLineErrors(TyperGroup):
    """The root command: any refusal a command raises (an OrrangeError, whose message is meant for
    a person) ends it with one line on stderr and exit status 1, never a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except OrrangeError as error:
            raise fail(str(error)) from None


class UsageError(OrrangeError):
    """A value on the command line that cannot be used."""


def parse_units(text: str, decimals: int, what: str) -> int:
    """`text` (such as "250" or "0.92") in units of 10^-`decimals`, exactly."""
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise UsageError(f"{what} {text!r} is not a number") from None
    if not number.is_finite() or number <= 0:
        raise UsageError(f"{what} must be a positive number, not {text!r}")
    scaled = number.scaleb(decimals)
    if scaled != scaled.to_integral_value():
        raise UsageError(f"{what} {text} has more than {decimals} decimals")
    return int(scaled)


def format_units(amount: int, decimals: int) -> str:
    """Base units as a decimal number without trailing zeros (1500000, 6 -> "1.5")."""
    whole, fraction = divmod(amount, 10**decimals)
    digits = f"{fraction:0{decimals}d}".rstrip("0") if decimals else ""
    return f"{whole:,}.{digits}" if digits else f"{whole:,}"


def trader(api_url: str, account: str | None, rpc_url: str = DEFAULT_RPC_URL):
    """A client of the API that signs as the Ape `account` (without one it only reads public
    data), keeping its login between commands in the CLI's directory (~/.config/orrange)."""
    from api.client import Client, SessionStore
    from api.wallet import Wallet

    sessions = SessionStore(Path(typer.get_app_dir("orrange")) / "sessions.json")
    return Client(api_url, Wallet(account, rpc_url) if account else None, sessions)


def describe_order(client, order: dict) -> str:
    from api.signing import PRICE_DECIMALS

    token = client.token_at(order["token"])
    side = "SELL" if order["side"] == 1 else "BUY"
    left = format_units(int(order["remaining"]), token["decimals"])
    return (f"{side} {left}/{format_units(int(order['amount']), token['decimals'])} {token['symbol']} "
            f"at {format_units(int(order['price']), PRICE_DECIMALS)} {order['fiat']} "
            f"({', '.join(order['payment_methods'])}), {order['status']}")


def describe_trade(client, trade: dict) -> str:
    token = client.token_at(trade["token"])
    notes = [note for note in (trade["flag"], "payment deadline passed" if trade["deadline_passed"] else None) if note]
    return (f"{format_units(int(trade['amount']), token['decimals'])} {token['symbol']} for "
            f"{trade['fiat_amount']} {trade['fiat']} by {trade['payment_method']}, seller {trade['seller']}, "
            f"buyer {trade['buyer']}: {trade['status']}" + "".join(f" ({note})" for note in notes))
