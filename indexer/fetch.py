"""Fetching: escrow logs over block ranges, sized to what the provider will serve.

The range starts at `initial_range` blocks, shrinks when the provider refuses it (too many
results, a response too large, a timeout; honouring the range it suggests, when it makes
sense), follows the density of the logs so one response stays near `target_logs`, and
grows again while responses come back fast. A single block too large to answer at once is
split by event type, then read from its receipts: never fatal.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import multiprocessing
import os
import queue
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from indexer.decode import Event, EventDecoder
from indexer.errors import ChainMoved, RangeTooLarge
from indexer.rpc import RpcClient
from indexer.store import BlockHeader

log = logging.getLogger(__name__)


_PR_SET_PDEATHSIG = 1


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
        initial_range: int = 10,
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


def fetch_headers(rpc: RpcClient, numbers: list[int]) -> list[BlockHeader | None]:
    """The headers of blocks `numbers`, in order; None for a block the node doesn't have."""
    headers: list[BlockHeader | None] = []
    for start in range(0, len(numbers), 100):
        calls = [("eth_getBlockByNumber", [hex(n), False]) for n in numbers[start : start + 100]]
        headers.extend(BlockHeader.from_rpc(block) if block else None for block in rpc.batch(calls))
    return headers


def decode_logs(decoder: EventDecoder, rpc: RpcClient, logs: list[dict], headers: list[BlockHeader] = ()) -> list[Event]:
    """Decoded escrow events, each with its block's timestamp (from `headers`, or fetched for
    providers that don't put `blockTimestamp` in logs)."""
    events = [event for event in map(decoder.decode, logs) if event is not None]
    missing = sorted({event.block_number for event in events if event.timestamp is None})
    if missing:
        stamps = {header.number: header.timestamp for header in headers}
        wanted = [number for number in missing if number not in stamps]
        stamps.update((header.number, header.timestamp) for header in fetch_headers(rpc, wanted) if header)
        for event in events:
            event.timestamp = stamps[event.block_number]
    return events


def linked_headers(rpc: RpcClient, first: int, last: int, parent: str | None, logs: list[dict]) -> list[BlockHeader]:
    """The headers of blocks first..last, checked as following the head checks them: each links
    to the one before (the first to `parent`, when known), and every log names its block's hash.
    Raises ChainMoved when they don't (a reorganisation while they were read)."""
    headers = fetch_headers(rpc, list(range(first, last + 1)))
    if None in headers:
        raise ChainMoved(f"the node has no block {first + headers.index(None)} any more")
    for header in headers:
        if parent is not None and header.parent_hash != parent:
            raise ChainMoved(f"block {header.number} does not build on the block before it")
        parent = header.hash
    hashes = {header.number: header.hash for header in headers}
    for item in logs:
        number = int(item["blockNumber"], 16)
        if number in hashes and item["blockHash"].lower() != hashes[number]:
            raise ChainMoved(f"a log of block {number} names another block")
    return headers


@dataclass(frozen=True)
class FetchJob:
    """What a fetching process needs to know (picklable)."""

    rpc_url: str
    rpc_timeout: float
    rpc_max_attempts: int
    addresses: list[str]
    abi: list
    initial_range: int
    max_range: int
    window_from: int  # blocks from here on may still be replaced: their headers are read and kept
    parent_hash: str | None = None  # the stored hash of the block before the first one, if kept


@dataclass(frozen=True)
class FetchStats:
    requests: int
    retries: int
    shrinks: int


BATCH_EVENTS = 2_000  # events handed to the writer at once (whole blocks; a denser block goes whole)


def decoded_ranges(
    job: FetchJob, start: int, end: int, stats: list[FetchStats]
) -> Iterator[tuple[int, int, list[Event], list[BlockHeader]]]:
    """(start, end, events, headers) for consecutive ranges covering [start, end], none holding
    much more than BATCH_EVENTS events; `headers` are those of the range's blocks from
    `job.window_from` on, linked and checked against the logs. The counters are appended to
    `stats` at the end."""
    rpc = RpcClient(job.rpc_url, timeout=job.rpc_timeout, max_attempts=job.rpc_max_attempts)
    decoder = EventDecoder(job.abi)
    fetcher = LogFetcher(rpc, job.addresses, decoder.topics, initial_range=job.initial_range, max_range=job.max_range)
    # The hash of the last header read: the next one must build on it.
    parent = job.parent_hash if job.window_from <= start else None
    for log_range in _read_ahead(fetcher.ranges(start, end)):
        for first, last, logs in block_batches(log_range, BATCH_EVENTS):
            headers = []
            if last >= job.window_from:
                headers = linked_headers(rpc, max(first, job.window_from), last, parent, logs)
                parent = headers[-1].hash
            yield first, last, decode_logs(decoder, rpc, logs, headers), headers
    stats.append(FetchStats(rpc.requests_sent, rpc.retries, fetcher.shrinks))


