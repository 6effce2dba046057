"""The `orrange` command line: the platform's commands (chain, deploy, index, serve, up, status,
demo) and the traders' groups (order, trade, escrow), which sign with an Ape account."""

import typer

from api.cli import chain, escrows, orders, platform, status, trades
from api.cli.common import OneLineErrors

app = typer.Typer(
    name="orrange",
    cls=OneLineErrors,
    help="Orrange: non-custodial P2P crypto-for-fiat trading. Settings come from ORRANGE_* variables and .env.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(chain.app)
app.add_typer(platform.app)
app.add_typer(status.app)
app.add_typer(orders.app, name="order")
app.add_typer(trades.app, name="trade")
app.add_typer(escrows.app, name="escrow")


def main() -> None:
    app()
