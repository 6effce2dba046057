"""What operations add to each request on the order path, per call, in this process:

    python bench/operations.py        (part of `make bench`; Redis on 127.0.0.1:6379)

- the rate-limit check of a placed order (its IP's and its address's keys), in memory and in
  Redis (the awaited asyncio client, as the API runs it: CPU time, and the wall time of the
  round trip);
- the request's two metric updates (counter, histogram);
- its access log line, as JSON, as plain text, and as rich formats it for a terminal.
"""

from __future__ import annotations

import asyncio
import io
import logging
import sys
import time
import uuid
from pathlib import Path

import redis
from rich.console import Console
from rich.logging import RichHandler

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.ratelimit import RateLimiter  # noqa: E402
from api.settings import ApiSettings  # noqa: E402
from api.telemetry import Telemetry  # noqa: E402
from indexer.logs import JsonFormatter  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/0"
ADDRESS = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
ROUNDS = 5


def best(measure) -> tuple[float, float]:
    """The best of ROUNDS (wall, CPU) microseconds per call: the machine is shared."""
    results = [measure() for _ in range(ROUNDS)]
    return min(wall for wall, _ in results), min(cpu for _, cpu in results)


def timed(call, count: int) -> tuple[float, float]:
    call()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(count):
        call()
    return (time.perf_counter() - wall) / count * 1e6, (time.process_time() - cpu) / count * 1e6


def best_async(call, count: int) -> tuple[float, float]:
    """`best` of an awaitable call, in one event loop (an asyncio Redis client keeps to its loop)."""

    async def rounds():
        await call()
        results = []
        for _ in range(ROUNDS):
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(count):
                await call()
            results.append(((time.perf_counter() - wall) / count * 1e6, (time.process_time() - cpu) / count * 1e6))
        return min(wall for wall, _ in results), min(cpu for _, cpu in results)

    return asyncio.run(rounds())


def limiter(**settings) -> RateLimiter:
    return RateLimiter(ApiSettings(order_rate_per_ip="1000000/second", order_rate_per_address="1000000/second",
                                   **settings))


def log_line(formatter_or_handler) -> tuple[float, float]:
    if isinstance(formatter_or_handler, logging.Handler):
        handler = formatter_or_handler
    else:
        handler = logging.StreamHandler(io.StringIO())
        handler.setFormatter(formatter_or_handler)
    logger = logging.getLogger("bench.access")
    logger.handlers, logger.propagate = [handler], False
    logger.setLevel(logging.INFO)
    fields = {"method": "POST", "path": "/orders", "route": "/orders", "status": 201, "duration_ms": 3.1,
              "client": "127.0.0.1"}
    return best(lambda: timed(lambda: logger.info("%s %s %d %.1f ms %s", "POST", "/orders", 201, 3.1, "127.0.0.1",
                                                  extra=fields), 2_000))


def main() -> int:
    rows = []
    in_memory = limiter()
    rows.append(("rate limits, in memory", best_async(lambda: in_memory.orders("127.0.0.1", ADDRESS), 5_000)))
    prefix = f"bench-{uuid.uuid4().hex[:8]}:"
    in_redis = limiter(redis_url=REDIS_URL, redis_prefix=prefix)
    try:
        rows.append(("rate limits, in Redis", best_async(lambda: in_redis.orders("127.0.0.1", ADDRESS), 2_000)))
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
    telemetry = Telemetry(platform=None)

    def record():
        telemetry.requests.labels("POST", "/orders", 201).inc()
        telemetry.latency.labels("POST", "/orders").observe(0.003)

    rows.append(("request metrics", best(lambda: timed(record, 20_000))))
    rows.append(("access log line, JSON", log_line(JsonFormatter())))
    plain = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    rows.append(("access log line, plain text", log_line(plain)))
    rich = RichHandler(console=Console(file=io.StringIO(), width=100), show_path=False)
    rich.setFormatter(logging.Formatter("%(message)s"))
    rows.append(("access log line, rich", log_line(rich)))
    print(f"{'per request':<30} {'wall µs':>9} {'CPU µs':>9}")
    for name, (wall, cpu) in rows:
        print(f"{name:<30} {wall:9.1f} {cpu:9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
