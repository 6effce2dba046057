"""`orrange chain` and `orrange deploy`: a local chain, and the escrow deployed to a chain."""

from __future__ import annotations

import threading
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import DEFAULT_RPC_URL, console, fail
from indexer.deployment import DEFAULT_DIRECTORY
from indexer.escrow import ESCROW_CONTRACTS

app = typer.Typer()


@app.command()
def chain(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8545,
    block_time: Annotated[int, typer.Option(
        min=0, help="Also mine a block every this many seconds, so the chain's clock moves while nobody trades "
                    "(0: only a block per transaction).")] = 1,
) -> None:
    """Run a local chain (anvil); Ctrl-C stops it.

    Its ten accounts, TEST::0 to TEST::9, hold 10,000 ETH each. Deploy the escrow to it with
    `orrange deploy`."""
    from eth_account import Account

    from api import devnet

    url = f"http://127.0.0.1:{port}"
    anvil = devnet.start_anvil(port)
    stop = threading.Event()
    devnet.mine_every(url, block_time, stop)
    console.print(f"[bold]anvil[/bold] on {url} (chain id 31337); Ctrl-C stops it", highlight=False)
    console.print("  accounts (anvil's public test keys, local use only):")
    for number, key in enumerate(devnet.DEV_KEYS):
        console.print(f"    TEST::{number}  {Account.from_key(key).address}", highlight=False)
    try:
        anvil.wait()
        raise fail(f"anvil stopped (exit status {anvil.returncode})")
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        anvil.terminate()
        anvil.wait(timeout=10)
    console.print("stopped: anvil")


EscrowImplementation = Enum("EscrowImplementation", {name: name for name in ESCROW_CONTRACTS}, type=str)


@app.command()
def deploy(
    rpc_url: Annotated[str, typer.Option("--rpc", envvar="ORRANGE_RPC_URL", help="The local chain to deploy to.")] = DEFAULT_RPC_URL,
    network: Annotated[str | None, typer.Option(
        help="An Ape network choice instead of --rpc, for a public chain (ethereum:sepolia:https://...).")] = None,
    account: Annotated[str, typer.Option("--account", "-a", help="The Ape account that deploys and owns the escrow.")] = "TEST::0",
    fee_bps: Annotated[int | None, typer.Option(help="The platform's fee in basis points (at most 100).", show_default="50")] = None,
    treasury: Annotated[str | None, typer.Option(help="Who withdraws the fees.", show_default="the deployer")] = None,
    arbiter: Annotated[str | None, typer.Option(help="Who resolves disputes.", show_default="the deployer")] = None,
    token_cap: Annotated[list[str] | None, typer.Option(
        help="TOKEN:CAP, a token to accept and the largest escrow of it in base units; repeatable.")] = None,
    out: Annotated[Path, typer.Option(envvar="ORRANGE_DEPLOYMENTS_DIR", help="Where to write <chain id>.json.")] = DEFAULT_DIRECTORY,
    contract: Annotated[EscrowImplementation, typer.Option(
        help="The escrow's implementation: Escrow.vy or its Solidity twin, OrrangeEscrow.sol.")] = EscrowImplementation.vyper,
) -> None:
    """Deploy the escrow (`ape run deploy`) and record it for the indexer and the API.

    The record is deployments/<chain id>.json, where `orrange index` and `orrange serve` look. On
    a local chain it also deploys a test stablecoin (tUSD) and gives 100,000 of it to TEST::0 to
    TEST::4."""
    from api import devnet

    options = ["--contract", contract.value, *(["--fee-bps", str(fee_bps)] if fee_bps is not None else []),
               *(["--treasury", treasury] if treasury else []), *(["--arbiter", arbiter] if arbiter else []),
               *(option for cap in token_cap or () for option in ("--token-cap", cap))]
    devnet.deploy(rpc_url, out, network=network or devnet.LOCAL_NETWORK, account=account, options=options,
                  show_output=True)
