"""Storage: raw events, the read model, recent block hashes, the undo log and the
checkpoint, written in ONE database transaction per batch (SQLite or PostgreSQL).

A batch that was already stored is skipped event by event, so writing it again changes
nothing; a crash between batches leaves the previous checkpoint and its data intact.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from typing import Any, NamedTuple

import msgspec
from sqlalchemy import and_, delete, event, select, tuple_, update
from sqlalchemy.engine import Connection, Engine

from indexer.decode import Event
from indexer.handlers import CLAIMABLE, CONTRACT, ESCROW, FEE_POOL, BatchState, EscrowKey, apply_all
from indexer.models import (
    BlockRecord,
    Claimable,
    Escrow,
    EscrowContract,
    EventRecord,
    FeePool,
    IndexerState,
    UndoRecord,
    Uint256,
    sqlite_uint256,
)

log = logging.getLogger(__name__)

_TABLES = {
    ESCROW: Escrow.__table__,
    CLAIMABLE: Claimable.__table__,
    FEE_POOL: FeePool.__table__,
    CONTRACT: EscrowContract.__table__,
}
_KEY_COLUMNS = {
    ESCROW: ("contract", "trade_id"),
    CLAIMABLE: ("contract", "token", "account"),
    FEE_POOL: ("contract", "token"),
    CONTRACT: ("contract",),
}
_CHUNK = 500  # keys per IN (...) query
_EVENT_COLUMNS = ", ".join(column.name for column in EventRecord.__table__.columns)  # `_event_rows`' order


class _Upsert(NamedTuple):
    sql: str  # PostgreSQL: the statement, over one array a column
    as_tuple: Callable[[dict], tuple]  # a row dict -> its parameters
    head: str  # SQLite: the statement before VALUES, and after it (`sqlite_rows`)
    tail: str


@dataclass(frozen=True, slots=True)
class BlockHeader:
    number: int
    hash: str
    parent_hash: str
    timestamp: int
    logs_bloom: str = ""

    @classmethod
    def from_rpc(cls, block: dict) -> BlockHeader:
        return cls(
            number=int(block["number"], 16),
            hash=block["hash"].lower(),
            parent_hash=block["parentHash"].lower(),
            timestamp=int(block["timestamp"], 16),
            logs_bloom=block.get("logsBloom", ""),
        )


def tune_sqlite(engine: Engine) -> None:
    """WAL (readers don't block the writer), NORMAL sync (safe with WAL against a killed
    process), and a busy timeout so the API and the indexer can share the file.

    (16 KiB pages would cut a backfill's writing CPU by 14%, but quadruple what each of the
    API's small transactions writes to the log: placing orders at 1,000/s went from p95 19 ms
    to 108 ms. The default 4 KiB stays.)"""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(connection, _record):
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA cache_size=-65536")  # 64 MiB: the escrows' indexes stay in memory
        cursor.execute("PRAGMA wal_autocheckpoint=16384")  # fewer checkpoints (each one syncs) while backfilling
        # When SQLite starts the log over, a longer one is cut back to this (see _Checkpointer).
        cursor.execute(f"PRAGMA journal_size_limit={_Checkpointer.LIMIT}")
        cursor.close()


class Store:
    def __init__(self, engine: Engine, chain_id: int):
        self.engine = engine
        self.chain_id = chain_id
        postgres = engine.dialect.name == "postgresql"
        mark = "%s" if postgres else "?"
        self._upsert_sql = {}
        for table in (*_TABLES.values(), BlockRecord.__table__, IndexerState.__table__):
            name = table.name
            columns = [column.name for column in table.columns]
            keys = [column.name for column in table.primary_key.columns]
            updates = ", ".join(f"{column} = excluded.{column}" for column in columns if column not in keys)
            uints = [] if postgres else [i for i, column in enumerate(table.columns) if isinstance(column.type, Uint256)]
            head = f"INSERT INTO {table.name} ({', '.join(columns)})"
            tail = f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"
            sql = ""
            if postgres:  # one statement per table and batch: each column's values as one array
                arrays = ", ".join(f"%b::{column.type.compile(dialect=engine.dialect)}[]" for column in table.columns)
                sql = f"{head} SELECT * FROM unnest({arrays}){tail}"
            self._upsert_sql[name] = _Upsert(sql, _tuple_maker(columns, uints), head, tail)
        self._postgres = postgres
        # COPY ... (FORMAT BINARY) statements and their columns' type names (varchar, numeric...).
        self._copy_sql = {
            table.name: (
                f"COPY {table.name} ({', '.join(table.columns.keys())}) FROM STDIN (FORMAT BINARY)",
                [column.type.compile(dialect=engine.dialect).split("(")[0].lower() for column in table.columns],
            )
            for table in (EventRecord.__table__, Escrow.__table__)
        }
        self._events_head = f"INSERT INTO events ({_EVENT_COLUMNS})"
        self._undo_sql = (
            f"INSERT INTO undo_log (chain_id, block_number, seq, table_name, key, image) VALUES ({', '.join([mark] * 6)})"
        )
        # The statements every batch runs, straight to the driver (SQLAlchemy's per-statement
        # work cost more than these small statements themselves).
        self._stored_sql = (
            f"SELECT block_number, log_index FROM events WHERE chain_id = {mark} AND block_number BETWEEN {mark} AND {mark}"
        )
        self._finalize_sql = (
            f"UPDATE escrows SET final = true WHERE chain_id = {mark} AND NOT final AND updated_block <= {mark}"
        )
        self._prune_sql = [
            f"DELETE FROM blocks WHERE chain_id = {mark} AND number < {mark}",
            f"DELETE FROM undo_log WHERE chain_id = {mark} AND block_number < {mark}",
        ]
        database = engine.url.database
        sqlite_file = engine.dialect.name == "sqlite" and database and database != ":memory:"
        self._checkpointer = _Checkpointer(database) if sqlite_file else None

    # --- reading ---------------------------------------------------------------------------

    def checkpoint(self) -> IndexerState | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(IndexerState.__table__).where(IndexerState.chain_id == self.chain_id)
            ).first()
        return IndexerState(**row._mapping) if row else None

    def block_hashes(self, numbers: Iterable[int]) -> dict[int, str]:
        table = BlockRecord.__table__
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(table.c.number, table.c.hash).where(
                    table.c.chain_id == self.chain_id, table.c.number.in_(list(numbers))
                )
            )
            return {number: block_hash for number, block_hash in rows}

    # --- writing ---------------------------------------------------------------------------

    def write_batch(
        self,
        events: Sequence[Event],
        *,
        to_block: int,
        to_hash: str | None,
        head: int,
        blocks: Sequence[BlockHeader] = (),
        undo_from: int,
        confirmations: int,
        reorg_depth: int,
    ) -> int:
        """Stores `events` (all of blocks up to `to_block`) and what they change, and moves the
        checkpoint to `to_block`, in one transaction. Returns how many events were new."""
        with self.engine.begin() as conn:
            batch = self._prepare(conn, events, None, to_block=to_block, to_hash=to_hash, head=head, blocks=blocks,
                                  undo_from=undo_from, confirmations=confirmations, reorg_depth=reorg_depth)  # fmt: skip
            self._execute(conn, batch)
        self._committed()
        return len(batch.events)

    @contextmanager
    def pipeline(self) -> Iterator[BatchPipeline]:
        """A writer for consecutive batches whose SQL runs in a thread of its own while the next
        batch is folded here (the database driver lets go of the interpreter lock while it
        works, so the two overlap). Every batch is still one transaction, committed in order;
        leaving the block waits for the last, and raises what a batch's transaction raised."""
        pipeline = BatchPipeline(self)
        try:
            yield pipeline
        except BaseException:
            pipeline.close(raise_failure=False)
            raise
        pipeline.close(raise_failure=True)

    def _prepare(
        self, conn: Connection, events: Sequence[Event], overlay: BatchState | None, *, to_block: int,
        to_hash: str | None, head: int, blocks: Sequence[BlockHeader], undo_from: int, confirmations: int,
        reorg_depth: int,
    ) -> _Batch:
        """Folds `events` into the rows they change and renders every statement's parameters.
        Reads through `conn`; `overlay` holds the rows of a batch not yet committed."""
        events = self._not_yet_stored(conn, events)
        state = BatchState(
            self.chain_id,
            load=lambda table, key: self._load(conn, table, key, overlay),
            pools_of=lambda contract: self._pools_of(conn, contract, overlay),
            undo_from=undo_from,
        )
        locked_here = self._prefetch_escrows(conn, state, events, overlay)
        apply_all(state, events)
        finalized = max(0, min(to_block, head - confirmations))
        upserts, new_escrows = {}, []
        for table, keys in state.dirty.items():
            if not keys:
                continue
            rows = state.rows[table]
            if table == ESCROW:
                for key in keys:
                    row = rows[key]
                    row["final"] = row["updated_block"] <= finalized
                if self._postgres:  # the escrows locked in this batch are new rows: COPY them in
                    as_tuple = self._upsert_sql[ESCROW].as_tuple
                    new_escrows = [as_tuple(rows[key]) for key in keys & locked_here]
                    keys = keys - locked_here
                    if not keys:
                        continue
            upserts[table] = self._upsert_params(table, [self._row(table, key, rows[key]) for key in keys])
        return _Batch(
            events=events,
            event_rows=self._event_rows(events),
            new_escrows=new_escrows,
            upserts=upserts,
            undo_rows=self._undo_rows(state.undo),
            blocks=[{"chain_id": self.chain_id, "number": b.number, "hash": b.hash, "parent_hash": b.parent_hash,
                     "timestamp": b.timestamp} for b in blocks],  # fmt: skip
            finalized=finalized,
            prune_below=head - reorg_depth,
            checkpoint={"chain_id": self.chain_id, "indexed_block": to_block, "indexed_hash": to_hash,
                        "finalized_block": finalized, "head_block": head, "updated_at": time.time()},  # fmt: skip
            state=state,
        )

    def _execute(self, conn: Connection, batch: _Batch) -> None:
        """Writes a prepared batch in the caller's transaction."""
        if self._postgres:
            # A commit lost to a server crash loses its checkpoint with it, and the indexer
            # indexes those blocks again: no need to wait for the disk on every batch.
            conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
        elif self._checkpointer:
            conn.exec_driver_sql("PRAGMA wal_autocheckpoint=0")  # the checkpointer's job
        if batch.event_rows:
            self._write_events(conn, batch.event_rows)
        if batch.new_escrows:
            self._copy(conn, Escrow.__table__, batch.new_escrows)
        for table, params in batch.upserts.items():
            self._upsert(conn, table, params)
        if batch.undo_rows:
            conn.exec_driver_sql(self._undo_sql, batch.undo_rows)
        if batch.blocks:
            self._upsert_rows(conn, BlockRecord.__tablename__, batch.blocks)
        self._finalize(conn, batch.finalized)
        self._prune(conn, batch.prune_below)
        self._upsert_rows(conn, IndexerState.__tablename__, [batch.checkpoint])

    def _committed(self) -> None:
        if self._checkpointer:
            self._checkpointer.poke()

    def rollback(self, ancestor: int, ancestor_hash: str) -> int:
        """Undoes everything recorded after block `ancestor` (a reorganisation replaced those
        blocks) and moves the checkpoint back to it. Returns how many events were removed."""
        undo = UndoRecord.__table__
        with self.engine.begin() as conn:
            records = conn.execute(
                select(undo.c.table_name, undo.c.key, undo.c.image)
                .where(undo.c.chain_id == self.chain_id, undo.c.block_number > ancestor)
                .order_by(undo.c.block_number.desc(), undo.c.seq.desc())
            ).all()
            for table_name, key_json, image_json in records:  # newest first: the last write wins
                self._restore(conn, table_name, tuple(json.loads(key_json)), None if image_json is None else json.loads(image_json))
            removed = conn.execute(
                delete(EventRecord.__table__).where(
                    EventRecord.chain_id == self.chain_id, EventRecord.block_number > ancestor
                )
            ).rowcount
            for table in (undo, BlockRecord.__table__):
                block_column = table.c.block_number if table is undo else table.c.number
                conn.execute(delete(table).where(table.c.chain_id == self.chain_id, block_column > ancestor))
            state = IndexerState.__table__
            finalized = conn.execute(select(state.c.finalized_block).where(state.c.chain_id == self.chain_id)).scalar()
            conn.execute(
                update(state)
                .where(state.c.chain_id == self.chain_id)
                .values(
                    indexed_block=ancestor,
                    indexed_hash=ancestor_hash,
                    finalized_block=min(finalized or 0, ancestor),
                    updated_at=time.time(),
                )
            )
        log.warning("reorg: rolled back to block %d, %d events removed", ancestor, removed)
        return removed

    # --- internals -------------------------------------------------------------------------

    def _not_yet_stored(self, conn: Connection, events: Sequence[Event]) -> list[Event]:
        if not events:
            return []
        stored = set(
            conn.exec_driver_sql(self._stored_sql, (self.chain_id, events[0].block_number, events[-1].block_number))
        )
        return [item for item in events if item.position not in stored] if stored else list(events)

    def _prefetch_escrows(
        self, conn: Connection, state: BatchState, events: Sequence[Event], overlay: BatchState | None
    ) -> set[EscrowKey]:
        """Loads the escrows `events` change into `state`, in a few queries; returns the keys of
        those they lock, which are new (a trade id is locked once, and its row is not stored
        before its Locked event is)."""
        locked_here, wanted = set(), set()
        for e in events:
            trade_id = e.args.get("trade_id")
            if trade_id is not None:
                (locked_here if e.name == "Locked" else wanted).add((e.contract, trade_id))
        wanted -= locked_here
        for key in locked_here:
            state.rows[ESCROW][key] = None
        if overlay is not None:
            pending = overlay.rows[ESCROW]
            for key in wanted & pending.keys():
                state.rows[ESCROW][key] = _copy(pending[key])
            wanted -= pending.keys()
        table = Escrow.__table__
        keys = sorted(wanted)
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            rows = conn.execute(
                select(table).where(
                    table.c.chain_id == self.chain_id,
                    tuple_(table.c.contract, table.c.trade_id).in_(chunk),
                )
            )
            for row in rows:
                state.rows[ESCROW][(row.contract, row.trade_id)] = dict(row._mapping)
        for key in wanted:
            state.rows[ESCROW].setdefault(key, None)
        return locked_here

    def _load(self, conn: Connection, table_name: str, key: tuple, overlay: BatchState | None = None) -> Any:
        if overlay is not None and key in overlay.rows[table_name]:
            return _copy(overlay.rows[table_name][key])
        table = _TABLES[table_name]
        clauses = [table.c.chain_id == self.chain_id] + [
            table.c[column] == value for column, value in zip(_KEY_COLUMNS[table_name], key)
        ]
        row = conn.execute(select(table).where(and_(*clauses))).first()
        if row is None:
            return None
        if table_name in (CLAIMABLE, FEE_POOL):
            return row.amount
        return dict(row._mapping)

    def _pools_of(self, conn: Connection, contract: str, overlay: BatchState | None = None) -> dict[tuple, int]:
        table = FeePool.__table__
        rows = conn.execute(
            select(table.c.token, table.c.amount).where(table.c.chain_id == self.chain_id, table.c.contract == contract)
        )
        pools = {(contract, token): amount for token, amount in rows}
        if overlay is not None:
            pools.update((key, amount) for key, amount in overlay.rows[FEE_POOL].items() if key[0] == contract)
        return pools

    def _row(self, table_name: str, key: tuple, value: Any) -> dict:
        if table_name in (CLAIMABLE, FEE_POOL):
            return {"chain_id": self.chain_id, **dict(zip(_KEY_COLUMNS[table_name], key)), "amount": value}
        return value

    def _upsert_params(self, table_name: str, rows: list[dict]):
        """The parameters of `table_name`'s upsert for `rows`, as the driver takes them: SQLite, a
        tuple a row (executemany); PostgreSQL, a list a column (one statement over arrays)."""
        as_tuple = self._upsert_sql[table_name].as_tuple
        params = [as_tuple(row) for row in rows]
        return tuple(list(column) for column in zip(*params)) if self._postgres else params

    def _upsert(self, conn: Connection, table_name: str, params) -> None:
        """Insert-or-update straight through the driver: the hot path of a backfill, where
        SQLAlchemy's per-row parameter processing would cost more than the database."""
        upsert = self._upsert_sql[table_name]
        if self._postgres:
            conn.exec_driver_sql(upsert.sql, params)
        else:
            sqlite_rows(conn, upsert.head, params, upsert.tail)

    def _upsert_rows(self, conn: Connection, table_name: str, rows: list[dict]) -> None:
        self._upsert(conn, table_name, self._upsert_params(table_name, rows))

    def _event_rows(self, events: Sequence[Event]) -> list[tuple]:
        encode, chain_id = msgspec.json.encode, self.chain_id
        return [
            (chain_id, e.block_number, e.log_index, e.block_hash, e.tx_hash, e.contract, e.name,
             e.args.get("trade_id"), encode(e.args).decode())
            for e in events
        ]  # fmt: skip

    def _write_events(self, conn: Connection, rows: list[tuple]) -> None:
        if self._postgres:
            self._copy(conn, EventRecord.__table__, rows)
        else:
            sqlite_rows(conn, self._events_head, rows)

    def _copy(self, conn: Connection, table, rows: list[tuple]) -> None:
        """PostgreSQL: inserts `rows` (tuples in the table's column order) with COPY, the fastest
        way in, in its binary format (no text to render here or to parse in the server). A row
        that is already there fails the whole transaction (its primary key)."""
        sql, types = self._copy_sql[table.name]
        with conn.connection.driver_connection.cursor() as cursor:
            with cursor.copy(sql) as copy:
                copy.set_types(types)
                for row in rows:
                    copy.write_row(row)

    def _restore(self, conn: Connection, table_name: str, key: tuple, image: Any) -> None:
        table = _TABLES[table_name]
        if image is None:
            clauses = [table.c.chain_id == self.chain_id] + [
                table.c[column] == value for column, value in zip(_KEY_COLUMNS[table_name], key)
            ]
            conn.execute(delete(table).where(and_(*clauses)))
        else:
            self._upsert_rows(conn, table_name, [self._row(table_name, key, image)])

    def _undo_rows(self, undo: list[tuple[int, str, tuple, Any]]) -> list[tuple]:
        # A block is written by one batch only (a rollback deletes its records), so the
        # position in the batch is unique within the block.
        encode, chain_id = msgspec.json.encode, self.chain_id
        return [
            (chain_id, block, seq, name, encode(key).decode(), None if image is None else encode(image).decode())
            for seq, (block, name, key, image) in enumerate(undo)
        ]

    def _finalize(self, conn: Connection, finalized: int) -> None:
        """Marks final the rows earlier batches left unsettled (the partial index on `NOT final`
        keeps this cheap: settled rows are not in it)."""
        conn.exec_driver_sql(self._finalize_sql, (self.chain_id, finalized))

    def _prune(self, conn: Connection, below: int) -> None:
        """Forgets block hashes and undo images no reorganisation within reach can need."""
        if below <= 0:
            return
        for sql in self._prune_sql:
            conn.exec_driver_sql(sql, (self.chain_id, below))


