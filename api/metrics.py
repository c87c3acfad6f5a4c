"""Prometheus metrics: requests by route and status, and where every read model stands.

Request counters and latencies are recorded by a pure ASGI middleware under the route's
path template (``/v1/organizations/{organization_id}``), so ids never multiply the series.
The read models' figures are read from the database when ``/metrics`` is scraped, so
every API process answers the same numbers whichever process runs the projections. With
several uvicorn workers (``serve --workers N``), ``PROMETHEUS_MULTIPROC_DIR`` makes the
request metrics of all of them add up (prometheus-client's multiprocess mode).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import psycopg
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from projections.search_index import queue_figures
from projections.status import read_model_status
from vistone.departures import position as departures_position
from vistone.runtime import Runtime
from workers.embedding import health
from workers.pipeline import kafka_figures

REQUESTS = CollectorRegistry(auto_describe=True)
REQUEST_COUNT = Counter(
    "vistone_http_requests", "HTTP requests answered, by kind (command or query), method, "
    "route template and status", ["kind", "method", "route", "status"], registry=REQUESTS)
REQUEST_SECONDS = Histogram(
    "vistone_http_request_duration_seconds", "Time to answer an HTTP request",
    ["kind", "method", "route", "status"], registry=REQUESTS,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))

QUERY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class RequestMetrics:
    """Counts and times every HTTP request by its route template."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def record_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope["method"]
            labels = ("query" if method in QUERY_METHODS else "command", method, route,
                      str(status[0]))
            REQUEST_COUNT.labels(*labels).inc()
            REQUEST_SECONDS.labels(*labels).observe(time.perf_counter() - started)


class ReadModelCollector(Collector):
    """The log's head and each read model's position, lag and state, read at scrape time."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Any]:
        rows = read_model_status(self.runtime.app, self.runtime.pool, self.runtime.read_models)
        head = GaugeMetricFamily("vistone_log_head", "Position of the last event in the log")
        head.add_metric([], rows[0].head if rows else 0)
        labels = ["read_model", "state"]
        families = {
            "position": GaugeMetricFamily("vistone_read_model_position",
                                          "Last log position applied", labels=labels),
            "lag": GaugeMetricFamily("vistone_read_model_lag_events",
                                     "Events between the read model and the log's head",
                                     labels=labels),
            "lag_seconds": GaugeMetricFamily(
                "vistone_read_model_lag_seconds",
                "Age of the oldest event the read model has not applied", labels=labels),
            "stopped": GaugeMetricFamily(
                "vistone_read_model_stopped",
                "1 while the read model is stopped at an event it cannot apply",
                labels=labels),
        }
        for row in rows:
            values = (row.name, row.state)
            families["position"].add_metric(values, row.position)
            families["lag"].add_metric(values, row.lag)
            families["lag_seconds"].add_metric(values, row.lag_seconds)
            families["stopped"].add_metric(values, 1 if row.stopped else 0)
        yield head
        yield from families.values()
        # Departures (vistone/departures.py): a consumer of the log beside the read models.
        departures = GaugeMetricFamily(
            "vistone_departures_lag_events",
            "Events between the log's head and the departures completed through")
        departures.add_metric([], max(0, (rows[0].head if rows else 0)
                                      - departures_position(self.runtime.pool)))
        yield departures


class EmbeddingCollector(Collector):
    """The search index's embedding queue, read at scrape time: chunks waiting for a
    vector, the age of the oldest (the embedding lag), the recent lag p95, and whether
    the provider is failing now."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Any]:
        index = self.runtime.search_index()
        if index is None:
            return
        with self.runtime.pool.connection() as conn:
            try:
                figures = queue_figures(conn)
            except psycopg.errors.UndefinedTable:  # not built yet
                return
            state = health(conn, index.embedding.name)
        labels = ["model"]
        model = [index.embedding.name]
        for name, help_text, value in (
            ("vistone_search_chunks", "Chunks in the search index", figures["chunks"]),
            ("vistone_embedding_pending_chunks", "Chunks waiting for an embedding",
             figures["pending"]),
            ("vistone_embedding_lag_seconds",
             "Age of the oldest chunk waiting for an embedding",
             figures["oldest_pending_seconds"]),
            ("vistone_embedding_recent_lag_p95_seconds",
             "p95 of queued-to-embedded over the last five minutes",
             figures["recent_lag_p95_seconds"] or 0.0),
            ("vistone_embedding_failing",
             "1 while the last embedding attempt failed",
             1 if state and state["last_error"] else 0),
        ):
            family = GaugeMetricFamily(name, help_text, labels=labels)
            family.add_metric(model, value)
            yield family


class KafkaCollector(Collector):
    """The relay and the analytics consumers, from what they record in PostgreSQL: the
    relay's position and lag, events found at positions it had passed (must stay 0), the
    analytics' applied-through position, lag, events applied, repeats ignored, skipped
    versions (must stay 0), and the consumer group's lag per partition."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Any]:
        figures = kafka_figures(self.runtime.app, self.runtime.pool)
        if figures is None:
            return
        gauges: list[tuple[str, str, float]] = []
        if relay := figures.get("relay"):
            gauges += [
                ("vistone_kafka_relay_position", "Last log position the broker acknowledged",
                 relay["position"]),
                ("vistone_kafka_relay_lag_events", "Events in the log not yet published",
                 relay["lag"]),
                ("vistone_kafka_relay_late_events",
                 "Events found at log positions the relay had passed (must stay 0)",
                 relay["late_events"])]
        if analytics := figures.get("analytics"):
            gauges += [
                ("vistone_analytics_applied_through",
                 "Log position up to which every event is applied to analytics",
                 analytics["applied_through"]),
                ("vistone_analytics_lag_events", "Events in the log not yet applied",
                 analytics["lag"]),
                ("vistone_analytics_events_applied", "Events applied to analytics",
                 analytics["events_applied"]),
                ("vistone_analytics_repeats_ignored",
                 "Deliveries of events applied before, ignored", analytics["repeats_ignored"]),
                ("vistone_analytics_skipped_versions",
                 "Aggregate versions that never arrived (must stay 0)", analytics["skipped"]),
                ("vistone_analytics_rejected_events",
                 "Events set aside because no effect could be applied (must stay 0)",
                 analytics["rejected"])]
        for name, help_text, value in gauges:
            yield GaugeMetricFamily(name, help_text, value=value)
        if analytics:
            lag = GaugeMetricFamily("vistone_analytics_partition_lag",
                                    "Records of a partition not yet committed by the group",
                                    labels=["topic", "partition"])
            for p in analytics["partitions"]:
                if p["lag"] is not None:
                    lag.add_metric([p["topic"], str(p["partition"])], p["lag"])
            yield lag


def render_metrics(runtime: Runtime) -> bytes:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        registry.register(_Requests())
    registry.register(ReadModelCollector(runtime))
    registry.register(EmbeddingCollector(runtime))
    registry.register(KafkaCollector(runtime))
    return generate_latest(registry)


class _Requests(Collector):
    """This process's request metrics (single-process mode)."""

    def collect(self) -> Iterator[Any]:
        return iter(REQUESTS.collect())
