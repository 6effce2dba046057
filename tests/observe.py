"""Watching a running service from a test: waiting for a condition, reading its metrics."""

from __future__ import annotations

import time

import httpx
from prometheus_client.parser import text_string_to_metric_families


def wait_for(condition, what: str, seconds: float = 60):
    """Polls `condition` until it returns something true (and returns that); a service that does
    not answer yet counts as not yet. Fails naming `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if result := condition():
                return result
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"{what} did not happen within {seconds} s"
        time.sleep(0.02)


def parse_metrics(text: str) -> dict[tuple, float]:
    """Prometheus text as {(name, (label, value)...sorted): value}."""
    return {(sample.name, *sorted(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def metric(url: str, name: str) -> float:
    """The one sample of `name` at `url` (a /metrics endpoint)."""
    [value] = [value for key, value in parse_metrics(httpx.get(url, timeout=5).text).items() if key[0] == name]
    return value
