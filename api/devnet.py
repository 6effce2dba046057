"""A local platform for development (`orrange up`): anvil, the escrow deployed on it, and the
well-known accounts of anvil's test mnemonic, funded with test USD by the deploy script."""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from indexer.errors import OrrangeError

# anvil's default mnemonic "test test ... junk": public, for local chains only.
DEV_KEYS = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
]
PROJECT = Path(__file__).resolve().parent.parent  # the clone: Ape's project (contracts/, scripts/)
RELAYER_KEY = DEV_KEYS[9]  # pays the gas of relayed actions
TRADER_KEYS = DEV_KEYS[1:5]  # TEST::1 to 4: the deploy script gives each 100,000 tUSD (and anvil 10,000 ETH)
LOCAL_NETWORK = "ethereum:local:foundry"  # ape-foundry, at APE_FOUNDRY_HOST


class DevnetError(OrrangeError):
    """The local chain could not be started or deployed to."""


def _prctl():
    try:
        return ctypes.CDLL(None).prctl
    except (OSError, AttributeError):  # not Linux
        return None


# Looked up here, once: the forked child, before it runs anvil, then only calls it (loading a
# library there could wait forever on a lock another of the parent's threads held at the fork).
_PRCTL = _prctl()


def _die_with_parent() -> None:
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: no anvil outlives `orrange up` (or a test run)


def rpc(url: str, method: str, params: list | None = None, timeout: float = 5.0):
    """One JSON-RPC call; an error reply raises DevnetError with the node's message."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        reply = json.load(response)
    if "error" in reply:
        raise DevnetError(f"{method}: {reply['error']}")
    return reply["result"]


# Old blocks' states in memory or nowhere: anvil would move them to disk under
# ~/.foundry/anvil/tmp and never remove them, gigabytes a day for a dev chain left running or a
# day of tests, until the disk is full. Without them a state far back can't be read (its
# block and logs still can), which nothing here needs.
NO_STATES_ON_DISK = ("--max-persisted-states", "0")


def start_anvil(port: int, *options: str) -> subprocess.Popen:
    """anvil on 127.0.0.1:`port` (with `options`, anvil's own), mining a block per transaction,
    answering once it is up."""
    command = ["anvil", "--port", str(port), "--silent", *NO_STATES_ON_DISK, *options]
    try:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   preexec_fn=_die_with_parent)
    except FileNotFoundError:
        raise DevnetError("anvil is not on PATH: run `make install` (it comes from npm) or add node_modules/.bin") from None
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            rpc(url, "eth_chainId")
            return process
        except OSError:
            if process.poll() is not None:
                raise DevnetError(f"anvil did not start: {process.stderr.read().decode().strip()}") from None
            if time.monotonic() > deadline:
                process.terminate()
                raise DevnetError("anvil did not answer within 20 s") from None
            time.sleep(0.1)


def mine_every(url: str, seconds: int, stop: threading.Event) -> None:
    """Until `stop` is set, a block every `seconds` too, so the chain's clock moves and deadlines
    pass while nobody trades. Transactions still mine at once: under anvil's own interval (or
    mixed) mining, Ape's deploy misreads receipts."""

    def mine() -> None:
        while not stop.wait(seconds):
            try:
                rpc(url, "evm_mine")
            except OSError:
                return  # the chain has stopped

    if seconds:
        threading.Thread(target=mine, name="miner", daemon=True).start()


def deploy(
    url: str, directory: Path, *, network: str = LOCAL_NETWORK, account: str = "TEST::0", options: Sequence[str] = (),
    show_output: bool = False,
) -> None:
    """`ape run deploy` (the escrow; on a local chain tUSD and funded traders too) to the local
    chain at `url`, or to another Ape `network` choice, recorded in `directory`. With
    `show_output` the script talks to the terminal (its progress, a keyfile account's prompts)."""
    if not (PROJECT / "scripts" / "deploy.py").exists():
        raise DevnetError(f"no scripts/deploy.py under {PROJECT}: run orrange from a clone of the repository")
    if network == LOCAL_NETWORK:
        try:  # else ape-foundry would start a chain of its own, and deploy to it for nothing
            rpc(url, "eth_chainId")
        except OSError as error:
            raise DevnetError(f"no chain answers at {url} ({error}): start one with `orrange chain`") from None
    # Ape's and pydantic's warnings about their own configuration are not the operator's business.
    env = {**os.environ, "APE_FOUNDRY_HOST": url, "PYTHONWARNINGS": "ignore"}
    command = [str(Path(sys.executable).parent / "ape"), "run", "deploy", "--network", network,
               "--account", account, "--out", str(Path(directory).resolve()), *options]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=PROJECT)
    output = bytearray()
    while chunk := os.read(process.stdout.fileno(), 4096):  # as it comes: a prompt has no newline
        output += chunk
        if show_output:
            sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
    process.stdout.close()
    if process.wait() != 0:
        lines = output.decode(errors="replace").strip().splitlines()
        reason = next((line for line in reversed(lines) if "error" in line.lower()), lines[-1] if lines else "no output")
        raise DevnetError(f"deploying failed: {' '.join(reason.split())}")