@dataclass(slots=True)
class _Batch:
    """A batch folded and rendered, ready for its transaction."""

    events: list[Event]
    event_rows: list[tuple]
    new_escrows: list[tuple]  # PostgreSQL: escrows locked in the batch, in the table's column order
    upserts: dict[str, Any]  # table -> the upsert's parameters
    undo_rows: list[tuple]
    blocks: list[dict]
    finalized: int
    prune_below: int
    checkpoint: dict
    state: BatchState  # the rows as they are once it commits: the next batch reads them here


class BatchPipeline:
    """See `Store.pipeline`: batches are folded in the caller's thread and written, in order, by
    a thread of their own. Folding batch k+1 reads rows through batch k (written meanwhile)
    and the database, which by then holds every batch before k."""

    def __init__(self, store: Store):
        self._store = store
        self._queue: queue.Queue = queue.Queue(1)
        # Handing over batch k+1 waits until batch k-1 is committed: the writer is at most one
        # batch behind the one it writes, and the database holds all that the overlay does not.
        self._turns = threading.Semaphore(2)
        self._pending: BatchState | None = None  # the last batch handed over, maybe not yet committed
        self._failure: BaseException | None = None
        # Each side keeps one connection for the whole pipeline: no pool check-out and ping per batch.
        self._reader = store.engine.connect()
        self._thread = threading.Thread(target=self._write_all, name="indexer-writer", daemon=True)
        self._thread.start()

    def write(self, events: Sequence[Event], **where) -> int:
        """Folds `events` (the keywords are `Store.write_batch`'s) and hands them to the writer;
        returns how many were new."""
        self._turns.acquire()
        self._raise_failure()
        store = self._store
        try:
            batch = store._prepare(self._reader, events, self._pending, **{"blocks": (), **where})
        finally:
            self._reader.rollback()  # the next batch reads what has been committed by then
        self._pending = batch.state
        self._queue.put(batch)
        return len(batch.events)

    def close(self, raise_failure: bool) -> None:
        """Waits for the batches handed over (so nothing else writes meanwhile)."""
        self._queue.put(None)
        self._thread.join()
        self._reader.close()
        if raise_failure:
            self._raise_failure()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    def _write_all(self) -> None:
        store = self._store
        conn = None
        with ExitStack() as held:
            while (batch := self._queue.get()) is not None:
                if self._failure is None:
                    try:
                        if conn is None:
                            conn = held.enter_context(store.engine.connect())
                        with conn.begin():
                            store._execute(conn, batch)
                        store._committed()
                    except BaseException as fault:  # noqa: BLE001 - raised in the folding thread
                        self._failure = fault
                self._turns.release()


