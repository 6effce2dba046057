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
    settings = Settings.load(**overrides)
    report = read_status(settings)
    if as_json:
        out.print_json(json.dumps(report))
        return
    for line in describe(report):
        out.print(line, highlight=False, soft_wrap=True)


def read_status(settings) -> dict:
    """What `orrange status` shows, as JSON-ready data (amounts as decimal strings)."""
    from indexer.errors import RpcError
    from indexer.rpc import RpcClient

    rpc = RpcClient(settings.rpc_url, timeout=5, max_attempts=1)
    try:
        chain_id = int(rpc.request("eth_chainId"), 16)
        head = int(rpc.request("eth_blockNumber"), 16)
        report = _read_database(settings.database_url, chain_id)
        for entry in report["escrowed"]:
            entry["symbol"], entry["decimals"] = _token_metadata(rpc, entry["token"])
    except RpcError as error:
        raise UsageError(f"cannot read the chain at {settings.rpc_url} ({error}); set --rpc or ORRANGE_RPC_URL") from None
    finally:
        rpc.close()
    indexer = report.pop("indexer_state")
    return {
        "chain_id": chain_id,
        "rpc_url": settings.rpc_url,
        "head_block": head,
        "indexer": None if indexer is None else {
            "indexed_block": indexer.indexed_block, "finalized_block": indexer.finalized_block,
            "lag_blocks": max(head - indexer.indexed_block, 0),
            "seconds_since_update": round(time.time() - indexer.updated_at, 1),
        },
        **report,
    }


def _read_database(database_url: str, chain_id: int) -> dict:
    from sqlalchemy import func, inspect, make_url
    from sqlmodel import Session, select

    from api.models import Trade
    from indexer.db import make_engine
    from indexer.escrow import Status
    from indexer.models import Escrow, IndexerState

    open_escrows = [status.name for status in Status if status != Status.NONE and not status.is_terminal]  # held
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").exists():  # or connecting creates it
        raise UsageError(f"there is no database at {database_url}: set --database-url or ORRANGE_DATABASE_URL")
    engine = make_engine(database_url)
    try:
        try:
            tables = set(inspect(engine).get_table_names())
        except Exception as error:  # noqa: BLE001 - any unreachable or unreadable database, in one line
            raise UsageError(f"cannot read the database {database_url} ({error})") from None
        if "indexer_state" not in tables:
            raise UsageError(f"{database_url} has no indexer tables: has `orrange index` run against it?")
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

    return {
        "indexer_state": state,
        "open_trades": trades,
        "escrowed": [{"token": token, "symbol": None, "decimals": None, "amount": str(amount), "escrows": count}
                     for token, (amount, count) in sorted(escrowed.items())],
    }


def _token_metadata(rpc, token: str) -> tuple[str | None, int | None]:
    """A token's symbol and decimals, as the chain says (any token an escrow holds, listed or not)."""
    from eth_abi import decode
    from eth_abi.exceptions import DecodingError

    from api.chain import encode_call
    from indexer.errors import RpcError
    from indexer.escrow import ETH

    def view(name: str, kind: str):
        result = rpc.request("eth_call", [{"to": token, "data": encode_call(f"{name}()", [], [])}, "latest"])
        return decode([kind], bytes.fromhex(result[2:]))[0]

    if token == ETH:
        return "ETH", 18
    try:
        return view("symbol", "string"), view("decimals", "uint8")
    except (RpcError, DecodingError, ValueError):
        return None, None  # no ERC-20 metadata: shown as base units of the address


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
