"""One active indexer per chain and database: however many run (for availability, or embedded
in every API process), one indexes, the others stand by and the first to try after it stops
takes over.

- PostgreSQL: a session advisory lock, `pg_try_advisory_lock(1330794055, <chain id>)` (the
  first key is "ORNG"), held on a connection of its own. The server releases it when that
  connection ends, which a process killed with SIGKILL ends at once; a host that vanishes is
  noticed by TCP keepalives within about 30 s. `pg_locks` shows it, and the connection's
  `application_name` says which process holds it ("orrange-indexer <host> pid <pid>").
- SQLite: an exclusive `flock` on `<database file>-indexer-<chain id>.lock` beside the database
  (the holder's pid written in it), which the kernel releases when the process ends, however
  it ends. SQLite serves one machine, so a file lock is enough; an in-memory database belongs
  to one process and needs no lock.

The active indexer confirms at least every second (between batches) that it still holds the
lock, and stops writing when it has lost it (its PostgreSQL connection broke). A batch begun
just before the loss may still commit; events are keyed by block and log index, so the same
batch written by two indexers is stored once.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from pathlib import Path

import psycopg
from sqlalchemy.engine import URL

from indexer.errors import LeadershipLost

LOCK_CLASS = int.from_bytes(b"ORNG", "big")  # the advisory lock's first key: Orrange's indexers
CONFIRM_EVERY = 1.0  # seconds between checks that the lock is still held


def lock_for(url: URL, chain_id: int) -> PostgresLock | FileLock | ProcessLock:
    """The lock that elects chain `chain_id`'s indexer on the database at `url`."""
    if url.get_backend_name() == "postgresql":
        return PostgresLock(url, chain_id)
    if url.database and url.database != ":memory:":
        return FileLock(Path(f"{url.database}-indexer-{chain_id}.lock"))
    return ProcessLock()


def holder_name() -> str:
    return f"orrange-indexer {socket.gethostname()} pid {os.getpid()}"


class PostgresLock:
    def __init__(self, url: URL, chain_id: int):
        self.conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.key = (LOCK_CLASS, (chain_id + 2**31) % 2**32 - 2**31)  # the chain id as a signed int4
        self._connection: psycopg.Connection | None = None
        self._confirmed_at = 0.0

    def try_acquire(self) -> bool:
        """Takes the lock if no other session holds it; the connection stays open either way."""
        if self._connection is None or self._connection.closed:
            self._connection = psycopg.connect(
                self.conninfo, autocommit=True, connect_timeout=10, application_name=holder_name(),
                keepalives=1, keepalives_idle=10, keepalives_interval=5, keepalives_count=3, tcp_user_timeout=30_000,
            )  # fmt: skip
        held = self._connection.execute("SELECT pg_try_advisory_lock(%s, %s)", self.key).fetchone()[0]
        self._confirmed_at = time.monotonic()
        return bool(held)

    def confirm(self) -> None:
        """Raises LeadershipLost if the lock's connection has ended (and with it the lock)."""
        if time.monotonic() - self._confirmed_at < CONFIRM_EVERY:
            return
        try:
            self._connection.execute("SELECT 1")
        except psycopg.Error as error:
            self.release()
            raise LeadershipLost(f"the connection holding the indexer's lock broke ({error}); standing by") from None
        self._confirmed_at = time.monotonic()

    def release(self) -> None:
        if self._connection is not None:
            # Unlocked first: closing ends the session, and its locks, only once the server's
            # backend has gone, a moment after the client let go.
            with contextlib.suppress(psycopg.Error):
                self._connection.execute("SELECT pg_advisory_unlock_all()")
            self._connection.close()
            self._connection = None


class FileLock:
    def __init__(self, path: Path):
        self.path = path
        self._file = None

    def try_acquire(self) -> bool:
        handle = open(self.path, "a+")  # noqa: SIM115 - open as long as the lock is held
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.truncate(0)
        handle.write(f"{holder_name()}\n")
        handle.flush()
        self._file = handle
        return True

    def confirm(self) -> None:
        """A flock lasts as long as its file is open: nothing can take it away."""

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # releases the flock
            self._file = None


class ProcessLock:
    """For an in-memory database, which no other process can open."""

    def try_acquire(self) -> bool:
        return True

    def confirm(self) -> None:
        pass

    def release(self) -> None:
        pass
