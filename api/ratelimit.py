"""Rate limits on logging in and on placing and taking orders, per client IP and per address.

Fixed windows: a key's window opens with its first request and lasts the rate's period; a
request beyond the rate is refused with a 429 and `Retry-After` (the seconds until the window
ends), and is not counted. With `ORRANGE_REDIS_URL` the counters live in Redis, so every API
process counts against the same limits (one round trip per request: a Lua script checks and
counts all of a request's keys at once); without it, in this process's memory. If Redis stops
answering, requests are let through (and a warning logged): the limits protect the service,
they must not take it down.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import redis
import redis.asyncio

from api.errors import TooManyRequests

if TYPE_CHECKING:
    from api.settings import ApiSettings

log = logging.getLogger(__name__)

_PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_RATE = re.compile(r"\s*(\d+)\s*/\s*(second|minute|hour|day)\s*")
_MEMORY_KEYS = 100_000  # beyond this many counters, windows that ended are swept out
_REDIS_COMPLAINT_SECONDS = 60.0


@dataclass(frozen=True)
class Rate:
    """At most `count` requests per `seconds`."""

    count: int
    seconds: int

    @classmethod
    def parse(cls, text: object) -> object:
        """"30/minute" (or second, hour, day) as a Rate; anything else is left to pydantic's checks."""
        if not isinstance(text, str):
            return text
        match = _RATE.fullmatch(text)
        if match is None or int(match[1]) < 1:
            raise ValueError('a rate is "<count>/<second|minute|hour|day>" with a count of at least 1, such as "30/minute"')
        return cls(int(match[1]), _PERIODS[match[2]])

    @property
    def period(self) -> str:
        return next(name for name, seconds in _PERIODS.items() if seconds == self.seconds)

    def __str__(self) -> str:
        return f"{self.count}/{self.period}"


class MemoryCounters:
    """The counters of one process."""

    def __init__(self) -> None:
        self._windows: dict[str, tuple[int, float]] = {}  # key -> (count, when its window ends)
        self._lock = threading.Lock()

    def hit(self, checks: list[tuple[str, Rate]]) -> tuple[int, float] | None:
        """Counts a request against each key, unless one of them is at its rate already: then
        counts nothing and returns that key's position and the seconds until its window ends."""
        now = time.monotonic()
        with self._lock:
            windows = self._windows
            current = []
            for position, (key, rate) in enumerate(checks):
                count, ends = windows.get(key, (0, 0.0))
                if ends <= now:
                    count, ends = 0, now + rate.seconds
                if count >= rate.count:
                    return position, ends - now
                current.append((key, count, ends))
            for key, count, ends in current:
                windows[key] = (count + 1, ends)
            if len(windows) > _MEMORY_KEYS:
                self._windows = {key: window for key, window in windows.items() if window[1] > now}
        return None

    async def hit_async(self, checks: list[tuple[str, Rate]]) -> tuple[int, float] | None:
        return self.hit(checks)  # no I/O: a few microseconds on the event loop


class RedisCounters:
    """The counters in Redis, shared by every API process that uses it."""

    # KEYS: the counters; ARGV: each one's count and window in milliseconds, in turn.
    _SCRIPT = """
for i, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') >= tonumber(ARGV[2 * i - 1]) then
    return {i - 1, math.max(redis.call('PTTL', key), 1)}
  end
end
for i, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then redis.call('PEXPIRE', key, ARGV[2 * i]) end
end
return false
"""

    def __init__(self, url: str) -> None:
        options = {"socket_timeout": 1.0, "socket_connect_timeout": 1.0}
        self._script = redis.Redis.from_url(url, **options).register_script(self._SCRIPT)
        # For the event loop: it serves other requests while Redis answers (about 0.1 ms of CPU
        # and one round trip per request either way).
        self._async_script = redis.asyncio.Redis.from_url(url, **options).register_script(self._SCRIPT)
        self._complained_at = float("-inf")

    def hit(self, checks: list[tuple[str, Rate]]) -> tuple[int, float] | None:
        """As `MemoryCounters.hit`, in one round trip."""
        try:
            return self._refused(self._script(keys=[key for key, _ in checks], args=self._arguments(checks)))
        except redis.RedisError as error:
            return self._let_through(error)

    async def hit_async(self, checks: list[tuple[str, Rate]]) -> tuple[int, float] | None:
        try:
            refused = await self._async_script(keys=[key for key, _ in checks], args=self._arguments(checks))
        except redis.RedisError as error:
            return self._let_through(error)
        return self._refused(refused)

    @staticmethod
    def _arguments(checks: list[tuple[str, Rate]]) -> list[int]:
        return [value for _, rate in checks for value in (rate.count, rate.seconds * 1000)]

    @staticmethod
    def _refused(reply) -> tuple[int, float] | None:
        return None if reply is None else (reply[0], reply[1] / 1000)

    def _let_through(self, error: redis.RedisError) -> None:
        if time.monotonic() - self._complained_at > _REDIS_COMPLAINT_SECONDS:
            self._complained_at = time.monotonic()
            log.warning("rate limits are off while Redis does not answer: %s", error)


class RateLimiter:
    def __init__(self, settings: ApiSettings) -> None:
        self.settings = settings
        self.enabled = settings.rate_limits
        self.counters = RedisCounters(settings.redis_url) if settings.redis_url else MemoryCounters()
        self.prefix = f"{settings.redis_prefix}rate:"

    def login(self, ip: str | None, address: str | None = None) -> None:
        """A request for a login nonce, or a login (of `address`, when the message names one)."""
        checks = [("login-ip", ip, self.settings.login_rate_per_ip, "login requests from")]
        if address:
            checks.append(("login-address", address, self.settings.login_rate_per_address, "logins of"))
        checks, keys = self._keys(checks)
        if keys:
            self._refuse(checks, self.counters.hit(keys))

    async def orders(self, ip: str | None, address: str) -> None:
        """An order placed or taken by `address` (from the event loop: on the orders' hot path)."""
        checks, keys = self._keys([
            ("orders-ip", ip, self.settings.order_rate_per_ip, "orders from"),
            ("orders-address", address, self.settings.order_rate_per_address, "orders by"),
        ])  # fmt: skip
        if keys:
            self._refuse(checks, await self.counters.hit_async(keys))

    def _keys(self, checks: list[tuple[str, str | None, Rate, str]]) -> tuple[list, list[tuple[str, Rate]]]:
        if not self.enabled:
            return [], []
        checks = [check for check in checks if check[1]]  # no client address: a Unix socket
        return checks, [(f"{self.prefix}{kind}:{who.lower()}", rate) for kind, who, rate, _ in checks]

    @staticmethod
    def _refuse(checks: list[tuple[str, str | None, Rate, str]], refused: tuple[int, float] | None) -> None:
        if refused is None:
            return
        position, wait = refused
        _kind, who, rate, what = checks[position]
        seconds = max(1, math.ceil(wait))
        raise TooManyRequests(
            f"too many {what} {who}: at most {rate.count} a {rate.period}; try again in {seconds} s",
            retry_after=seconds,
        )
