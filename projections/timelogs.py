"""workforce.time_logs and the time totals per task, per project and per person per day.

The totals are kept incrementally in the same transaction as the log rows: Logged adds,
Edited applies the difference (and moves hours between days), Deleted subtracts. The
ids a total is keyed by come from the time_logs row written by the Logged event, so a
replay from an empty database adds up to the same numbers.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, NamedTuple
from uuid import UUID

from psycopg import Cursor

from domain.timelog import TimeLog
from projections.base import ReadModel, handles


class _Keys(NamedTuple):
    """What the totals of one time log are keyed by; fixed when the log is created."""

    organization_id: UUID
    project_id: UUID
    task_id: UUID
    person_id: UUID


class TimeLogsReadModel(ReadModel):
    name = "timelogs"
    schema = "workforce"
    ddl = (
        """CREATE TABLE time_logs (
            id uuid PRIMARY KEY,
            organization_id uuid NOT NULL,
            project_id uuid NOT NULL,
            task_id uuid NOT NULL,
            person_id uuid NOT NULL,
            work_date date NOT NULL,
            hours numeric(5,2) NOT NULL,
            description text,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            deleted_at timestamptz,
            version bigint NOT NULL
        )""",
        "CREATE INDEX time_logs_person_date "
        "ON time_logs (person_id, work_date)",
        "CREATE INDEX time_logs_project_date "
        "ON time_logs (project_id, work_date)",
        """CREATE TABLE task_time_totals (
            task_id uuid PRIMARY KEY,
            project_id uuid NOT NULL,
            hours numeric(12,2) NOT NULL
        )""",
        "CREATE INDEX task_time_totals_project "
        "ON task_time_totals (project_id)",
        """CREATE TABLE project_time_totals (
            project_id uuid PRIMARY KEY,
            hours numeric(12,2) NOT NULL
        )""",
        """CREATE TABLE person_day_totals (
            person_id uuid NOT NULL,
            work_date date NOT NULL,
            organization_id uuid NOT NULL,
            hours numeric(6,2) NOT NULL,
            PRIMARY KEY (person_id, work_date, organization_id)
        )""",
    )
    tables = (
        "time_logs",
        "task_time_totals",
        "project_time_totals",
        "person_day_totals",
    )

    @handles(TimeLog.Logged)
    def _logged(self, cur: Cursor[Any], e: Any) -> None:
        cur.execute(
            "INSERT INTO time_logs (id, organization_id, project_id, task_id, "
            "person_id, work_date, hours, description, created_at, updated_at, version) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (e.originator_id, e.organization_id, e.project_id, e.task_id, e.person_id,
             e.work_date, e.hours, e.description, e.timestamp, e.timestamp,
             e.originator_version),
        )
        self._add(cur, _Keys(e.organization_id, e.project_id, e.task_id, e.person_id),
                  e.work_date, e.hours)

    @handles(TimeLog.Edited)
    def _edited(self, cur: Cursor[Any], e: Any) -> None:
        keys = self._keys_of(cur, e.originator_id)
        cur.execute(
            "UPDATE time_logs SET hours = %s, work_date = %s, description = %s, "
            "updated_at = %s, version = %s WHERE id = %s",
            (e.hours, e.work_date, e.description, e.timestamp, e.originator_version,
             e.originator_id),
        )
        self._add(cur, keys, e.previous_work_date, -e.previous_hours)
        self._add(cur, keys, e.work_date, e.hours)

    @handles(TimeLog.Deleted)
    def _deleted(self, cur: Cursor[Any], e: Any) -> None:
        keys = self._keys_of(cur, e.originator_id)
        cur.execute(
            "UPDATE time_logs SET deleted_at = %s, updated_at = %s, version = %s "
            "WHERE id = %s",
            (e.timestamp, e.timestamp, e.originator_version, e.originator_id),
        )
        self._add(cur, keys, e.work_date, -e.hours)

    # --- totals -----------------------------------------------------------
    @staticmethod
    def _keys_of(cur: Cursor[Any], time_log_id: UUID) -> _Keys:
        row = cur.execute(
            "SELECT organization_id, project_id, task_id, person_id FROM time_logs "
            "WHERE id = %s", (time_log_id,),
        ).fetchone()
        if row is None:  # the Logged event always comes first in the log
            raise LookupError(f"time log {time_log_id} has no row to update")
        return _Keys(*row)

    @staticmethod
    def _add(cur: Cursor[Any], keys: _Keys, work_date: date, hours: Decimal) -> None:
        cur.execute(
            "INSERT INTO task_time_totals (task_id, project_id, hours) "
            "VALUES (%s, %s, %s) ON CONFLICT (task_id) "
            "DO UPDATE SET hours = task_time_totals.hours + EXCLUDED.hours",
            (keys.task_id, keys.project_id, hours),
        )
        cur.execute(
            "INSERT INTO project_time_totals (project_id, hours) VALUES (%s, %s) "
            "ON CONFLICT (project_id) "
            "DO UPDATE SET hours = project_time_totals.hours + EXCLUDED.hours",
            (keys.project_id, hours),
        )
        cur.execute(
            "INSERT INTO person_day_totals (person_id, work_date, organization_id, "
            "hours) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (person_id, work_date, organization_id) "
            "DO UPDATE SET hours = person_day_totals.hours + EXCLUDED.hours",
            (keys.person_id, work_date, keys.organization_id, hours),
        )
        if hours < 0:
            # Hours are always positive, so a total back at zero has no live log left:
            # its row goes, as if nothing had ever been logged there.
            cur.execute("DELETE FROM task_time_totals WHERE task_id = %s AND hours = 0",
                        (keys.task_id,))
            cur.execute("DELETE FROM project_time_totals WHERE project_id = %s AND hours = 0",
                        (keys.project_id,))
            cur.execute(
                "DELETE FROM person_day_totals WHERE person_id = %s AND work_date = %s "
                "AND organization_id = %s AND hours = 0",
                (keys.person_id, work_date, keys.organization_id),
            )

