"""The indexer: backfills what is deep enough to be settled over block ranges, then follows
the head block by block, checking each block's parent against the hash it stored, rolling
back what a reorganisation orphaned.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

import msgspec
from sqlalchemy.engine import Engine

from indexer import leader
from indexer.decode import Event, EventDecoder, bloom_bits, bloom_may_contain
from indexer.deployment import Deployment
from indexer.errors import LeadershipLost, ReorgTooDeep, RpcError
from indexer.fetch import FetchJob, FetchStats, LogFetcher, fetch_headers, fetch_in_process
from indexer.rpc import RpcClient
from indexer.settings import Settings
from indexer.store import BlockHeader, Store

log = logging.getLogger(__name__)

FOLLOW_BATCH = 64  # blocks per header request while catching up with the head


@dataclass
class Progress:
    """What the indexer has done so far, for status lines and metrics."""

    head: int = 0
    indexed: int = 0
    backfill_from: int = 0
    backfill_to: int = 0
    events: int = 0
    reorgs: int = 0
    active: bool = False  # whether this process is the chain's active indexer (see indexer.leader)
    started: float = field(default_factory=time.monotonic)

    @property
    def lag(self) -> int:
        return max(0, self.head - self.indexed)

    @property
    def events_per_second(self) -> float:
        return self.events / max(time.monotonic() - self.started, 1e-9)


class Indexer:
    def __init__(self, settings: Settings, engine: Engine, rpc: RpcClient | None = None):
        self.settings = settings
        self.rpc = rpc or RpcClient(settings.rpc_url, timeout=settings.rpc_timeout, max_attempts=settings.rpc_max_attempts)
        try:
            self.chain_id = int(self.rpc.request("eth_chainId"), 16)
        except RpcError as fault:
            raise RpcError(f"cannot reach the chain at {settings.rpc_url}: {fault}") from None
        self.deployment = Deployment.load(self.chain_id, settings.deployments_dir)
        escrow = self.deployment.escrow
        self.decoder = EventDecoder(escrow.abi)
        self.addresses = [escrow.address]
        self.start_block = escrow.block
        self.fetcher = LogFetcher(
            self.rpc,
            self.addresses,
            self.decoder.topics,
            initial_range=settings.initial_range,
            max_range=settings.max_range,
        )
        self.store = Store(engine, self.chain_id)
        self.leadership = leader.lock_for(engine.url, self.chain_id)
        self.progress = Progress()
        self.fetch_stats: list[FetchStats] = []  # from the backfill's fetching processes
        self._bloom_bits = [bloom_bits(bytes.fromhex(address[2:])) for address in self.addresses]
        self._heads = None  # the newHeads subscription, once open
        self._ws_url = _websocket_url(settings)
        self._ws_retry_at = 0.0
        self._announced = 0  # the highest block newHeads announced

    # --- the loop ------------------------------------------------------------------------------

    def sync(self, on_progress: Callable[[Progress], None] | None = None) -> Progress:
        """Indexes everything up to the current head, then returns."""
        head = self.head()
        checkpoint = self.store.checkpoint()
        if checkpoint and not self._is_canonical(checkpoint, min(head, checkpoint.indexed_block)):
            self._handle_reorg(checkpoint.indexed_block)  # before a backfill builds on an orphan
            checkpoint = self.store.checkpoint()
        indexed = checkpoint.indexed_block if checkpoint else self.start_block - 1
        self.progress.head, self.progress.indexed = head, indexed
        if head - indexed > FOLLOW_BATCH:  # far behind: the pipeline, all the way to the head
            self.backfill(indexed + 1, head, head, checkpoint.indexed_hash if checkpoint else None, on_progress)
        self.follow(head, on_progress)
        return self.progress

    def run(
        self, stop: threading.Event, on_progress: Callable[[Progress], None] | None = None, *, once: bool = False
    ) -> None:
        """Indexes until `stop` is set (`once`: up to the current head), as the chain's only active
        indexer: while another process indexes it, this one stands by, and takes over when that
        one stops. An RPC or database fault is logged and retried, never fatal; a reorganisation
        deeper than `reorg_depth` stops it."""

        def on_batch(progress: Progress) -> None:
            self.leadership.confirm()
            if on_progress:
                on_progress(progress)

        try:
            while self._lead(stop):
                try:
                    if once:
                        self.sync(on_batch)
                        return
                    self._index(stop, on_batch)
                except LeadershipLost as lost:
                    log.error("%s", lost)
                finally:
                    self.progress.active = False
        finally:
            self.leadership.release()
            if self._heads is not None:
                self._heads.close()
                self._heads = None

    def _lead(self, stop: threading.Event) -> bool:
        """Waits until this process holds the chain's lock (True), or `stop` is set (False)."""
        standing_by = False
        while not stop.is_set():
            try:
                if self.leadership.try_acquire():
                    log.info("indexing chain %d: this process is its active indexer", self.chain_id)
                    self.progress.active = True
                    return True
                if not standing_by:
                    log.info("another indexer is active for chain %d: standing by", self.chain_id)
                    standing_by = True
            except Exception as fault:  # noqa: BLE001 - the database is down: try again
                log.error("cannot take the indexer's lock (%s: %s)", type(fault).__name__, fault)
            stop.wait(self.settings.standby_interval)
        return False

    def _index(self, stop: threading.Event, on_batch: Callable[[Progress], None]) -> None:
        pause = self.settings.poll_interval
        while not stop.is_set():
            try:
                self.leadership.confirm()
                self.sync(on_batch)
                pause = self.settings.poll_interval
            except (ReorgTooDeep, LeadershipLost):
                raise
            except Exception as fault:  # noqa: BLE001 - one bad response must not end the service
                log.error("indexing failed (%s: %s); retrying in %.1fs", type(fault).__name__, fault, pause)
                stop.wait(pause)
                pause = min(pause * 2, 30.0)
                continue
            self.wait_for_head(stop)

    def head(self) -> int:
        head = int(self.rpc.request("eth_blockNumber"), 16)
        waited = time.monotonic()
        while head < self._announced and time.monotonic() - waited < 1.0:
            time.sleep(0.002)  # a node may announce a block a moment before it serves it
            head = int(self.rpc.request("eth_blockNumber"), 16)
        return head

    def wait_for_head(self, stop: threading.Event) -> None:
        """Returns when a new block may be there: at a WebSocket newHeads message, or after a
        poll interval when the node offers no WebSocket (tried again every minute)."""
        if self._ws_url and time.monotonic() >= self._ws_retry_at:
            try:
                if self._heads is None:
                    self._heads = HeadSubscription(self._ws_url)
                    log.info("following new heads over %s", self._ws_url)
                self._announced = max(self._announced, self._heads.wait(timeout=5.0))
                return
            except Exception as fault:  # noqa: BLE001 - poll until the WebSocket comes back
                log.log(logging.WARNING if self.settings.ws_url else logging.INFO,
                        "no newHeads over %s (%s): polling every %ss", self._ws_url, fault, self.settings.poll_interval)  # fmt: skip
                self._heads = None
                self._ws_retry_at = time.monotonic() + 60
        stop.wait(self.settings.poll_interval)

    # --- backfill --------------------------------------------------------------------------------

    def backfill(self, start: int, end: int, head: int, parent_hash: str | None = None, on_progress=None) -> None:
        """Indexes [start, end] range by range, through a pipeline of processes and threads. The
        blocks within `reorg_depth` of `head` could still be replaced: as following the head
        does, their headers are read and linked (to `parent_hash`, block start - 1's stored hash,
        first), their hashes kept, and what they change recorded for a rollback."""
        self.progress.backfill_from, self.progress.backfill_to = start, end
        log.info("backfilling blocks %d..%d", start, end)
        settings = self.settings
        job = FetchJob(
            rpc_url=self.rpc.url,
            rpc_timeout=settings.rpc_timeout,
            rpc_max_attempts=settings.rpc_max_attempts,
            addresses=self.addresses,
            abi=self.deployment.escrow.abi,
            initial_range=settings.initial_range,
            max_range=settings.max_range,
            window_from=head - settings.reorg_depth + 1,
            parent_hash=parent_hash,
        )
        with _collector_paused(), self.store.pipeline() as writer:
            for _first, last, events, headers in fetch_in_process(job, start, end, self.fetch_stats):
                self.progress.events += writer.write(
                    events,
                    to_block=last,
                    to_hash=headers[-1].hash if headers else None,
                    blocks=headers,
                    head=head,
                    undo_from=head - settings.reorg_depth,
                    confirmations=settings.confirmations,
                    reorg_depth=settings.reorg_depth,
                )
                self.progress.indexed = last  # handed to the writer; committed before backfill returns
                if on_progress:
                    on_progress(self.progress)

    # --- following the head ------------------------------------------------------------------------

    def follow(self, head: int, on_progress=None) -> None:
        """Indexes the blocks after the checkpoint up to `head`, each checked against its parent."""
        settings = self.settings
        while True:
            checkpoint = self.store.checkpoint()
            indexed = checkpoint.indexed_block if checkpoint else self.start_block - 1
            if indexed >= head:
                if checkpoint and not self._is_canonical(checkpoint, head):
                    self._handle_reorg(indexed)
                    continue
                return
            numbers = list(range(indexed + 1, min(head, indexed + FOLLOW_BATCH) + 1))
            headers = self._headers(numbers)
            parent = checkpoint.indexed_hash if checkpoint and checkpoint.indexed_hash else None
            if parent is None and indexed >= 0:
                parent = self._headers([indexed])[0].hash
            linked = []
            for header in headers:
                if header is None:  # the node is behind the head it reported
                    break
                if header.parent_hash != parent:
                    break
                linked.append(header)
                parent = header.hash
            if not linked:
                if headers and headers[0] is None:
                    return
                self._handle_reorg(indexed)
                continue
            with _collector_paused():
                events = self._events_of(linked)
                self.progress.events += self.store.write_batch(
                    events,
                    to_block=linked[-1].number,
                    to_hash=linked[-1].hash,
                    head=max(head, linked[-1].number),
                    blocks=linked,
                    undo_from=head - settings.reorg_depth,
                    confirmations=settings.confirmations,
                    reorg_depth=settings.reorg_depth,
                )
            self.progress.indexed = linked[-1].number
            if on_progress:
                on_progress(self.progress)

    def _is_canonical(self, checkpoint, number: int) -> bool:
        """Whether the chain still has the block `number` the indexer stored (True when it
        kept no hash for it). This is how a reorganisation shows when no new block builds on
        the checkpoint yet: after a restart, or onto a chain no longer than ours."""
        if number == checkpoint.indexed_block:
            stored = checkpoint.indexed_hash
        else:
            stored = self.store.block_hashes([number]).get(number)
        if stored is None:
            return True
        [header] = self._headers([number])
        return header is not None and header.hash == stored

    def _events_of(self, headers: list[BlockHeader]) -> list[Event]:
        """The escrow events of these blocks, skipping blocks whose bloom rules them out."""
        wanted = [h for h in headers if any(bloom_may_contain(h.logs_bloom, bits) for bits in self._bloom_bits)]
        if not wanted:
            return []
        filters = [{"address": self.fetcher.addresses, "blockHash": h.hash} for h in wanted]
        try:
            results = self.rpc.batch([("eth_getLogs", [f]) for f in filters])
        except Exception:  # noqa: BLE001 - a refused batch: one block at a time, split if need be
            results = [self.fetcher.block_logs(h.hash, h.number) for h in wanted]
        stamps = {h.number: h.timestamp for h in wanted}
        events = [event for logs in results for event in map(self.decoder.decode, logs) if event is not None]
        for event in events:
            event.timestamp = stamps[event.block_number]
        return events

    def _handle_reorg(self, indexed: int) -> None:
        """The block after the checkpoint doesn't build on it: find the newest block both chains
        share and roll back to it."""
        self.progress.reorgs += 1
        depth = self.settings.reorg_depth
        lowest = max(self.start_block - 1, indexed - depth)
        stored = self.store.block_hashes(range(lowest, indexed + 1))
        for top in range(indexed, lowest - 1, -32):
            numbers = [n for n in range(top, max(lowest, top - 31) - 1, -1)]
            canonical = {h.number: h.hash for h in self._headers(numbers) if h is not None}
            for number in numbers:
                if number not in stored:
                    raise self._too_deep(number + 1)
                if stored[number] == canonical.get(number):
                    self.store.rollback(number, stored[number])
                    return
        raise self._too_deep(lowest)

    def _too_deep(self, kept_from: int) -> ReorgTooDeep:
        return ReorgTooDeep(
            f"chain {self.chain_id} replaced blocks before {kept_from}, deeper than the {self.settings.reorg_depth} "
            "blocks the indexer keeps; re-index from a snapshot or raise reorg_depth"
        )

    # --- helpers -------------------------------------------------------------------------------------

    def _headers(self, numbers: list[int]) -> list[BlockHeader | None]:
        return fetch_headers(self.rpc, numbers)


