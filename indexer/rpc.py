"""A small JSON-RPC client for the indexer: keep-alive HTTP, batches, and faults sorted
into the ones worth retrying (with backoff), the ones that mean "ask for less", and the rest.

No web3.py here on purpose: on the hot path (eth_getLogs over large ranges) its formatters
cost more than the request itself.
"""

from __future__ import annotations

import itertools
import logging
import random
import re
import time
import urllib.request
from typing import Any

import msgspec
import requests

from indexer.errors import RangeTooLarge, RpcError, RpcTimeout, TransientRpcError

log = logging.getLogger(__name__)

# What providers say when a getLogs range is too big (geth, erigon, reth, anvil, Alchemy,
# Infura, QuickNode, Ankr, Cloudflare...) or when a response would be too large.
_TOO_LARGE = re.compile(
    r"more than \d+ (results|logs)|too many (results|logs|blocks)|query returned more than|response (size|is too)"
    r"|exceed(s|ed)? .*(limit|size|max)|block range|range (is )?too (large|wide|big)|limit exceeded"
    r"|query timeout|timed? ?out|body (is )?too large|payload too large|is limited to",
    re.IGNORECASE,
)
_RATE_LIMITED = re.compile(r"rate limit|too many requests|capacity|throughput|daily request", re.IGNORECASE)
_NODE_BEHIND = re.compile(r"header not found|unknown block|block not found|missing trie node|not synced", re.IGNORECASE)
_RANGE_HINT = re.compile(r"\[\s*(0x[0-9a-fA-F]+)\s*,\s*(0x[0-9a-fA-F]+)\s*\]")


def classify(error: dict) -> RpcError:
    """Turns a JSON-RPC error object into the exception the caller should see."""
    message = str(error.get("message", error))
    detail = f"{message} (code {error.get('code')})"
    if _RATE_LIMITED.search(message) or error.get("code") == 429:
        return TransientRpcError(detail)
    if _TOO_LARGE.search(message):
        hint = _RANGE_HINT.search(message)
        return RangeTooLarge(detail, (int(hint[1], 16), int(hint[2], 16)) if hint else None)
    if _NODE_BEHIND.search(message) or error.get("code") in (-32603, -32000) and "internal" in message.lower():
        return TransientRpcError(detail)
    return RpcError(detail)


class RpcClient:
    """JSON-RPC over HTTP. `request` and `batch` retry transient faults with exponential
    backoff (and jitter) up to `max_attempts`; `RangeTooLarge` and other errors surface at once."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 30.0,
        max_attempts: int = 12,
        backoff: float = 0.05,
        max_backoff: float = 5.0,
    ):
        self.url = url
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.session = requests.Session()
        # Proxies from the environment, looked up once: per request, the lookup costs more
        # than a local node takes to answer.
        self.session.trust_env = False
        self.session.proxies = urllib.request.getproxies()
        self._ids = itertools.count(1)
        self.requests_sent = 0
        self.retries = 0

    def request(self, method: str, params: list | None = None) -> Any:
        return self._with_retries(lambda: self._call(method, params or []), method)

    def get_logs(self, log_filter: dict) -> list[dict]:
        """`eth_getLogs`; a timeout means the range is too large rather than a fault to retry."""
        return self._with_retries(lambda: self._call("eth_getLogs", [log_filter]), "eth_getLogs", shrink_on_timeout=True)

    def batch(self, calls: list[tuple[str, list]]) -> list[Any]:
        """Sends `calls` in one HTTP request; returns their results in order."""
        if not calls:
            return []
        return self._with_retries(lambda: self._call_batch(calls), f"batch of {len(calls)} {calls[0][0]}")

    def close(self) -> None:
        self.session.close()

    # --- internals ------------------------------------------------------------------------

    def _with_retries(self, attempt, what: str, shrink_on_timeout: bool = False):
        delay = self.backoff
        for number in itertools.count(1):
            try:
                return attempt()
            except TransientRpcError as fault:
                if shrink_on_timeout and isinstance(fault, RpcTimeout):
                    raise RangeTooLarge(f"{what} {fault}") from fault
                if number >= self.max_attempts:
                    raise TransientRpcError(f"{what}: gave up after {number} attempts: {fault}") from fault
                self.retries += 1
                log.warning("rpc %s failed (%s); retry %d in %.2fs", what, fault, number, delay)
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, self.max_backoff)

    def _post(self, payload: dict | list) -> Any:
        self.requests_sent += 1
        try:
            response = self.session.post(
                self.url,
                data=msgspec.json.encode(payload),
                headers={"Content-Type": "application/json"},
                timeout=self.timeout,
            )
        except requests.Timeout as fault:
            raise RpcTimeout(f"timed out after {self.timeout}s") from fault
        except requests.RequestException as fault:  # refused, reset, dropped mid-body
            raise TransientRpcError(f"connection failed: {fault.__class__.__name__}") from fault
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientRpcError(f"HTTP {response.status_code}")
        if response.status_code == 413:
            raise RangeTooLarge("HTTP 413: request or response too large")
        if response.status_code != 200:
            raise RpcError(f"HTTP {response.status_code}: {response.text[:200]}")
        try:
            return msgspec.json.decode(response.content)
        except msgspec.DecodeError as fault:
            raise TransientRpcError("malformed JSON in the response") from fault

    def _call(self, method: str, params: list) -> Any:
        reply = self._post({"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params})
        if not isinstance(reply, dict):
            raise TransientRpcError(f"unexpected reply to {method}")
        if "error" in reply:
            raise classify(reply["error"])
        if "result" not in reply:
            raise TransientRpcError(f"reply to {method} has no result")
        return reply["result"]

    def _call_batch(self, calls: list[tuple[str, list]]) -> list[Any]:
        first = next(self._ids)
        payload = [
            {"jsonrpc": "2.0", "id": first + offset, "method": method, "params": params}
            for offset, (method, params) in enumerate(calls)
        ]
        for _ in calls[1:]:
            next(self._ids)
        replies = self._post(payload)
        if isinstance(replies, dict) and "error" in replies:  # the whole batch refused
            raise classify(replies["error"])
        if not isinstance(replies, list) or len(replies) != len(calls):
            raise TransientRpcError("batch reply does not match the request")
        by_id = {reply.get("id"): reply for reply in replies}
        results = []
        for offset in range(len(calls)):
            reply = by_id.get(first + offset)
            if reply is None:
                raise TransientRpcError("batch reply is missing an answer")
            if "error" in reply:
                raise classify(reply["error"])
            results.append(reply.get("result"))
        return results
