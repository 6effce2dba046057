"""A private anvil node for tests that need a chain of their own (scripts, indexer)."""

import json
import socket
import subprocess
import time
import urllib.request
from contextlib import contextmanager

from api.devnet import NO_STATES_ON_DISK


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rpc(url: str, method: str, params: list | None = None):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        reply = json.load(response)
    if "error" in reply:
        raise RuntimeError(f"{method}: {reply['error']}")
    return reply["result"]


@contextmanager
def anvil(*args: str):
    """Starts `anvil` on a free port and yields its HTTP URL; stops it afterwards. Gas is free
    (base fee 0), so a test can send with gas price 0 and balances move by exactly what it sends."""
    port = free_port()
    process = subprocess.Popen(
        ["anvil", "--port", str(port), "--silent", "--block-base-fee-per-gas", "0", *NO_STATES_ON_DISK, *args],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                rpc(url, "eth_chainId")
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"anvil did not start: {process.stderr.read().decode()}") from None
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