class _Checkpointer:
    """SQLite: copies the write-ahead log into the database file from a thread of its own, at
    most once a second, so that the indexer's writer never stops for it. (Left to itself, SQLite
    makes whichever connection commits past a threshold do it, with its fsync: a sixth of a
    backfill's time.) PASSIVE: it never blocks a reader or the writer.

    It also keeps the log short. SQLite starts the log over only at a write that finds all of
    it copied, which a writer that never pauses (a backfill) never does: the log grew by the
    size of everything written, 100 MB per 100,000 events, gigabytes for a long chain, and
    every write extended the file (the kernel zeroes each new page: a fifth of the writer's
    CPU). So once the log passes LIMIT, a background checkpoint starts at once, and the first
    commit after it ended finishes the job between two transactions, in the committing thread:
    it copies only what was committed meanwhile. That thread's next write starts the log over,
    and `journal_size_limit` cuts the file back to LIMIT. A reader holding an old snapshot can
    keep the log from being copied to its end; then a second later the next round tries again,
    and the log grows meanwhile, as SQLite's would."""

    INTERVAL = 1.0
    LIMIT = 64 << 20  # bytes of log

    def __init__(self, path: str):
        self.path = path
        self._log = f"{path}-wal"
        self._running = threading.Lock()
        self._last = time.monotonic()
        self._copied = False  # a background checkpoint ended since the last one finished here
        self._finished = float("-inf")  # when one last finished here

    def poke(self) -> None:
        """After a commit: starts a checkpoint unless one is running or ran within INTERVAL;
        past LIMIT, starts one at once, or finishes here the one that just ended."""
        if not self._running.acquire(blocking=False):
            return  # one is running: the next commit looks again
        now = time.monotonic()
        # (At most once per INTERVAL: a reader that keeps the log from being copied to its end
        # would otherwise have every other commit wait for a checkpoint here.)
        past = now - self._finished >= self.INTERVAL and self._log_size() > self.LIMIT
        if past and self._copied:
            try:
                self._checkpoint()
            finally:
                self._copied, self._finished = False, now
                self._running.release()
            return
        if not past and now - self._last < self.INTERVAL:
            self._running.release()
            return
        self._last = now
        threading.Thread(target=self._checkpoint_in_background, name="sqlite-checkpoint", daemon=True).start()

    def _log_size(self) -> int:
        try:
            return os.path.getsize(self._log)
        except OSError:  # no log (yet)
            return 0

    def _checkpoint_in_background(self) -> None:
        try:
            self._checkpoint()
        finally:
            self._copied = True
            self._running.release()

    def _checkpoint(self) -> None:
        try:
            connection = sqlite3.connect(self.path, timeout=10)
            try:
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
            finally:
                connection.close()
        except sqlite3.Error as fault:  # the next one will try again; SQLite's log stays valid meanwhile
            log.warning("WAL checkpoint failed: %s", fault)


