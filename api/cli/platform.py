"""The platform's commands: `orrange index`, `serve`, `up` and `demo`."""

from __future__ import annotations

import signal
import threading
import time
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from api.cli.common import DEFAULT_API_URL, DEFAULT_RPC_URL, ApiUrl, RpcUrl, console
from api.cli.common import fail as _fail
from indexer import logs
from indexer.errors import OrrangeError
from indexer.settings import Settings

app = typer.Typer()


@app.command()
def index(
    once: Annotated[bool, typer.Option("--once", help="Catch up with the chain's head, then exit.")] = False,
    database_url: Annotated[str | None, typer.Option(help="Overrides ORRANGE_DATABASE_URL.")] = None,
    rpc_url: Annotated[str | None, typer.Option(help="Overrides ORRANGE_RPC_URL.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or status line.")] = False,
) -> None:
    """Mirror the escrow's events into the database: backfill, then follow the head."""
    from indexer.db import make_engine, migrate
    from indexer.metrics import serve_metrics
    from indexer.service import Indexer

    overrides = {key: value for key, value in {"database_url": database_url, "rpc_url": rpc_url}.items() if value}
    try:
        settings = Settings.load(**overrides)
        logs.configure(settings, console=console)
        engine = make_engine(settings.database_url)
        migrate(engine)
        indexer = Indexer(settings, engine)
        if settings.metrics_port:
            serve_metrics(indexer, settings.metrics_port)
    except OrrangeError as error:
        raise _fail(str(error)) from None
    except Exception as error:  # noqa: BLE001 - a bad URL or an unreachable database, said in one line
        raise _fail(f"cannot start the indexer: {error}") from None

    reporter = _Reporter(quiet or settings.log_format == "json")  # JSON logs: no progress bar among them
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with reporter:
            indexer.run(stop, reporter.update, once=once)
    except KeyboardInterrupt:
        stop.set()
    except OrrangeError as error:
        raise _fail(str(error)) from None
    progress = indexer.progress
    console.print(
        f"indexed to block {progress.indexed:,} (head {progress.head:,}): {progress.events:,} events, "
        f"{progress.events_per_second:,.0f} events/s, {progress.reorgs} reorgs",
        highlight=False,
    )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    database_url: Annotated[str | None, typer.Option(help="Overrides ORRANGE_DATABASE_URL.")] = None,
    rpc_url: Annotated[str | None, typer.Option(help="Overrides ORRANGE_RPC_URL.")] = None,
    jobs: Annotated[bool, typer.Option(help="Run the scheduled jobs (trades following escrows, expiries, webhooks).")] = True,
) -> None:
    """Serve the HTTP and WebSocket API (OpenAPI docs at /docs)."""
    import uvicorn

    from api.app import create_app
    from api.settings import ApiSettings

    overrides = {key: value for key, value in {"database_url": database_url, "rpc_url": rpc_url}.items() if value}
    try:
        settings = ApiSettings.load(**overrides)
        logs.configure(settings, console=console)
        application = create_app(settings, run_jobs=jobs)
    except OrrangeError as error:
        raise _fail(str(error)) from None
    except Exception as error:  # noqa: BLE001 - an unreachable RPC or database, said in one line
        raise _fail(f"cannot start the API: {error}") from None
    console.print(f"Orrange API on http://{host}:{port} (docs at /docs), chain {application.state.platform.market.chain_id}")
    uvicorn.run(application, host=host, port=port, log_config=None, ws_ping_interval=20,
                forwarded_allow_ips=settings.forwarded_allow_ips)


