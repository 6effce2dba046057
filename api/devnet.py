"""A local platform for development (`orrange up`): anvil, the escrow deployed on it, and the
well-known accounts of anvil's test mnemonic, funded with test USD by the deploy script."""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
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
TRADER_KEYS = DEV_KEYS[1:6]  # the deploy script gives each 100,000 tUSD (and anvil 10,000 ETH)


class DevnetError(OrrangeError):
    """The local chain could not be started or deployed to."""


def _die_with_parent() -> None:
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: no anvil outlives `orrange up`
    except (OSError, AttributeError):
        pass


def rpc(url: str, method: str, params: list | None = None):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)["result"]


def start_anvil(port: int) -> subprocess.Popen:
    """anvil on 127.0.0.1:`port`, mining a block per transaction, answering once it is up."""
    command = ["anvil", "--port", str(port), "--silent"]
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


def mine_every(url: str, seconds: int) -> None:
    """From now on a block every `seconds` too, so the chain's clock moves and deadlines pass
    (after deploying: Ape's deploy misreads receipts under interval mining)."""
    if seconds:
        rpc(url, "evm_setIntervalMining", [seconds])


def deploy(url: str, directory: Path) -> None:
    """`ape run deploy` against the chain at `url` (the escrow, tUSD, funded traders)."""
    env = {**os.environ, "APE_FOUNDRY_HOST": url}
    command = [str(Path(sys.executable).parent / "ape"), "run", "deploy", "--network", "ethereum:local:foundry",
               "--account", "TEST::0", "--out", str(directory)]
    if not (PROJECT / "scripts" / "deploy.py").exists():
        raise DevnetError(f"no scripts/deploy.py under {PROJECT}: run orrange up from a clone of the repository")
    result = subprocess.run(command, env=env, capture_output=True, text=True, cwd=PROJECT)
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        raise DevnetError(f"deploying failed: {lines[-1] if lines else 'no output'}")