def sqlite_rows(conn: Connection, head: str, rows: Sequence[tuple], tail: str = "") -> None:
    """SQLite: runs `{head} VALUES (?, ...), (?, ...) ...{tail}` for `rows` (all of one width), a
    few hundred rows a statement. One statement inserts its rows in one call that lets go of
    Python's lock, where executemany takes the lock back for every row: while another thread
    runs Python (the pipeline's fold), each of those waits its turn, up to the interpreter's
    switch interval (5 ms)."""
    if not rows:
        return
    width = len(rows[0])
    chunk = max(1, min(_SQLITE_ROWS, _SQLITE_PARAMETERS // width))
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        conn.exec_driver_sql(f"{head} VALUES {_sqlite_marks(width, len(part))}{tail}", tuple(chain.from_iterable(part)))


_SQLITE_ROWS = 500  # rows a statement: the full ones are prepared once (the driver caches them by their text)


def _sqlite_parameters() -> int:
    """How many parameters one statement may have (32,766 since SQLite 3.32; 999 before)."""
    connection = sqlite3.connect(":memory:")
    try:
        return connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    finally:
        connection.close()


_SQLITE_PARAMETERS = _sqlite_parameters()


@functools.lru_cache(maxsize=64)
def _sqlite_marks(width: int, count: int) -> str:
    row = f"({', '.join('?' * width)})"
    return ", ".join([row] * count)


def _copy(row: Any) -> Any:
    return dict(row) if isinstance(row, dict) else row


def _tuple_maker(columns: list[str], uint_positions: list[int]):
    """row dict -> parameter tuple in `columns` order, uint256 values as SQLite stores them."""
    get = itemgetter(*columns)
    if not uint_positions:
        return get if len(columns) > 1 else lambda row: (row[columns[0]],)

    def as_tuple(row: dict) -> tuple:
        values = list(get(row))
        for position in uint_positions:
            value = values[position]
            if value is not None:
                values[position] = sqlite_uint256(value)
        return tuple(values)

    return as_tuple
