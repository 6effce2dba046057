"""Fetching: escrow logs over block ranges, sized to what the provider will serve.

The range starts at `initial_range` blocks, shrinks when the provider refuses it (too many
results, a response too large, a timeout; honouring the range it suggests, when it makes
sense), follows the density of the logs so one response stays near `target_logs`, and
grows again while responses come back fast. A single block too large to answer at once is
split by event type, then read from its receipts: never fatal.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

from indexer.errors import RangeTooLarge
from indexer.rpc import RpcClient

log = logging.getLogger(__name__)


@dataclass(slots=True)
class LogRange:
    start: int
    end: int
    logs: list[dict]


class LogFetcher:
    def __init__(
        self,
        rpc: RpcClient,
        addresses: list[str],
        topics: list[str],
        *,
        initial_range: int = 2_000,
        max_range: int = 100_000,
        target_logs: int = 2_000,
        fast_seconds: float = 1.0,
    ):
        self.rpc = rpc
        self.addresses = [address.lower() for address in addresses]
        self.topics = topics
        self.span = initial_range
        self.max_range = max_range
        self.target_logs = target_logs
        self.fast_seconds = fast_seconds
        self.shrinks = 0

    def ranges(self, start: int, end: int) -> Iterator[LogRange]:
        """Consecutive ranges covering [start, end] with every log of the escrow contracts."""
        position = start
        while position <= end:
            to = min(position + self.span - 1, end)
            began = time.monotonic()
            try:
                logs = self.logs(position, to)
            except RangeTooLarge as refusal:
                self._shrink(position, to, refusal)
                continue
            self._adapt(to - position + 1, len(logs), time.monotonic() - began)
            yield LogRange(position, to, logs)
            position = to + 1

    def logs(self, start: int, end: int) -> list[dict]:
        """Every escrow log in [start, end]; raises RangeTooLarge only for a range of several blocks."""
        try:
            return self.rpc.get_logs(self._filter(fromBlock=hex(start), toBlock=hex(end)))
        except RangeTooLarge:
            if start != end:
                raise
            log.info("block %d is too large for one eth_getLogs: splitting it", start)
            return self._split_block(start)

    def block_logs(self, block_hash: str, number: int) -> list[dict]:
        """Every escrow log of the block with `block_hash` (consistent with that exact block)."""
        try:
            return self.rpc.get_logs(self._filter(blockHash=block_hash))
        except RangeTooLarge:
            return self._split_block(number, block_hash)

    # --- internals ---------------------------------------------------------------------------

    def _filter(self, **where) -> dict:
        return {"address": self.addresses, **where}

    def _shrink(self, start: int, end: int, refusal: RangeTooLarge) -> None:
        asked = end - start + 1
        suggested = refusal.suggested
        if suggested and suggested[0] == start and start <= suggested[1] < end:
            self.span = suggested[1] - start + 1  # the provider's own advice, when it is smaller
        else:
            self.span = max(1, asked // 2)
        self.shrinks += 1
        log.info("eth_getLogs refused %d blocks (%s): trying %d", asked, refusal, self.span)

    def _adapt(self, span: int, count: int, seconds: float) -> None:
        if count > self.target_logs:
            self.span = max(1, span * self.target_logs // count)
        elif seconds < self.fast_seconds and span >= self.span:
            grown = span * 2 if count == 0 else span * self.target_logs // max(count, 1)
            self.span = max(self.span, min(self.max_range, grown, span * 4))

    def _split_block(self, number: int, block_hash: str | None = None) -> list[dict]:
        where = {"blockHash": block_hash} if block_hash else {"fromBlock": hex(number), "toBlock": hex(number)}
        logs: list[dict] = []
        try:
            for topic in self.topics:
                logs.extend(self.rpc.get_logs({**self._filter(**where), "topics": [topic]}))
        except RangeTooLarge:
            log.info("block %d: one event type alone is too large; reading its receipts", number)
            logs = self._logs_from_receipts(number, block_hash)
        return sorted(logs, key=lambda item: int(item["logIndex"], 16))

    def _logs_from_receipts(self, number: int, block_hash: str | None) -> list[dict]:
        block = self.rpc.request("eth_getBlockByHash" if block_hash else "eth_getBlockByNumber",
                                 [block_hash or hex(number), False])  # fmt: skip
        logs = []
        hashes = block["transactions"]
        for start in range(0, len(hashes), 50):
            calls = [("eth_getTransactionReceipt", [tx_hash]) for tx_hash in hashes[start : start + 50]]
            for receipt in self.rpc.batch(calls):
                logs.extend(
                    {**item, "blockTimestamp": block["timestamp"]}
                    for item in receipt["logs"]
                    if item["address"].lower() in self.addresses
                )
        return logs
