"""The Kafka relay (`vistone relay`): tails the log and publishes every event to Kafka,
at least once, in log order per aggregate (docs/kafka.md).

- **Order.** The log is ordered by commit because the recorder locks the events table on
  every insert (eventsourcing's default insert path). Reading the log by position then
  never skips an event that commits later with a lower position. ``guard`` refuses to
  start when the insert path would not take that lock (``POSTGRES_ENABLE_DB_FUNCTIONS``).
- **Delivery.** A batch is sent with acks=all and the idempotent producer, flushed, and
  only then is the relay's position stored in PostgreSQL (``public.kafka_relay``). A crash
  between the two sends the batch again after a restart: at least once, never a gap.
  Consumers make it exactly once by recording what they applied (workers/analytics.py).
- **Envelope** (``ENVELOPE_VERSION``): the event in its current form (stored in an older
  shape, it is upcast by the application's mapper before it is published), keyed by
  aggregate id, with its position and type in headers. No personal data: the fields the
  aggregate declares personal (names, emails, phones, message bodies, questions and
  answers) are left out, and so are IPs and user agents; people appear by id only.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from eventsourcing.application import Application
from eventsourcing.persistence import Notification
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from domain.state import action_name, entity_type, json_value, split_personal
from workers.loop import Loop

log = logging.getLogger(__name__)

ENVELOPE_VERSION = 1
TOPIC_PREFIX = "vistone"
BATCH_SIZE = 500
RELAY_NAME = "kafka"

# Bounded contexts by the module of an aggregate (the seed's schemas); a topic each.
CONTEXTS = {
    "domain.organization": "auth", "domain.user": "auth", "domain.uniqueness": "auth",
    "domain.project": "project", "domain.task": "project",
    "domain.task_dependencies": "project",
    "domain.channel": "communication", "domain.message": "communication",
    "domain.timelog": "workforce", "domain.person_day": "workforce",
    "domain.client": "client", "domain.proposal": "client", "domain.client_feedback": "client",
    "domain.assistant": "ai_engine",
}

# Event attributes that never leave the database, whatever the aggregate: bookkeeping
# the envelope carries itself, and where a request came from.
_NOT_DATA = frozenset({"originator_id", "originator_version", "timestamp", "originator_topic",
                       "meta"})
_PUBLIC_META = ("actor_id", "organization_id", "correlation_id", "causation_id")

SETUP = """CREATE TABLE IF NOT EXISTS public.kafka_relay (
    name text PRIMARY KEY,
    position bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now());
ALTER TABLE public.kafka_relay ADD COLUMN IF NOT EXISTS
    late_events bigint NOT NULL DEFAULT 0;
CREATE TABLE IF NOT EXISTS public.kafka_relay_gaps (
    name text NOT NULL, position bigint NOT NULL,
    noticed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, position))"""

# A position the relay passed without an event is a rolled-back insert, never to be
# filled while the insert path locks the table; it is checked again for this long, and
# an event found there (which would mean the order guarantee failed) is published late
# and counted in ``late_events``, which must stay 0.
GAP_WATCH_SECONDS = 600
BROKER_CHECK_SECONDS = 10.0


def topic_of(aggregate_class: type) -> str:
    context = CONTEXTS.get(aggregate_class.__module__)
    if context is None:
        raise LookupError(f"no bounded context for {aggregate_class.__module__}: add it to "
                          "workers.relay.CONTEXTS")
    return f"{TOPIC_PREFIX}.{context}.events"


def aggregate_class_of(event: Any) -> type:
    owner = type(event).__qualname__.split(".")[0]
    found = getattr(sys.modules[type(event).__module__], owner, None)
    if not isinstance(found, type):
        raise LookupError(f"no aggregate class for {type(event).__qualname__}")
    return found


@dataclass(frozen=True)
class Record:
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]
    position: int


def envelope(position: int, event: Any) -> dict[str, Any]:
    """The published form of the event at ``position`` (documented in docs/kafka.md)."""
    cls = aggregate_class_of(event)
    data, left_out = split_personal(
        cls, {name: value for name, value in vars(event).items() if name not in _NOT_DATA})
    meta = getattr(event, "meta", None) or {}
    return {
        "envelope_version": ENVELOPE_VERSION,
        "type": action_name(cls, type(event)),
        "aggregate_type": entity_type(cls),
        "aggregate_id": str(event.originator_id),
        "aggregate_version": event.originator_version,
        "position": position,
        "occurred_at": event.timestamp.isoformat(),
        "metadata": {name: meta.get(name) for name in _PUBLIC_META},
        "data": json_value(data),
        "withheld": sorted(left_out),
    }


def record_of(notification: Notification, event: Any) -> Record:
    body = envelope(notification.id, event)
    return Record(topic_of(aggregate_class_of(event)), str(event.originator_id).encode(),
                  orjson.dumps(body), [("position", str(notification.id).encode()),
                                       ("type", body["type"].encode())], notification.id)


def guard(app: Application[Any]) -> None:
    """Refuse to relay a log whose insert path does not lock the events table: without
    that lock, positions are not in commit order and tailing can skip events."""
    recorder = app.recorder
    if not isinstance(recorder, PostgresApplicationRecorder):
        raise RuntimeError("the relay tails a PostgreSQL log")
    if recorder.datastore.enable_db_functions or not recorder.lock_table_statements:
        raise RuntimeError(
            "the log's insert path does not lock the events table "
            "(POSTGRES_ENABLE_DB_FUNCTIONS is on): events would not be in commit order, "
            "and the relay could skip some; refusing to start")


class Broker(Protocol):
    def send(self, records: Sequence[Record]) -> None:
        """Deliver ``records``; return only once the broker acknowledged every one."""

    def reset(self) -> None:
        """Drop the connection and the producer's state (after a failure)."""

    def is_empty(self) -> bool:
        """Whether the broker holds no record of any relay topic (a new broker)."""

    def close(self) -> None:
        """Let go of the connection for good."""


