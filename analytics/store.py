"""The analytics read model (schema ``monitoring``): what the Kafka consumers compute
from the relay's envelopes, their exactly-once bookkeeping, and the queries the API
serves. Design notes: docs/kafka.md, "Analytics".

**Exactly once.** Kafka delivers at least once (a relay restart, a republish, a
redelivery after a rebalance). A batch of envelopes is applied in one PostgreSQL
transaction that also records, per aggregate, the last version applied
(``applied``): an envelope whose version is not above it is a repeat and changes
nothing. The relay keys records by aggregate id, so an aggregate's events arrive in
order on one partition; a version more than one above the last applied means an event
never arrived: it is recorded in ``skipped`` (a counter that must stay 0) and applied.

**Serialisable per organization.** Some values are recomputed from the kept state of
many aggregates (tasks completed in a week, cycle-time percentiles), whose events travel
on different partitions and so may be applied by different consumer processes at once.
Every transaction first takes an advisory lock per organization it touches, in one
global order: two transactions on one organization run one after the other (no lost
update, no deadlock between them), different organizations in parallel.

**Readable by position.** ``progress.applied_through`` is the highest log position up to
which every event has been applied, whatever the partition (``advance``); an API read
may wait for it to reach the position of a command's answer.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from psycopg import Connection, Cursor, errors
from psycopg.rows import dict_row
from psycopg.sql import SQL, Composable
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from analytics.kpis import DEFINITIONS, KpiKey, MemberMetric, Subject, week_of
from projections.paging import Order, page_of

log = logging.getLogger(__name__)

SCHEMA = "monitoring"
# What a batch fails with because of what it holds, not because the database is away
# (psycopg.OperationalError): trying the same events again would fail the same way.
POISON = (errors.DataError, errors.IntegrityError, KeyError, ValueError, TypeError,
          ArithmeticError, AttributeError)
COMPLETED = "COMPLETED"
IN_PROGRESS = "IN_PROGRESS"
COMPLETION_KPIS = (KpiKey.TASKS_COMPLETED, KpiKey.LEAD_TIME_P50, KpiKey.LEAD_TIME_P90,
                   KpiKey.CYCLE_TIME_P50, KpiKey.CYCLE_TIME_P90)

_DDL = """
CREATE SCHEMA IF NOT EXISTS {s};
CREATE TABLE IF NOT EXISTS {s}.kpi_definitions (
    key text PRIMARY KEY, name text NOT NULL, unit text NOT NULL, period text NOT NULL,
    subject text NOT NULL, description text NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.kpi_measurements (
    organization_id uuid NOT NULL,
    kpi text NOT NULL REFERENCES {s}.kpi_definitions (key),
    subject_id uuid NOT NULL,          -- a project, a channel or the organization itself
    period_start date NOT NULL,        -- the UTC day, or the Monday of the ISO week
    value numeric NOT NULL,
    PRIMARY KEY (organization_id, kpi, subject_id, period_start));
CREATE TABLE IF NOT EXISTS {s}.member_performance (
    organization_id uuid NOT NULL, person_id uuid NOT NULL, metric text NOT NULL,
    period_start date NOT NULL, value numeric NOT NULL,
    PRIMARY KEY (organization_id, person_id, metric, period_start));
CREATE TABLE IF NOT EXISTS {s}.hours_logged (
    organization_id uuid NOT NULL, project_id uuid NOT NULL, person_id uuid NOT NULL,
    week_start date NOT NULL, hours numeric NOT NULL,
    PRIMARY KEY (organization_id, project_id, person_id, week_start));
-- What the consumers keep of each record to move totals on edits and recompute them.
CREATE TABLE IF NOT EXISTS {s}.time_logs (
    id uuid PRIMARY KEY, organization_id uuid NOT NULL, project_id uuid NOT NULL,
    person_id uuid NOT NULL, work_date date NOT NULL, hours numeric NOT NULL,
    deleted boolean NOT NULL DEFAULT false);
CREATE TABLE IF NOT EXISTS {s}.tasks (
    id uuid PRIMARY KEY, organization_id uuid NOT NULL, project_id uuid NOT NULL,
    status text NOT NULL, due_date date, assignee_id uuid,
    created_at timestamptz NOT NULL, started_at timestamptz,
    completed_at timestamptz, completed_by uuid, completed_week date);
CREATE INDEX IF NOT EXISTS tasks_completed_in ON {s}.tasks (project_id, completed_week)
    WHERE completed_week IS NOT NULL;
CREATE INDEX IF NOT EXISTS tasks_completed_by ON {s}.tasks
    (organization_id, completed_by, completed_week) WHERE completed_week IS NOT NULL;
CREATE INDEX IF NOT EXISTS tasks_open_with_due_date ON {s}.tasks
    (organization_id, project_id, due_date) WHERE status <> 'COMPLETED';
CREATE TABLE IF NOT EXISTS {s}.projects (
    id uuid PRIMARY KEY, organization_id uuid NOT NULL, budget numeric,
    spent_budget numeric NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.active_people (
    organization_id uuid NOT NULL, day date NOT NULL, person_id uuid NOT NULL,
    PRIMARY KEY (organization_id, day, person_id));
-- Exactly once: the last version applied per aggregate, written with its effect.
CREATE TABLE IF NOT EXISTS {s}.applied (
    aggregate_id uuid PRIMARY KEY, version bigint NOT NULL, position bigint NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.skipped (
    aggregate_id uuid NOT NULL, expected_version bigint NOT NULL,
    received_version bigint NOT NULL, position bigint NOT NULL,
    noticed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (aggregate_id, received_version));
-- Events no effect could be applied for (a bug, or data no rule foresaw): set aside so
-- that one event cannot stop analytics for every organization; must stay empty.
CREATE TABLE IF NOT EXISTS {s}.rejected (
    position bigint PRIMARY KEY, aggregate_id uuid NOT NULL, version bigint NOT NULL,
    type text NOT NULL, error text NOT NULL, envelope jsonb NOT NULL,
    rejected_at timestamptz NOT NULL DEFAULT now());
-- Each consumer's last report of its partitions (status and metrics read it).
CREATE TABLE IF NOT EXISTS {s}.consumer_partitions (
    topic text NOT NULL, partition int NOT NULL, committed bigint, end_offset bigint,
    member text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition));
CREATE TABLE IF NOT EXISTS {s}.progress (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    applied_through bigint NOT NULL DEFAULT 0,
    events_applied bigint NOT NULL DEFAULT 0,
    repeats_ignored bigint NOT NULL DEFAULT 0);
INSERT INTO {s}.progress (id) VALUES (true) ON CONFLICT (id) DO NOTHING;
"""

# The tables that hold what the consumers computed (compared row for row with a
# recomputation from the log by the kill test), as opposed to their bookkeeping.
RESULT_TABLES = ("kpi_measurements", "member_performance", "hours_logged", "time_logs",
                 "tasks", "projects", "active_people")
# (``rejected`` is compared without its time: ``position, type, error``.)

_SETUP_LOCK = 7_362_001  # one setup at a time: CREATE ... IF NOT EXISTS races otherwise


@dataclass(frozen=True)
class Applied:
    applied: int
    repeats: int
    skipped: int


def lock_key(schema: str, organization_id: str | None) -> int:
    """A signed 64-bit advisory lock key for one organization's analytics."""
    digest = hashlib.blake2b(f"{schema}:{organization_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def organization_of(envelope: dict[str, Any]) -> str | None:
    data = envelope["data"]
    if data.get("organization_id"):
        return str(data["organization_id"])
    if envelope["aggregate_type"] == "organization":
        return str(envelope["aggregate_id"])
    org = envelope["metadata"].get("organization_id")
    return str(org) if org else None


def _at(envelope: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(envelope["occurred_at"])


def _utc_day(moment: datetime) -> date:
    # Days and weeks are UTC: the same answer whatever the server's time zone.
    return moment.astimezone(UTC).date()


def _amount(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


class AnalyticsStore:
    """The analytics tables in ``schema`` (another schema holds a recomputation)."""

    def __init__(self, schema: str = SCHEMA) -> None:
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", schema):
            raise ValueError(f"not a plain schema name: {schema!r}")
        self.schema = schema
        self._handlers: dict[str, Callable[[Cursor[Any], dict[str, Any]], None]] = {
            "time_log.logged": self._time_logged,
            "time_log.edited": self._time_log_edited,
            "time_log.deleted": self._time_log_deleted,
            "project.created": self._project_created,
            "project.updated": self._project_updated,
            "task.created": self._task_created,
            "task.assigned": self._task_assigned,
            "task.updated": self._task_updated,
            "task.status_changed": self._task_status_changed,
            "message.posted": self._message_posted,
        }

    def q(self, text: str) -> str:
        return text.replace("{s}", self.schema)

    # -- setup ---------------------------------------------------------------------

    def setup(self, conn: Connection[Any]) -> None:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SETUP_LOCK,))
            conn.execute(self.q(_DDL))  # type: ignore[arg-type]
            with conn.cursor() as cur:
                cur.executemany(self.q(
                    "INSERT INTO {s}.kpi_definitions (key, name, unit, period, subject, "
                    "description) VALUES (%(key)s, %(name)s, %(unit)s, %(period)s, "
                    "%(subject)s, %(description)s) ON CONFLICT (key) DO UPDATE SET "
                    "name = EXCLUDED.name, unit = EXCLUDED.unit, period = EXCLUDED.period, "
                    "subject = EXCLUDED.subject, description = EXCLUDED.description"),
                    [d.row() for d in DEFINITIONS])

    def drop(self, conn: Connection[Any]) -> None:
        conn.execute(self.q("DROP SCHEMA IF EXISTS {s} CASCADE"))  # type: ignore[arg-type]

    # -- applying ------------------------------------------------------------------

    def apply(self, conn: Connection[Any], envelopes: Sequence[dict[str, Any]]) -> Applied:
        """Apply ``envelopes`` in one transaction; repeats change nothing. The
        bookkeeping is read and written once per batch, not once per event."""
        keys = sorted({lock_key(self.schema, organization_of(e)) for e in envelopes})
        with conn.transaction(), conn.cursor() as cur:
            for key in keys:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (key,))
            fresh, repeats, skipped = self._claim(cur, envelopes)
            for envelope in fresh:
                handler = self._handlers.get(envelope["type"])
                if handler is not None:
                    handler(cur, envelope)
            self._active(cur, fresh)
            cur.execute(self.q(
                "UPDATE {s}.progress SET events_applied = events_applied + %s, "
                "repeats_ignored = repeats_ignored + %s"), (len(fresh), repeats))
        return Applied(len(fresh), repeats, skipped)

    def apply_or_set_aside(self, conn: Connection[Any],
                           envelopes: Sequence[dict[str, Any]]) -> Applied:
        """``apply``; if the batch fails for what it holds (not for the database being
        away), apply its envelopes one by one and set aside, counted, those that fail
        alone: their version is claimed, so they are not tried again."""
        try:
            return self.apply(conn, envelopes)
        except POISON:
            pass
        applied = repeats = skipped = 0
        for envelope in envelopes:
            try:
                outcome = self.apply(conn, [envelope])
            except POISON as error:
                outcome = self._set_aside(conn, envelope, error)
            applied += outcome.applied
            repeats += outcome.repeats
            skipped += outcome.skipped
        return Applied(applied, repeats, skipped)

    def _set_aside(self, conn: Connection[Any], envelope: dict[str, Any],
                   error: Exception) -> Applied:
        log.error("analytics: event at position %s (%s) cannot be applied and is set "
                  "aside: %s", envelope.get("position"), envelope.get("type"), error)
        with conn.transaction(), conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)",
                        (lock_key(self.schema, organization_of(envelope)),))
            fresh, _, skipped = self._claim(cur, [envelope])
            if not fresh:
                return Applied(0, 1, 0)
            cur.execute(self.q(
                "INSERT INTO {s}.rejected (position, aggregate_id, version, type, error, "
                "envelope) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING"),
                (envelope["position"], envelope["aggregate_id"],
                 envelope["aggregate_version"], envelope["type"],
                 f"{type(error).__name__}: {error}"[:2000], Jsonb(envelope)))
            cur.execute(self.q("UPDATE {s}.progress SET events_applied = events_applied + 1"))
        return Applied(1, 0, skipped)

    def _claim(self, cur: Cursor[Any], envelopes: Sequence[dict[str, Any]]
               ) -> tuple[list[dict[str, Any]], int, int]:
        """The envelopes not applied before, in order; how many were repeats; how many
        earlier versions never arrived (0). Their versions are recorded as applied."""
        ids = [str(UUID(str(e["aggregate_id"]))) for e in envelopes]
        cur.execute(self.q("SELECT aggregate_id, version FROM {s}.applied "
                           "WHERE aggregate_id = ANY(%s::uuid[]) FOR UPDATE"),
                    (sorted(set(ids)),))
        last = {str(aggregate): int(version) for aggregate, version in cur.fetchall()}
        fresh: list[dict[str, Any]] = []
        claimed: dict[str, tuple[int, int]] = {}
        gaps: list[tuple[str, int, int, int]] = []
        for aggregate, envelope in zip(ids, envelopes, strict=True):
            version, position = int(envelope["aggregate_version"]), int(envelope["position"])
            before = last.get(aggregate, 0)
            if version <= before:
                continue
            if version != before + 1:
                gaps.append((aggregate, before + 1, version, position))
            last[aggregate] = version
            claimed[aggregate] = (version, position)
            fresh.append(envelope)
        if gaps:
            cur.executemany(self.q(
                "INSERT INTO {s}.skipped (aggregate_id, expected_version, received_version, "
                "position) VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING"), gaps)
        if claimed:
            cur.execute(self.q(
                "INSERT INTO {s}.applied (aggregate_id, version, position) "
                "SELECT * FROM unnest(%s::uuid[], %s::bigint[], %s::bigint[]) "
                "ON CONFLICT (aggregate_id) DO UPDATE SET version = EXCLUDED.version, "
                "position = EXCLUDED.position"),
                (list(claimed), [v for v, _ in claimed.values()],
                 [p for _, p in claimed.values()]))
        return fresh, len(envelopes) - len(fresh), sum(g[2] - g[1] for g in gaps)

    # -- measurements --------------------------------------------------------------

    def _add(self, cur: Cursor[Any], org: Any, kpi: str, subject: Any, period: date,
             delta: Decimal | int) -> None:
        cur.execute(self.q(
            "INSERT INTO {s}.kpi_measurements (organization_id, kpi, subject_id, "
            "period_start, value) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (organization_id, "
            "kpi, subject_id, period_start) DO UPDATE SET value = "
            "{s}.kpi_measurements.value + EXCLUDED.value"), (org, kpi, subject, period, delta))

    def _set(self, cur: Cursor[Any], org: Any, kpi: str, subject: Any, period: date,
             value: Decimal | int | None) -> None:
        if value is None:
            cur.execute(self.q(
                "DELETE FROM {s}.kpi_measurements WHERE organization_id = %s AND kpi = %s "
                "AND subject_id = %s AND period_start = %s"), (org, kpi, subject, period))
            return
        cur.execute(self.q(
            "INSERT INTO {s}.kpi_measurements (organization_id, kpi, subject_id, "
            "period_start, value) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (organization_id, "
            "kpi, subject_id, period_start) DO UPDATE SET value = EXCLUDED.value"),
            (org, kpi, subject, period, value))

    def _set_member(self, cur: Cursor[Any], org: Any, person: Any, metric: MemberMetric,
                    period: date, value: Decimal | int, add: bool = False) -> None:
        if not add and not value:
            cur.execute(self.q(
                "DELETE FROM {s}.member_performance WHERE organization_id = %s AND "
                "person_id = %s AND metric = %s AND period_start = %s"),
                (org, person, metric.value, period))
            return
        update = "{s}.member_performance.value + EXCLUDED.value" if add else "EXCLUDED.value"
        cur.execute(self.q(
            "INSERT INTO {s}.member_performance (organization_id, person_id, metric, "
            "period_start, value) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (organization_id, "
            f"person_id, metric, period_start) DO UPDATE SET value = {update}"),
            (org, person, metric.value, period, value))

    # -- time ------------------------------------------------------------------------

    def _hours(self, cur: Cursor[Any], org: Any, person: Any, project: Any, work_date: date,
               delta: Decimal) -> None:
        week = week_of(work_date)
        cur.execute(self.q(
            "INSERT INTO {s}.hours_logged (organization_id, project_id, person_id, "
            "week_start, hours) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (organization_id, "
            "project_id, person_id, week_start) DO UPDATE SET hours = "
            "{s}.hours_logged.hours + EXCLUDED.hours"), (org, project, person, week, delta))
        self._add(cur, org, KpiKey.HOURS_LOGGED, project, week, delta)
        self._set_member(cur, org, person, MemberMetric.HOURS_LOGGED, week, delta, add=True)

    def _time_logged(self, cur: Cursor[Any], e: dict[str, Any]) -> None:
        d = e["data"]
        work_date, hours = date.fromisoformat(d["work_date"]), Decimal(d["hours"])
        cur.execute(self.q(
            "INSERT INTO {s}.time_logs (id, organization_id, project_id, person_id, "
            "work_date, hours) VALUES (%s, %s, %s, %s, %s, %s)"),
            (e["aggregate_id"], d["organization_id"], d["project_id"], d["person_id"],
             work_date, hours))
        self._hours(cur, d["organization_id"], d["person_id"], d["project_id"], work_date,
                    hours)

    def _time_log(self, cur: Cursor[Any], e: dict[str, Any]) -> tuple[Any, ...] | None:
        cur.execute(self.q(
            "SELECT organization_id, person_id, project_id, work_date, hours "
            "FROM {s}.time_logs WHERE id = %s AND NOT deleted"), (e["aggregate_id"],))
        return cur.fetchone()

    def _time_log_edited(self, cur: Cursor[Any], e: dict[str, Any]) -> None:
        kept = self._time_log(cur, e)
        if kept is None:  # its Logged event never arrived (counted in ``skipped``)
            return
        org, person, project, old_date, old_hours = kept
        work_date, hours = date.fromisoformat(e["data"]["work_date"]), Decimal(
            e["data"]["hours"])
        self._hours(cur, org, person, project, old_date, -old_hours)
        self._hours(cur, org, person, project, work_date, hours)
        cur.execute(self.q("UPDATE {s}.time_logs SET work_date = %s, hours = %s "
                           "WHERE id = %s"), (work_date, hours, e["aggregate_id"]))

    def _time_log_deleted(self, cur: Cursor[Any], e: dict[str, Any]) -> None:
        kept = self._time_log(cur, e)
        if kept is None:
            return
        org, person, project, work_date, hours = kept
        self._hours(cur, org, person, project, work_date, -hours)
        cur.execute(self.q("UPDATE {s}.time_logs SET deleted = true WHERE id = %s"),
                    (e["aggregate_id"],))

    # -- budget ----------------------------------------------------------------------

    def _project_created(self, cur: Cursor[Any], e: dict[str, Any]) -> None:
        d = e["data"]
        cur.execute(self.q(
            "INSERT INTO {s}.projects (id, organization_id, budget, spent_budget) "
            "VALUES (%s, %s, %s, %s)"),
            (e["aggregate_id"], d["organization_id"], _amount(d.get("budget")),
             _amount(d.get("spent_budget")) or Decimal(0)))
        self._budget(cur, e)

    def _project_updated(self, cur: Cursor[Any], e: dict[str, Any]) -> None:
        changes = e["data"].get("changes") or {}
        if "budget" not in changes and "spent_budget" not in changes:
            return
        cur.execute(self.q(
            "UPDATE {s}.projects SET budget = CASE WHEN %s THEN %s ELSE budget END, "
            "spent_budget = coalesce(%s, spent_budget) WHERE id = %s"),
            ("budget" in changes, _amount(changes.get("budget")),
             _amount(changes.get("spent_budget")), e["aggregate_id"]))
        self._budget(cur, e)

    def _budget(self, cur: Cursor[Any], e: dict[str, Any]) -> None:
        cur.execute(self.q("SELECT organization_id, budget, spent_budget FROM {s}.projects "
                           "WHERE id = %s"), (e["aggregate_id"],))
        kept = cur.fetchone()
        if kept is None:
            return
        org, budget, spent = kept
        week = week_of(_utc_day(_at(e)))
        self._set(cur, org, KpiKey.BUDGET_SPENT, e["aggregate_id"], week, spent)
        burn = (spent * 100 / budget).quantize(Decimal("0.01")) if budget else None
        self._set(cur, org, KpiKey.BUDGET_BURN, e["aggregate_id"], week, burn)

    # -- tasks -----------------------------------------------------------------------

    def _task_created(self, cur: Cursor[Any], e: dict[str, Any]) -> None:
        d = e["data"]
        at = _at(e)
        due = date.fromisoformat(d["due_date"]) if d.get("due_date") else None
        cur.execute(self.q(
            "INSERT INTO {s}.tasks (id, organization_id, project_id, status, due_date, "
            "created_at, started_at) VALUES (%s, %s, %s, %s, %s, %s, %s)"),
            (e["aggregate_id"], d["organization_id"], d["project_id"], d["status"], due, at,
             at if d["status"] == IN_PROGRESS else None))

    def _task_assigned(self, cur: Cursor[Any], e: dict[str, Any]) -> None:
        cur.execute(self.q("UPDATE {s}.tasks SET assignee_id = %s WHERE id = %s"),
                    (e["data"].get("assignee_id"), e["aggregate_id"]))

    def _task_updated(self, cur: Cursor[Any], e: dict[str, Any]) -> None:
        changes = e["data"].get("changes") or {}
        if "due_date" in changes:
            due = changes["due_date"]
            cur.execute(self.q("UPDATE {s}.tasks SET due_date = %s WHERE id = %s"),
                        (date.fromisoformat(due) if due else None, e["aggregate_id"]))

    def _task_status_changed(self, cur: Cursor[Any], e: dict[str, Any]) -> None:
        cur.execute(self.q(
            "SELECT organization_id, project_id, assignee_id, completed_by, completed_week "
            "FROM {s}.tasks WHERE id = %s"), (e["aggregate_id"],))
        kept = cur.fetchone()
        if kept is None:
            return
        org, project, assignee, completed_by, completed_week = kept
        status, at = e["data"]["status"], _at(e)
        cur.execute(self.q(
            "UPDATE {s}.tasks SET status = %s, "
            "started_at = CASE WHEN %s THEN %s ELSE started_at END, "
            "completed_at = NULL, completed_by = NULL, completed_week = NULL WHERE id = %s"),
            (status, status == IN_PROGRESS, at, e["aggregate_id"]))
        if completed_week is not None:  # reopened: the week it counted in changes
            self._completions(cur, org, project, completed_week, completed_by)
        if status == COMPLETED:
            # Credited to the assignee, or to whoever completed an unassigned task.
            person = assignee or e["metadata"].get("actor_id")
            week = week_of(_utc_day(at))
            cur.execute(self.q(
                "UPDATE {s}.tasks SET completed_at = %s, completed_by = %s, "
                "completed_week = %s WHERE id = %s"), (at, person, week, e["aggregate_id"]))
            self._completions(cur, org, project, week, person)

    def _completions(self, cur: Cursor[Any], org: Any, project: Any, week: date,
                     person: Any) -> None:
        """Recompute the week's completion KPIs of ``project`` and ``person``."""
        cur.execute(self.q(
            "SELECT count(*), "
            "percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - "
            "created_at)), "
            "percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - "
            "created_at)), "
            "percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - "
            "started_at)), "
            "percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - "
            "started_at)) "
            "FROM {s}.tasks WHERE project_id = %s AND completed_week = %s"), (project, week))
        count, *seconds = cur.fetchone()  # type: ignore[misc]
        self._set(cur, org, KpiKey.TASKS_COMPLETED, project, week, count or None)
        for kpi, value in zip(COMPLETION_KPIS[1:], seconds, strict=True):
            hours = None if value is None or not count else (
                Decimal(str(value)) / 3600).quantize(Decimal("0.01"))
            self._set(cur, org, kpi, project, week, hours)
        if person is not None:
            cur.execute(self.q(
                "SELECT count(*) FROM {s}.tasks WHERE organization_id = %s AND "
                "completed_by = %s AND completed_week = %s"), (org, person, week))
            (done,) = cur.fetchone()  # type: ignore[misc]
            self._set_member(cur, org, person, MemberMetric.TASKS_COMPLETED, week, done)

    # -- communication and activity ------------------------------------------------

    def _message_posted(self, cur: Cursor[Any], e: dict[str, Any]) -> None:
        d = e["data"]
        self._add(cur, d["organization_id"], KpiKey.MESSAGES_POSTED, d["channel_id"],
                  _utc_day(_at(e)), 1)

    def _active(self, cur: Cursor[Any], envelopes: Sequence[dict[str, Any]]) -> None:
        """Who did anything, per organization and day: one insert for the batch, and a
        count for each (organization, day) that gained someone."""
        seen = sorted({(org, str(_utc_day(_at(e))), str(e["metadata"]["actor_id"]))
                       for e in envelopes
                       if e["metadata"].get("actor_id") and (org := organization_of(e))})
        if not seen:
            return
        cur.execute(self.q(
            "INSERT INTO {s}.active_people (organization_id, day, person_id) "
            "SELECT * FROM unnest(%s::uuid[], %s::date[], %s::uuid[]) "
            "ON CONFLICT DO NOTHING RETURNING organization_id, day"),
            ([o for o, _, _ in seen], [d for _, d, _ in seen], [a for _, _, a in seen]))
        for (org, day), gained in sorted(Counter(cur.fetchall()).items()):
            self._add(cur, org, KpiKey.ACTIVE_PEOPLE, org, day, gained)

    # -- progress --------------------------------------------------------------------

    def advance(self, conn: Connection[Any], events_table: Composable, up_to: int) -> int:
        """Move ``applied_through`` as far towards ``up_to`` as every event is applied;
        returns it."""
        with conn.transaction():
            row = conn.execute(self.q(
                "SELECT applied_through FROM {s}.progress FOR UPDATE")).fetchone()
            through = int(row[0]) if row else 0
            if up_to > through:
                unapplied = conn.execute(SQL(self.q(
                    "SELECT e.notification_id FROM {events} e "
                    "LEFT JOIN {s}.applied a ON a.aggregate_id = e.originator_id "
                    "WHERE e.notification_id > %s AND e.notification_id <= %s "
                    "AND (a.version IS NULL OR a.version < e.originator_version) "
                    "ORDER BY e.notification_id LIMIT 1"))
                    .format(events=events_table), (through, up_to)).fetchone()
                first = unapplied[0] if unapplied else None
                reached = up_to if first is None else int(first) - 1
                if reached > through:
                    conn.execute(self.q("UPDATE {s}.progress SET applied_through = %s"),
                                 (reached,))
                    through = reached
        return through

    def progress(self, conn: Connection[Any]) -> dict[str, int]:
        row = conn.execute(self.q(
            "SELECT applied_through, events_applied, repeats_ignored, "
            "(SELECT count(*) FROM {s}.skipped), (SELECT count(*) FROM {s}.rejected) "
            "FROM {s}.progress")).fetchone()
        if row is None:
            return {"applied_through": 0, "events_applied": 0, "repeats_ignored": 0,
                    "skipped": 0, "rejected": 0}
        return {"applied_through": int(row[0]), "events_applied": int(row[1]),
                "repeats_ignored": int(row[2]), "skipped": int(row[3]),
                "rejected": int(row[4])}

    def exists(self, conn: Connection[Any]) -> bool:
        row = conn.execute("SELECT to_regclass(%s)", (f"{self.schema}.progress",)).fetchone()
        return row is not None and row[0] is not None

    def wait_for(self, pool: ConnectionPool, position: int, timeout: float) -> bool:
        """Wait, bounded, until every event up to ``position`` is applied."""
        deadline = time.monotonic() + timeout
        delay = 0.005
        while True:
            with pool.connection() as conn:
                if self.exists(conn) and self.progress(conn)["applied_through"] >= position:
                    return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(delay)
            delay = min(delay * 2, 0.1)

    # -- queries ---------------------------------------------------------------------

    def definitions(self, conn: Connection[Any]) -> list[dict[str, Any]]:
        with conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(self.q(
                "SELECT key, name, unit, period, subject, description "
                "FROM {s}.kpi_definitions ORDER BY key")).fetchall()

    MEASUREMENTS = Order((("kpi", "text"), ("subject_id", "uuid"), ("period_start", "date")))

    def measurements(self, conn: Connection[Any], org: UUID, *, kpis: list[str] | None,
                     project_id: UUID | None, since: date | None, until: date | None,
                     limit: int, cursor: str | None) -> dict[str, Any]:
        """Measurements by KPI, subject and period; a project filter keeps the KPIs
        measured per project, for that project."""
        where: list[str] = ["m.organization_id = %s"]
        params: list[Any] = [org]
        if kpis:
            where.append("m.kpi = ANY(%s)")
            params.append(kpis)
        if project_id is not None:
            where.append("d.subject = %s AND m.subject_id = %s")
            params += [Subject.PROJECT.value, project_id]
        where, params = self._period(where, params, "m.period_start", since, until)
        return self._page(conn, (
            "SELECT m.kpi, d.subject, m.subject_id, d.period, m.period_start, m.value "
            "FROM {s}.kpi_measurements m JOIN {s}.kpi_definitions d ON d.key = m.kpi "
            "WHERE "), where, params, self.MEASUREMENTS, limit, cursor, "m")

    MEMBERS = Order((("metric", "text"), ("person_id", "uuid"), ("period_start", "date")))

    def member_performance(self, conn: Connection[Any], org: UUID, *,
                           metric: str | None, person_id: UUID | None, since: date | None,
                           until: date | None, limit: int,
                           cursor: str | None) -> dict[str, Any]:
        where: list[str] = ["p.organization_id = %s"]
        params: list[Any] = [org]
        if metric is not None:
            where.append("p.metric = %s")
            params.append(metric)
        if person_id is not None:
            where.append("p.person_id = %s")
            params.append(person_id)
        where, params = self._period(where, params, "p.period_start", since, until)
        return self._page(conn, (
            "SELECT p.metric, p.person_id, 'week' AS period, p.period_start, p.value "
            "FROM {s}.member_performance p WHERE "), where, params, self.MEMBERS, limit,
            cursor, "p")

    HOURS = Order((("week_start", "date"), ("project_id", "uuid"), ("person_id", "uuid")))

    def hours(self, conn: Connection[Any], org: UUID, *, project_id: UUID | None,
              person_id: UUID | None, since: date | None, until: date | None, limit: int,
              cursor: str | None) -> dict[str, Any]:
        """Hours per person, project and week (weeks with hours only)."""
        where: list[str] = ["h.organization_id = %s", "h.hours <> 0"]
        params: list[Any] = [org]
        for column, value in (("project_id", project_id), ("person_id", person_id)):
            if value is not None:
                where.append(f"h.{column} = %s")
                params.append(value)
        where, params = self._period(where, params, "h.week_start", since, until)
        return self._page(conn, (
            "SELECT h.week_start, h.project_id, h.person_id, h.hours "
            "FROM {s}.hours_logged h WHERE "), where, params, self.HOURS, limit, cursor, "h")

    def overdue(self, conn: Connection[Any], org: UUID, today: date,
                project_id: UUID | None) -> list[dict[str, Any]]:
        """Open tasks due before ``today``, per project."""
        where = ["organization_id = %s", "status <> 'COMPLETED'", "due_date < %s"]
        params: list[Any] = [org, today]
        if project_id is not None:
            where.append("project_id = %s")
            params.append(project_id)
        with conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(self.q(  # type: ignore[call-overload, no-any-return]
                "SELECT project_id, count(*) AS overdue_open_tasks, "
                "min(due_date) AS oldest_due_date FROM {s}.tasks WHERE "
                + " AND ".join(where) + " GROUP BY project_id ORDER BY project_id"),
                params).fetchall()

    @staticmethod
    def _period(where: list[str], params: list[Any], column: str, since: date | None,
                until: date | None) -> tuple[list[str], list[Any]]:
        if since is not None:
            where.append(f"{column} >= %s")
            params.append(week_of(since) if column.endswith("week_start") else since)
        if until is not None:
            where.append(f"{column} <= %s")
            params.append(until)
        return where, params

    def _page(self, conn: Connection[Any], select: str, where: list[str],
              params: list[Any], order: Order, limit: int, cursor: str | None,
              alias: str) -> dict[str, Any]:
        after = order.decode(cursor)
        if after is not None:
            where.append(order.after(alias))
            params += after
        with conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(self.q(  # type: ignore[call-overload]
                select + " AND ".join(where) + f" ORDER BY {order.by(alias)} LIMIT %s"),
                [*params, limit + 1]).fetchall()
        return page_of(rows, limit, order)
