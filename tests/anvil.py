"""A private anvil node for tests that need a chain of their own (scripts, indexer): the one
`orrange up` starts (api/devnet.py), on a free port, with free gas."""

import socket
from contextlib import contextmanager

from api import devnet


def rpc(url: str, method: str, params: list | None = None):
    """`devnet.rpc`, patient enough for a test's heavier calls (mining many blocks, a reorg)."""
    return devnet.rpc(url, method, params, timeout=10.0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def anvil(*args: str):
    """Starts `anvil` on a free port and yields its HTTP URL; stops it afterwards. Gas is free
    (base fee 0), so a test can send with gas price 0 and balances move by exactly what it sends."""
    port = free_port()
    process = devnet.start_anvil(port, "--block-base-fee-per-gas", "0", *args)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
