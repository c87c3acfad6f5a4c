"""The event store's recorder, extended so an Idempotency-Key is written in the same
transaction as the events it guards: a command and its key commit together or not at
all, so a retry after any crash either finds the key or finds nothing appended. A
command that appends nothing records its key alone, with the log's position."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import retry
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier


@dataclass(frozen=True)
class IdempotencyKey:
    actor_id: UUID
    key: str
    fingerprint: str  # hash of method, path and body: the same key with another body is refused


@dataclass(frozen=True)
class IdempotentOutcome:
    fingerprint: str
    aggregate_id: UUID
    version: int
    position: int | None


class VistoneRecorder(PostgresApplicationRecorder):
    def __init__(self, datastore: Any, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self.idempotency_table = Identifier(self.datastore.schema, "command_idempotency")
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                " actor_id uuid NOT NULL,"
                " key text NOT NULL,"
                " fingerprint text NOT NULL,"
                " aggregate_id uuid NOT NULL,"
                " version bigint NOT NULL,"
                " position bigint,"
                " created_at timestamptz NOT NULL DEFAULT now(),"
                " PRIMARY KEY (actor_id, key))"
            ).format(self.idempotency_table)
        )

    def _fetch_ids_after_insert_events(
        self,
        curs: Cursor[DictRow],
        stored_events: Sequence[StoredEvent],
        *,
        idempotency: tuple[IdempotencyKey, UUID, int] | None = None,
        **kwargs: Any,
    ) -> Sequence[int] | None:
        # Still inside the events' transaction: the key is written with the position the
        # command reached, so a retry answers exactly what the first attempt answered.
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        if idempotency is not None:
            key, aggregate_id, version = idempotency
            curs.execute(
                SQL(
                    "INSERT INTO {} (actor_id, key, fingerprint, aggregate_id, version, position)"
                    " VALUES (%s, %s, %s, %s, %s, %s)"
                ).format(self.idempotency_table),
                (key.actor_id, key.key, key.fingerprint, aggregate_id, version,
                 max(ids) if ids else None),
            )
        return ids

    def position_if_stored(self, events: Sequence[StoredEvent]) -> int | None:
        """The log position of ``events`` if every one of them is stored exactly (same
        aggregate, version and state, timestamps included), else None."""
        if not events:
            return None
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(
                SQL(
                    "SELECT e.state, e.notification_id FROM {} e"
                    " JOIN unnest(%s::uuid[], %s::bigint[]) AS k(id, version)"
                    " ON e.originator_id = k.id AND e.originator_version = k.version"
                ).format(Identifier(self.datastore.schema, self.events_table_name)),
                ([e.originator_id for e in events], [e.originator_version for e in events]),
            )
            rows = curs.fetchall()
        stored_states = {bytes(row["state"]) for row in rows}
        if len(rows) != len(events) or any(e.state not in stored_states for e in events):
            return None
        return max(row["notification_id"] for row in rows)

    # Safe to retry like the library's writes: a retry after a lost answer finds its own row.
    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def record_idempotent_no_op(self, key: IdempotencyKey, aggregate_id: UUID,
                                version: int) -> IdempotentOutcome:
        """Record the key of a command that appended nothing, with the position the log
        has now, and return the recorded outcome: ours, or the one a concurrent attempt
        with the same key recorded first (compare its fingerprint)."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(
                SQL(
                    "INSERT INTO {} (actor_id, key, fingerprint, aggregate_id, version, position)"
                    " SELECT %s, %s, %s, %s, %s, max(notification_id) FROM {}"
                    " ON CONFLICT (actor_id, key) DO NOTHING"
                    " RETURNING fingerprint, aggregate_id, version, position"
                ).format(self.idempotency_table,
                         Identifier(self.datastore.schema, self.events_table_name)),
                (key.actor_id, key.key, key.fingerprint, aggregate_id, version),
            )
            row = curs.fetchone()
        if row is not None:
            return IdempotentOutcome(
                fingerprint=row["fingerprint"],
                aggregate_id=row["aggregate_id"],
                version=row["version"],
                position=row["position"],
            )
        # The key was taken first (the insert waited for that transaction to commit):
        # a fresh statement sees the winner's row.
        winner = self.find_idempotent(key)
        if winner is None:  # pragma: no cover - keys are never deleted
            raise RuntimeError(f"idempotency key {key.key!r} vanished while recorded")
        return winner

    def find_idempotent(self, key: IdempotencyKey) -> IdempotentOutcome | None:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(
                SQL(
                    "SELECT fingerprint, aggregate_id, version, position FROM {}"
                    " WHERE actor_id = %s AND key = %s"
                ).format(self.idempotency_table),
                (key.actor_id, key.key),
            )
            row = curs.fetchone()
        if row is None:
            return None
        return IdempotentOutcome(
            fingerprint=row["fingerprint"],
            aggregate_id=row["aggregate_id"],
            version=row["version"],
            position=row["position"],
        )
