"""Prometheus metrics of an indexer running in this process, read from its progress when
scraped: on `ORRANGE_METRICS_PORT` for `orrange index`, in the API's `/metrics` when the API
runs one (`ORRANGE_INDEXER_IN_API`). Throughput is `rate(orrange_indexer_events_total[1m])`;
the API's `/metrics` also has the lag of whichever indexer is active (`orrange_indexer_lag_blocks`)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector


class IndexerCollector:
    def __init__(self, indexer):
        self.indexer = indexer

    def collect(self):
        progress = self.indexer.progress
        chain = [str(self.indexer.chain_id)]
        for family, name, documentation, value in (
            (GaugeMetricFamily, "orrange_indexer_active", "1 while this process is the chain's active indexer, 0 on standby",
             int(progress.active)),
            (CounterMetricFamily, "orrange_indexer_events", "escrow events this process has indexed", progress.events),
            (CounterMetricFamily, "orrange_indexer_reorgs", "reorganisations this process has rolled back", progress.reorgs),
            (GaugeMetricFamily, "orrange_indexer_head_block", "the chain's head when this process last looked",
             progress.head),
            (GaugeMetricFamily, "orrange_indexer_indexed_block", "the last block this process indexed", progress.indexed),
        ):  # fmt: skip
            metric = family(name, documentation, labels=["chain_id"])
            metric.add_metric(chain, value)
            yield metric


def process_registry() -> CollectorRegistry:
    """A registry with the process's own metrics (CPU, memory, open files, Python, GC)."""
    registry = CollectorRegistry()
    for standard in (ProcessCollector, PlatformCollector, GCCollector):
        standard(registry=registry)
    return registry


def serve_metrics(indexer, port: int) -> None:
    """Serves the indexer's metrics and the process's own on http://0.0.0.0:`port`/metrics (a thread)."""
    registry = process_registry()
    registry.register(IndexerCollector(indexer))
    start_http_server(port, registry=registry)
