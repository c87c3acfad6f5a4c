"""The analytics consumer (`vistone analytics`): one member of the Kafka consumer group
``vistone-analytics`` reading every relay topic and applying each event's effect
exactly once to the analytics tables (analytics/store.py).

- **Exactly once without Kafka transactions.** A polled batch is applied in one
  PostgreSQL transaction together with the per-aggregate bookkeeping that makes a repeat
  change nothing; only then are the offsets committed to Kafka. A crash between the two,
  a rebalance that hands the partition to another member mid-batch, or the relay
  publishing everything again all end in repeats, which are ignored.
- **Failure.** A batch that cannot be applied (the database down) is rolled back, the
  partitions are sought back to the batch's first offsets, and it is tried again after
  a back-off; nothing is committed past it.
- **Figures.** The group's committed and end offsets per partition are written to
  ``<schema>.consumer_partitions`` every few seconds, so ``vistone status`` and
  ``/metrics`` show the lag without asking the broker.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any

import orjson
from eventsourcing.application import Application
from kafka import ConsumerRebalanceListener, KafkaConsumer
from kafka.errors import KafkaError
from psycopg.sql import Composable, Identifier
from psycopg_pool import ConnectionPool

from analytics.store import AnalyticsStore
from workers.kafka import relay_topics
from workers.loop import Loop
from workers.relay import ENVELOPE_VERSION

log = logging.getLogger(__name__)

GROUP_ID = "vistone-analytics"
FIGURES_EVERY_SECONDS = 2.0
# Tansu lets a member join after about half the session timeout (23 s with
# kafka-python's defaults, 3 s with this, measured); 6 s is also Kafka's smallest
# allowed session timeout by default, and what a dead consumer's partitions wait.
SESSION_TIMEOUT_MS = 6_000

def events_table(app: Application[Any]) -> Composable:
    recorder: Any = app.recorder
    return Identifier(recorder.datastore.schema, recorder.events_table_name)


def decode(value: bytes) -> dict[str, Any] | None:
    """An envelope of a version this consumer reads, or None (logged, then passed over:
    no relay of ours writes it, and it must not stop every other event)."""
    try:
        envelope = orjson.loads(value)
    except orjson.JSONDecodeError:
        log.error("analytics: a record that is not JSON; passed over")
        return None
    if not isinstance(envelope, dict) or envelope.get("envelope_version") != ENVELOPE_VERSION:
        log.error("analytics: an envelope of another version; passed over")
        return None
    return envelope


class _NoteAssignment(ConsumerRebalanceListener):
    """Notes that partitions were (re)assigned: a listener runs on kafka-python's I/O
    thread and must not block, so the consumer acts on it after its poll."""

    def __init__(self, reassigned: threading.Event) -> None:
        self.reassigned = reassigned

    def on_partitions_revoked(self, revoked: Any) -> None:
        pass

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.reassigned.set()


class AnalyticsConsumer(Loop):
    name = "vistone-analytics"
    idle_seconds = 0.0  # the poll itself waits for records
    def __init__(self, app: Application[Any], pool: ConnectionPool, bootstrap: str, *,
                 store: AnalyticsStore | None = None, group_id: str = GROUP_ID,
                 member: str = "analytics", max_records: int = 500,
                 session_timeout_ms: int = SESSION_TIMEOUT_MS,
                 heartbeat_interval_ms: int = 1_000,
                 max_poll_interval_ms: int = 60_000) -> None:
        super().__init__()
        self.app, self.pool, self.bootstrap = app, pool, bootstrap
        self.store = store or AnalyticsStore()
        self.group_id, self.member = group_id, member
        self.events = events_table(app)
        self._figures_at = 0.0
        with pool.connection() as conn:  # idempotent: Runtime.open did it for the default
            self.store.setup(conn)
        self.consumer = KafkaConsumer(
            bootstrap_servers=bootstrap, group_id=group_id, client_id=f"vistone-{member}",
            enable_auto_commit=False, auto_offset_reset="earliest",
            max_poll_records=max_records, session_timeout_ms=session_timeout_ms,
            heartbeat_interval_ms=heartbeat_interval_ms,
            max_poll_interval_ms=max_poll_interval_ms,
            # Topics come from the relay alone; a new broker's are seen within seconds.
            allow_auto_create_topics=False, metadata_max_age_ms=5_000)
        self._reassigned = threading.Event()
        self.consumer.subscribe(relay_topics(), listener=_NoteAssignment(self._reassigned))

    def run_once(self, timeout_ms: int = 200) -> int:
        """Poll once and apply what came; returns how many records were polled."""
        polled = self.consumer.poll(timeout_ms=timeout_ms)
        if self._reassigned.is_set():
            self._reassigned.clear()
            self._read_from_committed()
            polled = {}  # fetched from positions that may not hold on this broker
        records = [r for batch in polled.values() for r in batch]
        if records:
            envelopes = [e for e in (decode(r.value) for r in records) if e is not None]
            try:
                with self.pool.connection() as conn:
                    self.store.apply_or_set_aside(conn, envelopes)
            except Exception:
                # Nothing of the batch is kept: read it again from its first offsets.
                for tp, batch in polled.items():
                    with contextlib.suppress(KafkaError, AssertionError):
                        self.consumer.seek(tp, batch[0].offset)
                raise
            try:
                self.consumer.commit()
            except KafkaError as error:
                # A rebalance gave the partitions to another member meanwhile (or the
                # coordinator moved): it reads them from the last commit, and what this
                # batch applied is then a repeat.
                log.info("analytics: commit refused (%s); the batch will be delivered "
                         "again and ignored as a repeat", type(error).__name__)
        self.advance()
        self._figures()
        return len(records)

    def _read_from_committed(self) -> None:
        """After any (re)assignment, read each partition from the group's committed
        offset, or from its start. kafka-python keeps a read position across a
        rebalance when the member keeps the partition; after the broker was replaced by
        an empty one (Tansu accepts the old member back), that position belongs to the
        old broker, and reading from it would pass over what the relay published again
        below it (the kill test found this)."""
        for tp in self.consumer.assignment():
            offset = self.consumer.committed(tp)
            if offset is None:
                self.consumer.seek_to_beginning(tp)
            else:
                self.consumer.seek(tp, offset)

    def _figures(self) -> None:
        now = time.monotonic()
        if now - self._figures_at < FIGURES_EVERY_SECONDS:
            return
        self._figures_at = now
        try:
            self._write_figures()
        except (KafkaError, KeyError) as error:
            # Figures only: during a rebalance, or on a new broker whose partitions differ,
            # asking for end offsets fails; the next round writes them.
            log.debug("analytics: figures not written now (%s)", type(error).__name__)

    def _write_figures(self) -> None:
        with self.pool.connection() as conn:
            assigned = list(self.consumer.assignment())
            if not assigned:
                return
            listed = self.consumer.end_offsets(assigned)
            ends = {tp: self._end_offset(tp, listed.get(tp)) for tp in assigned}
            # After a commit the position is what was committed (no broker request).
            committed = {tp: self.consumer.position(tp) for tp in assigned}
            with conn.cursor() as cur:
                cur.executemany(self.store.q(
                    "INSERT INTO {s}.consumer_partitions (topic, partition, committed, "
                    "end_offset, member, updated_at) VALUES (%s, %s, %s, %s, %s, now()) "
                    "ON CONFLICT (topic, partition) DO UPDATE SET committed = "
                    "EXCLUDED.committed, end_offset = EXCLUDED.end_offset, "
                    "member = EXCLUDED.member, updated_at = now()"),
                    [(tp.topic, tp.partition, committed[tp], ends.get(tp), self.member)
                     for tp in assigned])

    def _end_offset(self, tp: Any, listed: int | None) -> int | None:
        # The high watermark of the last fetch when it is further: Tansu's ListOffsets
        # answers the last batch's base offset + 1, short of the end (measured).
        known = [o for o in (self.consumer.highwater(tp), listed) if o is not None]
        return max(known) if known else None

    def advance(self) -> int:
        """Move the applied-through position now (tests, and before answering a read)."""
        with self.pool.connection() as conn:
            return self.store.advance(conn, self.events,
                                      self.app.recorder.max_notification_id() or 0)

    def step(self) -> bool:
        return self.run_once() > 0

    def on_exit(self) -> None:
        with contextlib.suppress(Exception):
            self.consumer.close()


def partitions(pool: ConnectionPool, store: AnalyticsStore) -> list[dict[str, Any]]:
    """The consumer group's last reported offsets per partition (status, metrics)."""
    with pool.connection() as conn:
        if conn.execute("SELECT to_regclass(%s)",
                        (f"{store.schema}.consumer_partitions",)).fetchone() == (None,):
            return []
        rows = conn.execute(store.q(  # type: ignore[arg-type]
            "SELECT topic, partition, committed, end_offset, member, updated_at "
            "FROM {s}.consumer_partitions ORDER BY topic, partition")).fetchall()
    return [{"topic": r[0], "partition": r[1], "committed": r[2], "end_offset": r[3],
             "lag": None if r[3] is None else r[3] - (r[2] or 0), "member": r[4],
             "updated_at": r[5]} for r in rows]


