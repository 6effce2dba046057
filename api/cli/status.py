"""`orrange status`: the platform at a glance, read from its database and the chain."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import Json, UsageError, format_units, out
from api.lifecycle import TradeStatus

app = typer.Typer()
OPEN_TRADES = [status for status in TradeStatus if not status.is_final]


@app.command()
def status(
    database_url: Annotated[str | None, typer.Option(help="Overrides ORRANGE_DATABASE_URL.")] = None,
    rpc_url: Annotated[str | None, typer.Option("--rpc", help="Overrides ORRANGE_RPC_URL.")] = None,
    as_json: Json = False,
) -> None:
    """Show the chain's head, the indexer's lag, open trades and escrowed value per token.

    Read from the platform's database (the indexer's tables and the API's trades) and the chain's
    RPC, so it works whether or not the API runs."""
    from indexer.settings import Settings

    overrides = {key: value for key, value in {"database_url": database_url, "rpc_url": rpc_url}.items() if value}
    settings = Settings(**overrides)
    report = read_status(settings)
    if as_json:
        out.print_json(json.dumps(report))
        return
    for line in describe(report):
        out.print(line, highlight=False, soft_wrap=True)


def read_status(settings) -> dict:
    """What `orrange status` shows, as JSON-ready data (amounts as decimal strings)."""
    from sqlalchemy import func, inspect, make_url
    from sqlmodel import Session, select

    from api.models import Trade
    from indexer.db import make_engine
    from indexer.deployment import Deployment, DeploymentNotFound
    from indexer.errors import RpcError
    from indexer.escrow import Status
    from indexer.models import Escrow, IndexerState
    from indexer.rpc import RpcClient

    rpc = RpcClient(settings.rpc_url, timeout=5, max_attempts=1)
    try:
        chain_id = int(rpc.request("eth_chainId"), 16)
        head = int(rpc.request("eth_blockNumber"), 16)
    except RpcError as error:
        raise UsageError(f"cannot read the chain at {settings.rpc_url} ({error}); set --rpc or ORRANGE_RPC_URL") from None
    finally:
        rpc.close()
    try:
        tokens = {token.address.lower(): token for token in Deployment.load(chain_id, settings.deployments_dir).tokens}
    except DeploymentNotFound:
        tokens = {}  # amounts in base units, tokens by address

    open_escrows = [status.name for status in Status if status != Status.NONE and not status.is_terminal]  # held
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").exists():  # or connecting creates it
        raise UsageError(f"there is no database at {settings.database_url}: set --database-url or ORRANGE_DATABASE_URL")
    engine = make_engine(settings.database_url)
    try:
        try:
            tables = set(inspect(engine).get_table_names())
        except Exception as error:  # noqa: BLE001 - any unreachable or unreadable database, in one line
            raise UsageError(f"cannot read the database {settings.database_url} ({error})") from None
        if "indexer_state" not in tables:
            raise UsageError(f"{settings.database_url} has no indexer tables: has `orrange index` run against it?")
        with Session(engine) as session:
            state = session.get(IndexerState, chain_id)
            escrowed: dict[str, list[int]] = {}  # token -> [amount, escrows]
            rows = session.exec(
                select(Escrow.token, Escrow.amount).where(Escrow.chain_id == chain_id, Escrow.status.in_(open_escrows))
            )
            for token, amount in rows:  # summed here: SQLite keeps uint256 as text
                total = escrowed.setdefault(token, [0, 0])
                total[0] += amount
                total[1] += 1
            trades = None
            if "trades" in tables:  # the API's tables: absent where only the indexer ran
                counts = dict(session.exec(
                    select(Trade.status, func.count()).where(Trade.status.in_(OPEN_TRADES)).group_by(Trade.status)
                ).all())
                trades = {str(status): counts.get(status, 0) for status in OPEN_TRADES}
    finally:
        engine.dispose()

    def token_report(address: str, amount: int, count: int) -> dict:
        token = tokens.get(address.lower())
        return {"token": address, "symbol": token.symbol if token else None,
                "decimals": token.decimals if token else None, "amount": str(amount), "escrows": count}

    return {
        "chain_id": chain_id,
        "rpc_url": settings.rpc_url,
        "head_block": head,
        "indexer": None if state is None else {
            "indexed_block": state.indexed_block, "finalized_block": state.finalized_block,
            "lag_blocks": max(head - state.indexed_block, 0),
            "seconds_since_update": round(time.time() - state.updated_at, 1),
        },
        "open_trades": trades,
        "escrowed": [token_report(address, amount, count) for address, (amount, count) in sorted(escrowed.items())],
    }


def describe(report: dict) -> list[str]:
    lines = [f"chain     {report['chain_id']} at {report['rpc_url']}: head block {report['head_block']:,}"]
    indexer = report["indexer"]
    if indexer is None:
        lines.append("indexer   has not indexed this chain yet")
    else:
        lines.append(f"indexer   block {indexer['indexed_block']:,}, {indexer['lag_blocks']:,} behind the head "
                     f"(final up to {indexer['finalized_block']:,}), last step {indexer['seconds_since_update']:,} s ago")
    trades = report["open_trades"]
    if trades is None:
        lines.append("trades    no API tables in this database")
    else:
        counts = ", ".join(f"{count} {status}" for status, count in trades.items() if count)
        lines.append(f"trades    {sum(trades.values())} open" + (f": {counts}" if counts else ""))
    held = [
        (f"{format_units(int(entry['amount']), entry['decimals'])} {entry['symbol']}" if entry["symbol"]
         else f"{entry['amount']} base units of {entry['token']}")
        + f" ({entry['escrows']} escrow{'s' if entry['escrows'] != 1 else ''})"
        for entry in report["escrowed"]
    ]
    lines.append(f"escrowed  {'; '.join(held)}" if held else "escrowed  nothing: no open escrow")
    return lines
