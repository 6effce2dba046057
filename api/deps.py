"""The application's shared parts and FastAPI's dependencies on them."""

from __future__ import annotations

import contextlib
import itertools
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, TypeVar

import psycopg
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from api import auth
from api.chain import ChainGateway
from api.db import writing
from api.errors import Unauthorized, Unavailable
from api.hub import Hub
from api.market import Market
from api.notify import BookCache, publish, record_webhooks
from api.ratelimit import RateLimiter
from api.settings import ApiSettings
from api.telemetry import ChainHead
from api.trading import Changes, Db, LostRace, statements
from api.writer import GroupedWriter

log = logging.getLogger(__name__)
T = TypeVar("T")
WRITE_ATTEMPTS = 8
# A lock timeout or deadlock: from SQLAlchemy, or from a driver the hot path speaks to directly.
_BUSY = (OperationalError, sqlite3.OperationalError, psycopg.OperationalError)


@dataclass
class Platform:
    """Everything a request may need, built once at start-up."""

    settings: ApiSettings
    engine: Engine
    market: Market
    gateway: ChainGateway
    hub: Hub
    books: BookCache = field(init=False)
    limiter: RateLimiter = field(init=False)
    chain_head: ChainHead = field(init=False)
    _write_turn: contextlib.AbstractContextManager = field(init=False)

    def __post_init__(self):
        self.books = BookCache(self.engine)
        self.limiter = RateLimiter(self.settings)
        self.chain_head = ChainHead(self.settings.rpc_url)
        self._writers = threading.local()  # each thread's connection for `write_rows`
        self._kept: list = []  # those connections, to give back on close
        self._grouped: GroupedWriter | None = None  # started by the first grouped write
        self._statements = statements(self.engine.dialect.name)
        # SQLite has one writer at a time; threads of this process queue here, in order, rather
        # than in SQLite's busy handler, which sleeps up to 100 ms between tries.
        self._write_turn = threading.Lock() if self.engine.dialect.name == "sqlite" else contextlib.nullcontext()

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only session, to close before the handler returns: a connection held past it
        could wait on FastAPI serialising the response in the same thread pool whose threads
        wait for connections."""
        with Session(self.engine) as session:
            yield session

    def write(self, work: Callable[[Session, Changes], T]) -> T:
        """Runs `work` in one write transaction, retried when it lost a race for a row; once it
        commits, its live updates go out (its webhook deliveries were queued inside it)."""
        return self._write(work, orm=True)

    def write_rows(self, work: Callable[[Db, Changes], T]) -> T:
        """`write`, handing `work` the database driver's own connection (`trading.Db`): for the
        hot path, order placement, where an ORM session and SQLAlchemy's bookkeeping cost more
        than the database. On SQLite it is a connection kept for this alone (writers take turns)."""
        return self._write(work, orm=False)

    def _write(self, work, orm: bool):
        for attempt in itertools.count(1):
            changes = Changes()
            try:
                with self._write_turn, self._transaction(orm) as handle:
                    result = work(handle, changes)
                    record_webhooks(Db.of(handle.connection()) if orm else handle, changes)
            except LostRace:
                if attempt == WRITE_ATTEMPTS:
                    raise
                time.sleep(0.001 * attempt)
                continue
            except _BUSY as error:  # a lock timeout or a deadlock the database broke
                log.warning("write failed: %s", getattr(error, "orig", error))
                if attempt == WRITE_ATTEMPTS:
                    raise Unavailable("the database is too busy right now; try again") from None
                time.sleep(0.01 * attempt)
                continue
            self.committed(changes)
            return result

    async def write_grouped(self, work: Callable[[Db, Changes], T]) -> T:
        """`write_rows` through the `GroupedWriter`, which commits concurrent work in groups
        (PostgreSQL, where every commit waits for the disk)."""
        if self._grouped is None:
            self._grouped = GroupedWriter(self, _BUSY)
        return await self._grouped.write(work)

    def close(self) -> None:
        """At shutdown: the grouped writer finishes what it was given, kept connections go back."""
        if self._grouped is not None:
            self._grouped.close()
        for connection in self._kept:
            connection.close()
        self._kept.clear()

    def committed(self, changes: Changes) -> None:
        """What follows a commit: the cached books it touched are dropped, its live updates go out."""
        self.books.invalidate(changes.books)
        publish(self.hub, changes)

    def _transaction(self, orm: bool) -> contextlib.AbstractContextManager:
        if orm:
            return writing(self.engine)
        return self.driver_transaction()

    @contextlib.contextmanager
    def driver_transaction(self) -> Iterator[Db]:
        """A transaction on this thread's own connection, taken from the pool once and kept:
        no checkout, ping and SQLAlchemy transaction per request. (SQLite: only the event loop
        places orders, so it is one connection.) A connection that broke is given back, and the
        next transaction takes a new one."""
        connection = getattr(self._writers, "connection", None)
        if connection is None:
            connection = self._writers.connection = self.engine.raw_connection()
            self._kept.append(connection)
        driver = connection.driver_connection
        sqlite = self.engine.dialect.name == "sqlite"
        try:
            if sqlite:
                driver.execute("BEGIN IMMEDIATE")  # the connection runs in autocommit: SQLAlchemy's setting
            yield Db(driver, self._statements)
        except BaseException:
            try:
                driver.execute("ROLLBACK") if sqlite else driver.rollback()
            except _BUSY:  # the connection itself is gone
                self._writers.connection = None
                self._kept.remove(connection)
                connection.invalidate()
            raise
        driver.execute("COMMIT") if sqlite else driver.commit()


async def get_platform(request: Request) -> Platform:
    # Async: FastAPI runs a sync dependency in its thread pool, a hop per request.
    return request.app.state.platform


PlatformDep = Annotated[Platform, Depends(get_platform)]


_bearer = HTTPBearer(auto_error=False, description="the access token from /auth/login")


async def get_caller(
    platform: PlatformDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> auth.Caller:
    return await caller_of(platform, credentials.credentials if credentials else None)


async def caller_of(platform: Platform, access_token: str | None) -> auth.Caller:
    """Who sends `access_token` (from an `Authorization: Bearer` header), or Unauthorized. The
    token is checked here, on the event loop; its session's liveness is read from the database
    only when this process has not checked it for a few seconds, in a thread, so that the event
    loop never waits on the database."""
    if not access_token:
        raise Unauthorized("sign in first: send 'Authorization: Bearer <access token>' from /auth/login")
    caller = auth.authenticated(platform.settings, access_token)
    if not auth.known_live(caller):
        # A session of its own, short: a write route then holds one connection only.
        await run_in_threadpool(auth.check_live, platform.read, caller)
    return caller


def bearer_token(request: Request) -> str | None:
    """The credentials of a request's `Authorization: Bearer ...` header, as `HTTPBearer` reads them."""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    return credentials if scheme.lower() == "bearer" and credentials else None


CurrentTrader = Annotated[auth.Caller, Depends(get_caller)]


def client_ip(request: Request) -> str | None:
    """The client's address (behind a proxy, what its X-Forwarded-For says, when uvicorn trusts it)."""
    return request.client.host if request.client else None


async def get_ordering_trader(request: Request, caller: CurrentTrader, platform: PlatformDep) -> auth.Caller:
    """The signed-in trader, within the rates of orders per address and per IP."""
    await platform.limiter.orders(client_ip(request), caller.address)
    return caller


OrderingTrader = Annotated[auth.Caller, Depends(get_ordering_trader)]