@contextmanager
def _collector_paused():
    """Pauses the cyclic garbage collector around a batch: its many short-lived, acyclic
    objects are freed by reference counting, and collections every few hundred allocations
    would cost as much as the work itself."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def _websocket_url(settings: Settings) -> str | None:
    """The WebSocket to follow heads on: the one configured, else the RPC's own (most nodes
    serve both on one port); none when ws_url is "off"."""
    if settings.ws_url:
        return None if settings.ws_url == "off" else settings.ws_url
    for http, ws in (("http://", "ws://"), ("https://", "wss://")):
        if settings.rpc_url.startswith(http):
            return ws + settings.rpc_url.removeprefix(http)
    return None


class HeadSubscription:
    """`eth_subscribe("newHeads")` over a WebSocket (the websockets package's sync client)."""

    def __init__(self, url: str):
        from websockets.sync.client import connect

        self._socket = connect(url, open_timeout=10, ping_interval=None)  # our own timeouts notice a dead node
        self._socket.send('{"jsonrpc":"2.0","id":1,"method":"eth_subscribe","params":["newHeads"]}')
        reply = self._socket.recv(timeout=10)
        if '"result"' not in reply:
            raise ConnectionError(f"newHeads subscription refused: {reply[:200]}")

    def wait(self, timeout: float) -> int:
        """Waits for new heads; returns the highest block number announced (0 if none came)."""
        highest = 0
        try:
            message = self._socket.recv(timeout=timeout)
            while True:
                head = msgspec.json.decode(message).get("params", {}).get("result", {})
                highest = max(highest, int(head.get("number", "0x0"), 16))
                message = self._socket.recv(timeout=0)  # drain what else has queued up
        except TimeoutError:
            pass
        return highest

    def close(self) -> None:
        self._socket.close()
