"""A lean HTTP/1.1 load client for the benchmarks: keep-alive connections that send requests
prepared as bytes beforehand and read each response by its Content-Length.

The load generator shares this machine's two cores with the server it measures, so every
microsecond it spends is one the server doesn't get: a general client (aiohttp) costs about
ten times what this one does per request.
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlsplit


def request_bytes(url: str, method: str, path: str, body: object = None, headers: dict | None = None) -> bytes:
    """One whole request, ready to write: `body` (if any) as JSON."""
    host = urlsplit(url).netloc
    payload = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


class Connection:
    """One keep-alive connection; `send` returns (status, body). A connection the server closed
    while idle (its keep-alive timeout) is opened again, as a browser does."""

    def __init__(self, url: str):
        self.url = url
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    @classmethod
    async def open(cls, url: str) -> Connection:
        connection = cls(url)
        await connection._connect()
        return connection

    async def _connect(self) -> None:
        parts = urlsplit(self.url)
        self.reader, self.writer = await asyncio.open_connection(parts.hostname, parts.port, limit=1 << 20)

    async def send(self, request: bytes) -> tuple[int, bytes]:
        if self.reader.at_eof():
            self.writer.close()
            await self._connect()
        self.writer.write(request)
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionResetError):  # closed as the request left: once more
            self.writer.close()
            await self._connect()
            self.writer.write(request)
            head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        start = head.find(b"\r\ncontent-length:")
        if start < 0:
            start = head.lower().find(b"\r\ncontent-length:")
        if start < 0:
            raise ConnectionError(f"a response without Content-Length: {head[:200]!r}")
        length = int(head[start + 17 : head.index(b"\r\n", start + 2)])
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


async def connections(url: str, count: int, at_once: int = 200) -> list[Connection]:
    """`count` open connections (opened `at_once` at a time, so the server's backlog holds)."""
    opened: list[Connection] = []
    for start in range(0, count, at_once):
        opened += await asyncio.gather(*(Connection.open(url) for _ in range(min(at_once, count - start))))
    return opened