def recompute(app: Application[Any], pool: ConnectionPool, store: AnalyticsStore,
              batch_size: int = 1000) -> int:
    """Apply the whole log, in log order and without Kafka, to ``store`` (a scratch
    schema): what the consumers' tables must equal. Returns the events applied."""
    from workers.relay import envelope

    with pool.connection() as conn:
        store.drop(conn)
        store.setup(conn)
    start, applied = 1, 0
    while True:
        notifications = app.recorder.select_notifications(start=start, limit=batch_size)
        if not notifications:
            return applied
        envelopes = [envelope(n.id, app.mapper.to_domain_event(n)) for n in notifications]
        # The consumers read what the relay wrote: the same JSON, decoded.
        envelopes = [orjson.loads(orjson.dumps(e)) for e in envelopes]
        with pool.connection() as conn:
            applied += store.apply_or_set_aside(conn, envelopes).applied
        start = notifications[-1].id + 1


def differences(pool: ConnectionPool, one: AnalyticsStore,
                other: AnalyticsStore) -> dict[str, tuple[int, int]]:
    """Per result table, the rows only in ``one`` and only in ``other`` (empty when the
    two hold the same rows)."""
    from analytics.store import RESULT_TABLES

    found: dict[str, tuple[int, int]] = {}
    with pool.connection() as conn:
        for table in RESULT_TABLES:
            counts = conn.execute(
                f"SELECT (SELECT count(*) FROM (SELECT * FROM {one.schema}.{table} EXCEPT ALL "
                f"SELECT * FROM {other.schema}.{table}) a), (SELECT count(*) FROM (SELECT * "
                f"FROM {other.schema}.{table} EXCEPT ALL SELECT * FROM {one.schema}.{table}) b)"
            ).fetchone()
            if counts and (counts[0] or counts[1]):
                found[table] = (int(counts[0]), int(counts[1]))
        columns = "position, type, error"
        counts = conn.execute(
            f"SELECT (SELECT count(*) FROM (SELECT {columns} FROM {one.schema}.rejected "
            f"EXCEPT ALL SELECT {columns} FROM {other.schema}.rejected) a), "
            f"(SELECT count(*) FROM (SELECT {columns} FROM {other.schema}.rejected "
            f"EXCEPT ALL SELECT {columns} FROM {one.schema}.rejected) b)").fetchone()
        if counts and (counts[0] or counts[1]):
            found["rejected"] = (int(counts[0]), int(counts[1]))
    return found
