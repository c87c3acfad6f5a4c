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

import logging
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from eventsourcing.application import Application
from eventsourcing.persistence import Notification
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg_pool import ConnectionPool

from domain.state import action_name, entity_type, json_value, personal_fields

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
    updated_at timestamptz NOT NULL DEFAULT now())"""


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


def withheld_attributes(aggregate_class: type) -> frozenset[str]:
    """What an event of ``aggregate_class`` must not publish: its personal fields, and
    the personal attributes only its events carry (``PERSONAL_EVENT_FIELDS``)."""
    return personal_fields(aggregate_class) | frozenset(
        getattr(aggregate_class, "PERSONAL_EVENT_FIELDS", ()))


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
    withheld = withheld_attributes(cls)
    data: dict[str, Any] = {}
    left_out: list[str] = []
    for name, value in vars(event).items():
        if name in _NOT_DATA:
            continue
        if name in withheld:
            left_out.append(name)
        elif isinstance(value, dict):
            # A dict of changed fields (``Client.Updated(changes=…)``): its personal
            # fields are left out too.
            data[name] = {k: json_value(v) for k, v in value.items() if k not in withheld}
            left_out += [f"{name}.{k}" for k in value if k in withheld]
        else:
            data[name] = json_value(value)
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
        "data": data,
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


Send = Callable[[Sequence[Record]], None]


class Relay:
    """Publishes the log from its stored position; ``send`` delivers a batch and
    returns only once the broker acknowledged all of it (or raises)."""

    def __init__(self, app: Application[Any], pool: ConnectionPool, send: Send, *,
                 name: str = RELAY_NAME, batch_size: int = BATCH_SIZE) -> None:
        guard(app)
        self.app, self.pool, self.send = app, pool, send
        self.name, self.batch_size = name, batch_size
        self._stop = threading.Event()
        with pool.connection() as conn:
            conn.execute(SETUP)
            conn.execute("INSERT INTO public.kafka_relay (name, position) VALUES (%s, 0) "
                         "ON CONFLICT (name) DO NOTHING", (name,))

    def position(self) -> int:
        with self.pool.connection() as conn:
            row = conn.execute("SELECT position FROM public.kafka_relay WHERE name = %s",
                               (self.name,)).fetchone()
        return int(row[0]) if row else 0

    def restart_from(self, position: int) -> None:
        """Publish again from ``position`` (e.g. onto a new, empty broker)."""
        with self.pool.connection() as conn:
            conn.execute("UPDATE public.kafka_relay SET position = %s, updated_at = now() "
                         "WHERE name = %s", (max(position, 1) - 1, self.name))

    def run_once(self) -> int:
        """Publish the next batch; returns how many events were published."""
        start = self.position()
        notifications = self.app.recorder.select_notifications(start=start + 1,
                                                               limit=self.batch_size)
        if not notifications:
            return 0
        records = [record_of(n, self.app.mapper.to_domain_event(n)) for n in notifications]
        self.send(records)  # acknowledged by the broker, or raises: nothing is stored
        with self.pool.connection() as conn:
            conn.execute("UPDATE public.kafka_relay SET position = %s, updated_at = now() "
                         "WHERE name = %s AND position = %s",
                         (records[-1].position, self.name, start))
        return len(records)

    def run_forever(self, idle_seconds: float = 0.2) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                published = self.run_once()
                backoff = 0.5
            except Exception:  # noqa: BLE001 - a broker or database outage: retry
                log.exception("relay: publishing failed; retrying in %.1f s", backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            if not published:
                self._stop.wait(idle_seconds)

    def stop(self) -> None:
        self._stop.set()
