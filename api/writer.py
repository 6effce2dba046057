"""Order placement on PostgreSQL, committed in groups.

A durable commit waits for the disk (about 2 ms here), and a placement that fills a resting
order holds that row until its commit: committed one by one, the placements that cross a
book's best orders queue behind each other's commits, and the losers of each race retry.
`GroupedWriter` places orders one after another on one connection, in a thread of its own,
and commits all that queued up meanwhile in one transaction, as exchanges persist their
matching engine's output: no races among them, one wait for the disk per group. On
PostgreSQL the group goes through psycopg's pipeline: its reads go out together (`GroupView`),
its writes are queued and go out as one statement per kind (`Db.flush`), and they are checked
(each compare-and-set changed its row) once they have come back: three round trips a group,
however many placements it holds. Several API processes take turns, a group at a time (a
PostgreSQL advisory lock): two groups writing at once could each hold a row the other is about
to fill.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from api.errors import ApiError, Unavailable
from api.notify import record_webhooks, webhooks_of
from api.trading import Changes, Db, GroupView, LostRace, OpenOrders, Placement

if TYPE_CHECKING:
    from api.deps import Platform

log = logging.getLogger(__name__)
MAX_GROUP = 64
WRITE_ATTEMPTS = 8
GROUP_LOCK = 0x6F72726F75707321  # the advisory lock a group's transaction holds (PostgreSQL)


class GroupedWriter:
    """Runs write work (`work(db, changes)`, as `Platform.write_rows` takes) one piece after
    another in one thread, and commits each group that queued up in one transaction.

    `work` refuses with an `ApiError` only before it writes anything: a refused order changes
    nothing, and the rest of its group commits. `LostRace` (a take or a cancel in another
    request changed a resting order meanwhile) runs the whole group again; any other failure
    runs each piece of the group alone, so that it fails by itself."""

    def __init__(self, platform: Platform, busy: tuple[type[BaseException], ...]):
        self._platform = platform
        self._busy = busy
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._open_orders = OpenOrders()  # the makers' open orders groups counted lately
        self._thread = threading.Thread(target=self._serve, name="grouped-writer", daemon=True)
        self._thread.start()

    async def write(self, work: Callable[[Db, Changes], Any]) -> Any:
        future = asyncio.get_running_loop().create_future()
        self._queue.put((work, future))
        return await future

    def close(self) -> None:
        """Writes what was queued before, then ends the thread."""
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _serve(self) -> None:
        while (first := self._queue.get()) is not None:
            group = [first]
            while len(group) < MAX_GROUP:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:  # closing: this group, then stop
                    self._queue.put(None)
                    break
                group.append(item)
            try:
                self._write_group(group)
            except BaseException as fault:  # noqa: BLE001 - every caller hears of it; the thread goes on
                for _work, future in group:
                    _resolve(future, fault)

    def _write_group(self, group: list) -> None:
        platform = self._platform
        for attempt in itertools.count(1):
            outcomes = []
            committed = Changes()  # the whole group's
            try:
                with platform.driver_transaction() as plain:
                    # PostgreSQL: through psycopg's pipeline, the group's reads come back in one
                    # round trip (GroupView), its writes go out at the end; then they are checked.
                    db = Db(plain.driver, plain.sql, batch={}) if plain.sql.postgres else plain
                    view = None
                    with db.driver.pipeline() if db.batch is not None else contextlib.nullcontext():
                        if db.sql.postgres:  # one group at a time across processes
                            db.driver.execute(f"SELECT pg_advisory_xact_lock({GROUP_LOCK})")
                            placements = [work for work, _future in group if isinstance(work, Placement)]
                            if placements:  # what they read, read at once (in the lock's round trip)
                                view = GroupView(db, placements, int(time.time()), self._open_orders)
                                db = Db(db.driver, db.sql, batch=db.batch, view=view)
                        for work, future in group:
                            changes = Changes()
                            try:
                                result = work(db, changes)
                            except LostRace:
                                raise
                            except ApiError as refusal:  # refused before it wrote anything
                                outcomes.append((future, refusal))
                                continue
                            committed.orders += changes.orders
                            committed.trades += changes.trades
                            outcomes.append((future, result))
                        db.flush()
                        # The parties' webhooks, looked up with the group's writes (one round trip).
                        hooks = webhooks_of(db, committed) if committed.trades else None
                    db.settle()
                    if hooks is not None:
                        record_webhooks(db, committed, hooks.fetchall())  # the whole group's, in one look-up
            except LostRace:
                if attempt == WRITE_ATTEMPTS:
                    raise
                time.sleep(0.001 * attempt)
                continue
            except self._busy as error:  # a lock timeout or a deadlock the database broke
                log.warning("grouped write failed: %s", error)
                if attempt == WRITE_ATTEMPTS:
                    raise Unavailable("the database is too busy right now; try again") from None
                time.sleep(0.01 * attempt)
                continue
            except Exception:  # noqa: BLE001 - one piece failed unexpectedly: each alone, to fail by itself
                log.exception("a grouped write failed; writing its %d pieces one by one", len(group))
                for work, future in group:
                    try:
                        _resolve(future, platform.write_rows(work))
                    except BaseException as fault:  # noqa: BLE001 - that caller's answer
                        _resolve(future, fault)
                return
            if view is not None:
                view.committed()
            # The group's live updates go out together: a message per book rather than per order
            # (through Redis, one round trip).
            platform.committed(committed)
            for future, outcome in outcomes:
                _resolve(future, outcome)
            return


def _resolve(future: asyncio.Future, outcome: Any) -> None:
    """Hands `outcome` (a result, or an exception to raise) to the request awaiting `future`."""

    def settle():
        if future.done():  # the request was cancelled (its client went away)
            return
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)

    future.get_loop().call_soon_threadsafe(settle)
