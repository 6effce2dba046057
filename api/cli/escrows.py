"""`orrange escrow`: escrows as the chain holds them (the indexer's mirror, public)."""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer

from api.cli.common import DEFAULT_API_URL, AccountAlias, ApiUrl, Json, UsageError, format_units, out, trader

app = typer.Typer(help="Escrows as the chain holds them (public).", no_args_is_help=True)


def _describe(client, escrow: dict) -> str:
    token = client.token_at(escrow["token"])
    deadline = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(escrow["deadline"]))
    amount = f"{format_units(int(escrow['amount']), token['decimals'])} {token['symbol']}"
    settled = "" if escrow["buyer_amount"] is None else (
        f", {format_units(int(escrow['buyer_amount']), token['decimals'])} to the buyer, "
        f"{format_units(int(escrow['seller_amount']), token['decimals'])} back to the seller, "
        f"fee {format_units(int(escrow['fee_taken']), token['decimals'])}")
    return (f"{escrow['status']}: {amount} (fee {format_units(int(escrow['fee']), token['decimals'])}), "
            f"seller {escrow['seller']}, buyer {escrow['buyer']}, deadline {deadline}{settled}"
            f"{'' if escrow['final'] else ' (not final yet)'}")


@app.command()
def show(
    trade_id: Annotated[str, typer.Argument(help="The escrow's key: its trade's id.", show_default=False)],
    api_url: ApiUrl = DEFAULT_API_URL,
    as_json: Json = False,
) -> None:
    """Show one escrow: its deal, its state, where it changed on the chain.

    The deal is what the lock fixed: parties, token, amount, fee, arbiter and deadline."""
    with trader(api_url, None) as client:
        escrow = client.call("GET", f"/escrows/{trade_id}")
        if as_json:
            out.print_json(json.dumps(escrow))
            return
        out.print(f"{escrow['trade_id']}  {_describe(client, escrow)}", highlight=False, soft_wrap=True)
        out.print(f"  arbiter {escrow['arbiter']}; locked in block {escrow['locked_block']:,} (tx {escrow['locked_tx']}), "
                  f"last changed in block {escrow['updated_block']:,} (tx {escrow['updated_tx']})",
                  highlight=False, soft_wrap=True)


@app.command("list")
def list_escrows(
    address: Annotated[str | None, typer.Option(help="Whose escrows (as seller or buyer).", show_default="--account's")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200, help="At most this many, newest first.")] = 50,
    api_url: ApiUrl = DEFAULT_API_URL,
    account: AccountAlias = None,
    as_json: Json = False,
) -> None:
    """List the escrows an address is seller or buyer of, newest first."""
    if address is None and account is None:
        raise UsageError("name whose escrows: --address, or --account (ORRANGE_ACCOUNT)")
    with trader(api_url, None if address else account) as client:
        escrows = client.call("GET", "/escrows", params={"address": address or client.address, "limit": limit})
        if as_json:
            out.print_json(json.dumps(escrows))
            return
        for escrow in escrows:
            out.print(f"{escrow['trade_id']}  {_describe(client, escrow)}", highlight=False, soft_wrap=True)