@app.command()
def up(
    port: Annotated[int, typer.Option(help="Port of the API.")] = 8000,
    chain_port: Annotated[int, typer.Option(help="Port of the local chain (anvil).")] = 8545,
    block_time: Annotated[int, typer.Option(min=0, help="Seconds between blocks (0: a block per transaction).")] = 1,
    database_url: Annotated[str, typer.Option(help="Where the platform keeps its state.")] = "sqlite:///orrange-dev.db",
) -> None:
    """Run the whole platform on a local chain; Ctrl-C stops everything.

    Anvil, the escrow and a test stablecoin deployed, the indexer and the API (with its jobs and
    relayer)."""
    import tempfile
    from pathlib import Path

    import uvicorn
    from eth_account import Account

    from api import devnet
    from api.app import create_app
    from api.settings import ApiSettings

    started = time.monotonic()
    chain_url = f"http://127.0.0.1:{chain_port}"
    if database_url.startswith("sqlite:///"):  # a fresh chain needs a fresh database
        for suffix in ("", "-wal", "-shm"):
            Path(database_url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
    deployments = Path(tempfile.mkdtemp(prefix="orrange-up-"))
    stop = threading.Event()
    anvil = None
    try:
        settings = ApiSettings.load(
            database_url=database_url, rpc_url=chain_url, deployments_dir=deployments, confirmations=2,
            siwe_domain=f"localhost:{port}", siwe_uri=f"http://localhost:{port}", relayer_key=devnet.RELAYER_KEY,
            indexer_in_api=True,
        )
        logs.configure(settings, default_level="WARNING", console=console)
        console.print(f"starting anvil on {chain_url} ...")
        anvil = devnet.start_anvil(chain_port)
        console.print("deploying the escrow and tUSD (ape run deploy) ...")
        devnet.deploy(chain_url, deployments)
        devnet.mine_every(chain_url, block_time, stop)
        application = create_app(settings)  # creates the tables, the indexer's too; it runs the indexer
    except OrrangeError as error:
        stop.set()
        if anvil is not None:
            anvil.terminate()
        raise _fail(str(error)) from None

    market = application.state.platform.market
    console.print(f"\n[bold]Orrange is up[/bold] in {time.monotonic() - started:.0f} s", highlight=False)
    console.print(f"  API       http://127.0.0.1:{port}  (docs: http://127.0.0.1:{port}/docs)", highlight=False)
    console.print(f"  chain     {chain_url}  (chain id {market.chain_id})", highlight=False)
    console.print(f"  escrow    {market.escrow}", highlight=False)
    for token in market.tokens.values():
        console.print(f"  token     {token.symbol:<5} {token.address}  ({token.decimals} decimals)", highlight=False)
    console.print(f"  database  {database_url}", highlight=False)
    console.print("  traders (10,000 ETH and 100,000 tUSD each; anvil's public test keys, local use only):", soft_wrap=True)
    for key in devnet.TRADER_KEYS:
        alias = f"TEST::{devnet.DEV_KEYS.index(key)}"
        console.print(f"    {alias}  {Account.from_key(key).address}  {key}", highlight=False, soft_wrap=True)
    console.print("Trade from another terminal: `orrange demo`, or `orrange order place ... --account TEST::1` "
                  "(`orrange --help`). Ctrl-C stops everything.\n", soft_wrap=True)
    try:
        uvicorn.run(application, host="127.0.0.1", port=port, log_config=None)
    finally:
        stop.set()
        anvil.terminate()
        anvil.wait(timeout=10)
        console.print("stopped: API, indexer and anvil")


@app.command()
def demo(api_url: ApiUrl = DEFAULT_API_URL, rpc_url: RpcUrl = DEFAULT_RPC_URL) -> None:
    """Run one whole trade against `orrange up`, step by step.

    TEST::1 sells and TEST::2 buys: ad, take, lock, mark paid and release (both relayed)."""
    from api.demo import run

    trade = run(api_url, rpc_url, say=lambda line: console.print(line, highlight=False, soft_wrap=True))
    console.print(f"[bold]done[/bold]: trade {trade['trade_id']} {trade['status']}", highlight=False)


class _Reporter:
    """A progress bar while backfilling, then a status line at most every few seconds."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.bar = Progress(
            TextColumn("backfill"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(), console=console, transient=True,
        )  # fmt: skip
        self.task = None
        self.last_status = 0.0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.bar.stop()

    def update(self, progress) -> None:
        if self.quiet:
            return
        if progress.indexed < progress.backfill_to:
            if self.task is None:
                self.bar.start()
                total = progress.backfill_to - progress.backfill_from + 1
                self.task = self.bar.add_task("backfill", total=total, rate="")
            self.bar.update(
                self.task,
                completed=progress.indexed - progress.backfill_from + 1,
                rate=f"{progress.events_per_second:,.0f} events/s",
            )
            return
        if self.task is not None:
            self.bar.stop()
            self.task = None
        if time.monotonic() - self.last_status >= 5:
            self.last_status = time.monotonic()
            console.print(
                f"head {progress.head:,} · indexed {progress.indexed:,} · lag {progress.lag} · "
                f"{progress.events:,} events · {progress.events_per_second:,.0f} events/s",
                highlight=False,
            )

