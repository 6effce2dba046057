"""The `orrange` command line."""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from indexer.errors import OrrangeError
from indexer.settings import Settings

app = typer.Typer(
    name="orrange",
    help="Orrange: non-custodial P2P crypto-for-fiat trading. Settings come from ORRANGE_* variables and .env.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)


@app.callback()
def _root() -> None:
    """Orrange: non-custodial P2P crypto-for-fiat trading."""


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(1)


@app.command()
def index(
    once: Annotated[bool, typer.Option("--once", help="Catch up with the chain's head, then exit.")] = False,
    database_url: Annotated[str | None, typer.Option(help="Overrides ORRANGE_DATABASE_URL.")] = None,
    rpc_url: Annotated[str | None, typer.Option(help="Overrides ORRANGE_RPC_URL.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or status line.")] = False,
) -> None:
    """Mirror the escrow's events into the database: backfill, then follow the head."""
    from indexer.db import make_engine, migrate
    from indexer.service import Indexer

    overrides = {key: value for key, value in {"database_url": database_url, "rpc_url": rpc_url}.items() if value}
    logging.basicConfig(
        level=logging.INFO, format="%(message)s", handlers=[RichHandler(console=console, show_path=False)]
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        settings = Settings(**overrides)
        engine = make_engine(settings.database_url)
        migrate(engine)
        indexer = Indexer(settings, engine)
    except OrrangeError as error:
        raise _fail(str(error)) from None
    except Exception as error:  # noqa: BLE001 - a bad URL or an unreachable database, said in one line
        raise _fail(f"cannot start the indexer: {error}") from None

    reporter = _Reporter(quiet)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with reporter:
            if once:
                indexer.sync(reporter.update)
            else:
                indexer.run(stop, reporter.update)
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
        settings = ApiSettings(**overrides)
        application = create_app(settings, run_jobs=jobs)
    except OrrangeError as error:
        raise _fail(str(error)) from None
    except Exception as error:  # noqa: BLE001 - an unreachable RPC or database, said in one line
        raise _fail(f"cannot start the API: {error}") from None
    console.print(f"Orrange API on http://{host}:{port} (docs at /docs), chain {application.state.platform.market.chain_id}")
    uvicorn.run(application, host=host, port=port, log_level="info", ws_ping_interval=20)


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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
