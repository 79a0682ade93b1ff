"""Prometheus metrics of one bridge process; database-wide figures are read at scrape time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

if TYPE_CHECKING:
    from cloud_bridge.store import Store


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.ingested = Counter("passlane_bridge_ingested_total", "messages stored, by leaf", ["leaf"], registry=r)
        self.duplicates = Counter(
            "passlane_bridge_duplicate_events_total", "events received again (already stored)", registry=r
        )
        self.dead_letters = Counter(
            "passlane_bridge_dead_letters_total", "messages sent to the dead-letter table", ["reason"], registry=r
        )
        self.gaps = Counter("passlane_bridge_sequence_gaps_total", "times a unit's seq jumped ahead", registry=r)
        self.out_of_order = Counter(
            "passlane_bridge_out_of_order_total", "events that arrived below a unit's highest seq", registry=r
        )
        self.lag = Histogram(
            "passlane_bridge_ingest_lag_seconds",
            "event time to database commit",
            registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60, 600),
        )
        self.batch = Histogram(
            "passlane_bridge_batch_size",
            "messages per database transaction",
            registry=r,
            buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000),
        )
        self.store_errors = Counter(
            "passlane_bridge_store_errors_total", "failed ingest transactions (retried)", registry=r
        )
        self.requests = Counter("passlane_bridge_requests_total", "lane requests answered", ["kind", "ok"], registry=r)
        self.request_latency = Histogram(
            "passlane_bridge_request_seconds",
            "request handling time",
            ["kind"],
            registry=r,
            buckets=(0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
        )

    def add_store_collector(self, store: Store) -> None:
        self.registry.register(_StoreCollector(store))


class _StoreCollector:
    """Database-wide figures (`Store.counts`), read at each scrape."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            c = self.store.counts()
        except Exception:  # noqa: BLE001 - a scrape must not fail because the database is busy
            return
        g = GaugeMetricFamily("passlane_bridge_events_stored", "events in the database")
        g.add_metric([], c["events_stored"])
        yield g
        g = GaugeMetricFamily("passlane_bridge_dead_letters", "rows in the dead-letter table")
        g.add_metric([], c["dead_letters"])
        yield g
        g = GaugeMetricFamily("passlane_bridge_missing_seqs", "sequence numbers not yet received (gaps)")
        g.add_metric([], c["missing_seqs"])
        yield g
        g = GaugeMetricFamily("passlane_bridge_open_alerts", "alerts not resolved, by severity", labels=["severity"])
        for sev in ("info", "warning", "high", "critical"):
            g.add_metric([sev], c["open_alerts_by_severity"].get(sev, 0))
        yield g