class Relay(Loop):
    """Publishes the log from its stored position to ``broker``. ``resume_point``: the
    first position to publish again when the broker turns out empty (a new broker, or
    the embedded one restarted): what the consumers still need."""

    name = "vistone-relay"

    def __init__(self, app: Application[Any], pool: ConnectionPool, broker: Broker, *,
                 name: str = RELAY_NAME, batch_size: int = BATCH_SIZE,
                 resume_point: Callable[[], int] = lambda: 1) -> None:
        guard(app)
        super().__init__()
        self.app, self.pool, self.broker = app, pool, broker
        self.relay_name, self.batch_size = name, batch_size
        self.resume_point = resume_point
        self._broker_checked = 0.0
        recorder: Any = app.recorder
        self._events = Identifier(recorder.datastore.schema, recorder.events_table_name)
        with pool.connection() as conn:
            conn.execute(SETUP)
            conn.execute("INSERT INTO public.kafka_relay (name, position) VALUES (%s, 0) "
                         "ON CONFLICT (name) DO NOTHING", (name,))

    def position(self) -> int:
        with self.pool.connection() as conn:
            row = conn.execute("SELECT position FROM public.kafka_relay WHERE name = %s",
                               (self.relay_name,)).fetchone()
        return int(row[0]) if row else 0

    def restart_from(self, position: int) -> None:
        """Publish again from ``position`` (e.g. onto a new, empty broker)."""
        with self.pool.connection() as conn:
            conn.execute("UPDATE public.kafka_relay SET position = %s, updated_at = now() "
                         "WHERE name = %s", (max(position, 1) - 1, self.relay_name))

    def check_broker(self) -> bool:
        """Publish again what the consumers need if the broker is new and empty while
        the relay has published before; returns whether it did."""
        if self.position() == 0 or not self.broker.is_empty():
            return False
        resume = self.resume_point()
        log.warning("relay: the broker holds nothing of what was published up to %d; "
                    "publishing again from %d", self.position(), resume)
        self.restart_from(resume)
        return True

    def run_once(self) -> int:
        """Publish the next batch; returns how many events were published."""
        start = self.position()
        notifications = self.app.recorder.select_notifications(start=start + 1,
                                                               limit=self.batch_size)
        late = self._late_notifications()
        if not notifications and not late:
            return 0
        records = [record_of(n, self.app.mapper.to_domain_event(n))
                   for n in [*late, *notifications]]
        self.broker.send(records)  # acknowledged by the broker, or raises: nothing stored
        with self.pool.connection() as conn, conn.transaction():
            if notifications:
                last = notifications[-1].id
                conn.execute("UPDATE public.kafka_relay SET position = %s, "
                             "updated_at = now() WHERE name = %s AND position = %s",
                             (last, self.relay_name, start))
                present = {n.id for n in notifications}
                gaps = [(self.relay_name, p) for p in range(start + 1, last) if p not in present]
                if gaps:
                    with conn.cursor() as cur:
                        cur.executemany("INSERT INTO public.kafka_relay_gaps (name, position) "
                                        "VALUES (%s, %s) ON CONFLICT DO NOTHING", gaps)
            if late:
                conn.execute("UPDATE public.kafka_relay SET late_events = late_events + %s "
                             "WHERE name = %s", (len(late), self.relay_name))
                conn.execute("DELETE FROM public.kafka_relay_gaps WHERE name = %s "
                             "AND position = ANY(%s)", (self.relay_name, [n.id for n in late]))
        return len(records)

    def _late_notifications(self) -> list[Notification]:
        """Events that appeared at positions the relay passed as empty."""
        with self.pool.connection() as conn:
            conn.execute("DELETE FROM public.kafka_relay_gaps WHERE name = %s AND "
                         "noticed_at < now() - make_interval(secs => %s)",
                         (self.relay_name, GAP_WATCH_SECONDS))
            found = conn.execute(SQL(
                "SELECT g.position FROM public.kafka_relay_gaps g JOIN {} e "
                "ON e.notification_id = g.position WHERE g.name = %s ORDER BY g.position")
                .format(self._events), (self.relay_name,)).fetchall()
        late: list[Notification] = []
        for (position,) in found:
            late += self.app.recorder.select_notifications(start=position, limit=1,
                                                           stop=position)
        if late:
            log.error("relay: %d event(s) committed at positions already passed; "
                      "published late (the log's commit order did not hold)", len(late))
        return late

    def step(self) -> bool:
        if time.monotonic() - self._broker_checked > BROKER_CHECK_SECONDS:
            self.check_broker()
            self._broker_checked = time.monotonic()
        return self.run_once() > 0

    def on_failure(self) -> None:
        with contextlib.suppress(Exception):
            self.broker.reset()
        self._broker_checked = 0.0  # the broker may be a new one: look before publishing

    def on_exit(self) -> None:
        with contextlib.suppress(Exception):
            self.broker.close()
