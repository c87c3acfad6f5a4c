"""The log's way to analytics inside one process: the relay and one analytics consumer
as threads, and, when no ``KAFKA_BOOTSTRAP_SERVERS`` names a cluster, the embedded
broker they talk to (docs/kafka.md, "Running it"). The server and `vistone worker` run
it unless ``VISTONE_KAFKA=external`` says `vistone relay` and `vistone analytics` run
elsewhere."""

from __future__ import annotations

import logging
from typing import Any

from eventsourcing.application import Application
from psycopg_pool import ConnectionPool

from analytics.store import AnalyticsStore
from workers.analytics import AnalyticsConsumer
from workers.broker import EmbeddedBroker
from workers.kafka import KafkaSender, ensure_topics
from workers.relay import Relay

log = logging.getLogger(__name__)


def consumers_resume_point(pool: ConnectionPool, store: AnalyticsStore) -> int:
    """The first log position the analytics consumers may still need: everything up to
    their applied-through position is applied (what a new, empty broker must be given
    again)."""
    with pool.connection() as conn:
        if not store.exists(conn):
            return 1
        return store.progress(conn)["applied_through"] + 1


class KafkaPipeline:
    def __init__(self, app: Application[Any], pool: ConnectionPool,
                 bootstrap: str | None) -> None:
        self.app, self.pool, self.bootstrap = app, pool, bootstrap
        self.broker: EmbeddedBroker | None = None
        self.relay: Relay | None = None
        self.consumer: AnalyticsConsumer | None = None
        self.store = AnalyticsStore()

    def start(self) -> KafkaPipeline:
        if self.bootstrap is None:
            self.broker = EmbeddedBroker().start()
            self.bootstrap = self.broker.bootstrap
            log.info("embedded Kafka broker (Tansu, memory storage) on %s", self.bootstrap)
        ensure_topics(self.bootstrap)
        self.consumer = AnalyticsConsumer(self.app, self.pool, self.bootstrap,
                                          store=self.store).start()
        self.relay = Relay(self.app, self.pool, KafkaSender(self.bootstrap),
                           resume_point=lambda: consumers_resume_point(self.pool, self.store)
                           ).start()
        return self

    def stop(self) -> None:
        if self.relay is not None:
            self.relay.stop()
        if self.consumer is not None:
            self.consumer.stop()
        if self.broker is not None:
            self.broker.stop()


def kafka_figures(app: Application[Any], pool: ConnectionPool,
                  store: AnalyticsStore | None = None) -> dict[str, Any] | None:
    """The relay's and the analytics consumers' figures, read from PostgreSQL only
    (`vistone status`, `/metrics`); None before either ever ran."""
    from workers.analytics import partitions

    store = store or AnalyticsStore()
    head = app.recorder.max_notification_id() or 0
    with pool.connection() as conn:
        relay = conn.execute(
            "SELECT position, late_events, updated_at FROM public.kafka_relay "
            "WHERE name = 'kafka'").fetchone() if conn.execute(
            "SELECT to_regclass('public.kafka_relay')").fetchone() != (None,) else None
        progress = store.progress(conn) if store.exists(conn) else None
    if relay is None and progress is None:
        return None
    figures: dict[str, Any] = {"head": head}
    if relay is not None:
        figures["relay"] = {"position": int(relay[0]), "lag": head - int(relay[0]),
                            "late_events": int(relay[1]), "updated_at": relay[2]}
    if progress is not None:
        figures["analytics"] = {**progress, "lag": head - progress["applied_through"],
                                "partitions": partitions(pool, store)}
    return figures