def block_batches(log_range: LogRange, size: int) -> Iterator[tuple[int, int, list[dict]]]:
    """Splits a range's logs (in chain order) into (first block, last block, logs) of about `size`
    logs, cut only between blocks, so that the writer starts on a dense range before all of it is
    decoded, and its transactions stay small."""
    logs, first, begin = log_range.logs, log_range.start, 0
    while len(logs) - begin > size:
        cut = begin + size
        block = logs[cut - 1]["blockNumber"]
        while cut < len(logs) and logs[cut]["blockNumber"] == block:
            cut += 1
        if cut == len(logs):
            break
        last = int(block, 16)
        yield first, last, logs[begin:cut]
        first, begin = last + 1, cut
    yield first, log_range.end, logs[begin:]


def _read_ahead(items: Iterator, depth: int = 2) -> Iterator:
    """Runs `items` in a thread, `depth` items ahead of the consumer (so the node serves the next
    range while this one is decoded, or the next batch arrives while this one is written). The
    thread ends when `items` does, or soon after the consumer stops asking."""
    channel: queue.Queue = queue.Queue(depth)
    finished = object()
    abandoned = threading.Event()

    def offer(item) -> bool:
        while not abandoned.is_set():
            try:
                channel.put(item, timeout=0.1)
                return True
            except queue.Full:
                pass
        return False

    def produce():
        try:
            for item in items:
                if not offer(item):
                    return
            offer(finished)
        except BaseException as fault:  # noqa: BLE001 - raised again in the consumer
            offer(fault)

    threading.Thread(target=produce, name="indexer-read-ahead", daemon=True).start()
    try:
        while (item := channel.get()) is not finished:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        abandoned.set()


def _fetch_worker(job: FetchJob, start: int, end: int, pipe) -> None:
    """In a child process: fetches and decodes [start, end] range by range into `pipe`."""
    _leave_the_parent_alone(pipe.fileno())
    # Decoding makes many short-lived, acyclic objects: reference counting frees them, and
    # the cyclic collector, run every few hundred allocations, would double the cost.
    gc.disable()
    try:
        stats: list[FetchStats] = []
        for first, last, events, headers in decoded_ranges(job, start, end, stats):
            pipe.send((first, last, [event.as_tuple() for event in events], headers))
        pipe.send(stats[0])
    except BaseException as fault:  # noqa: BLE001 - handed to the parent, which raises it
        pipe.send(fault)
    finally:
        pipe.close()


def _leave_the_parent_alone(keep_fd: int) -> None:
    """A forked child shares its parent's open files: its database connections, the pipe's
    other end. It closes them (so that a killed parent's connections really close, and its
    transaction rolls back), and dies with the parent rather than outlive it."""
    try:
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the broken pipe ends the child instead
        pass
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)
    os.closerange(3, keep_fd)
    os.closerange(keep_fd + 1, os.sysconf("SC_OPEN_MAX"))


def fetch_in_process(
    job: FetchJob, start: int, end: int, stats: list[FetchStats]
) -> Iterator[tuple[int, int, list[Event], list[BlockHeader]]]:
    """Yields `decoded_ranges`' (start, end, events, headers) for [start, end], fetched and decoded in
    a child process: on two cores, decoding the next range runs beside writing this one (a
    thread would share one interpreter lock with the writer). A thread here receives the
    child's batches while this one is written, so the child never waits on a full pipe. The
    child's counters are appended to `stats` at the end."""
    context = multiprocessing.get_context("fork")
    # The child's collector leaves the parent's objects alone: no copy-on-write storm, and no
    # finalizer in the child touching a file it closed.
    gc.freeze()
    receiver, sender = context.Pipe(duplex=False)
    worker = context.Process(target=_fetch_worker, args=(job, start, end, sender), daemon=True, name="indexer-fetch")
    worker.start()
    gc.unfreeze()
    sender.close()

    def batches_received():
        while not isinstance(message := receiver.recv(), FetchStats):
            if isinstance(message, BaseException):
                raise message
            first, last, rows, headers = message
            yield first, last, [Event(*row) for row in rows], headers
        stats.append(message)

    batches = _read_ahead(batches_received(), depth=4)
    try:
        yield from batches
    finally:
        batches.close()
        if worker.is_alive():
            # SIGKILL, not SIGTERM: the child is a fork of this process and carries its signal
            # handlers (a host application's, or Ape's and schemathesis' in the tests), which
            # could keep it alive, or stop what belongs to this process. It owns nothing to clean up.
            worker.kill()
        # No timeout: it would not hold (the child closed its end of the sentinel pipe with the
        # parent's other files, so a join waits for the child's exit), and SIGKILL makes that sure.
        worker.join()
        # The receiving thread ends at the pipe's end of file; the pipe closes with the last
        # reference to it (closing it here could pull it from under that thread's read).
