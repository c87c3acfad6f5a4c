"""workforce.time_logs and the time totals per task, per project and per person per day.

The totals are kept incrementally in the same transaction as the log rows: Logged adds,
Edited applies the difference (and moves hours between days), Deleted subtracts. The
ids a total is keyed by come from the time_logs row written by the Logged event, so a
replay from an empty database adds up to the same numbers.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from psycopg import Connection, Cursor

from domain.timelog import TimeLog
from projections.base import ReadModel, handles
from projections.paging import Order
from projections.table import Table

TIME_LOGS = Table("workforce", "time_logs", {
    "id": "uuid PRIMARY KEY",
    "organization_id": "uuid NOT NULL",
    "project_id": "uuid NOT NULL",
    "task_id": "uuid NOT NULL",
    "person_id": "uuid NOT NULL",
    "work_date": "date NOT NULL",
    "hours": "numeric(5,2) NOT NULL",
    "description": "text",
    "created_at": "timestamptz NOT NULL",
    "updated_at": "timestamptz NOT NULL",
    "deleted_at": "timestamptz",
    "version": "bigint NOT NULL",
}, hidden=("deleted_at",))

# A person's logs, newest date first.
BY_DATE = Order((("work_date", "date"), ("id", "uuid")), descending=True)


class TimeLogsReadModel(ReadModel):
    name = "timelogs"
    schema = "workforce"
    ddl = (
        TIME_LOGS.ddl,
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
            "WITH keys AS (SELECT %(organization_id)s::uuid AS organization_id, "
            "%(project_id)s::uuid AS project_id, %(task_id)s::uuid AS task_id, "
            "%(person_id)s::uuid AS person_id), "
            "change AS (INSERT INTO time_logs (id, organization_id, project_id, task_id, "
            "person_id, work_date, hours, description, created_at, updated_at, version) "
            "VALUES (%(id)s, %(organization_id)s, %(project_id)s, %(task_id)s, %(person_id)s, "
            "%(work_date)s, %(hours)s, %(description)s, %(at)s, %(at)s, %(version)s)), "
            + ADD_TO_TOTALS,
            {"id": e.originator_id, "organization_id": e.organization_id,
             "project_id": e.project_id, "task_id": e.task_id, "person_id": e.person_id,
             "work_date": e.work_date, "hours": e.hours, "description": e.description,
             "at": e.timestamp, "version": e.originator_version,
             **_days((e.work_date, e.hours)), "delta": e.hours},
        )

    @handles(TimeLog.Edited)
    def _edited(self, cur: Cursor[Any], e: Any) -> None:
        cur.execute(
            KEYS_OF_THE_LOG + "change AS (UPDATE time_logs SET hours = %(hours)s, "
            "work_date = %(work_date)s, description = %(description)s, updated_at = %(at)s, "
            "version = %(version)s WHERE id = %(id)s), " + ADD_TO_TOTALS,
            {"id": e.originator_id, "hours": e.hours, "work_date": e.work_date,
             "description": e.description, "at": e.timestamp, "version": e.originator_version,
             **_days((e.previous_work_date, -e.previous_hours), (e.work_date, e.hours)),
             "delta": e.hours - e.previous_hours},
        )
        self._drop_zero_totals(cur, e.originator_id, e.previous_work_date)

    @handles(TimeLog.Deleted)
    def _deleted(self, cur: Cursor[Any], e: Any) -> None:
        cur.execute(
            KEYS_OF_THE_LOG + "change AS (UPDATE time_logs SET deleted_at = %(at)s, "
            "updated_at = %(at)s, version = %(version)s WHERE id = %(id)s), " + ADD_TO_TOTALS,
            {"id": e.originator_id, "at": e.timestamp, "version": e.originator_version,
             **_days((e.work_date, -e.hours)), "delta": -e.hours},
        )
        self._drop_zero_totals(cur, e.originator_id, e.work_date)

    @staticmethod
    def _drop_zero_totals(cur: Cursor[Any], time_log_id: Any, work_date: date) -> None:
        # Hours are always positive, so a total back at zero has no live log left: its
        # row goes, as if nothing had ever been logged there. (A separate statement: the
        # CTEs of the one before cannot see each other's updates.)
        cur.execute(
            KEYS_OF_THE_LOG
            + "task AS (DELETE FROM task_time_totals t USING keys k "
            "WHERE t.task_id = k.task_id AND t.hours = 0), "
            "project AS (DELETE FROM project_time_totals t USING keys k "
            "WHERE t.project_id = k.project_id AND t.hours = 0) "
            "DELETE FROM person_day_totals t USING keys k WHERE t.person_id = k.person_id "
            "AND t.organization_id = k.organization_id AND t.work_date = %(work_date)s "
            "AND t.hours = 0",
            {"id": time_log_id, "work_date": work_date},
        )


# The ids a time log's totals are keyed by, from its row (written by its Logged event,
# which always comes first in the log).
KEYS_OF_THE_LOG = (
    "WITH keys AS (SELECT organization_id, project_id, task_id, person_id FROM time_logs "
    "WHERE id = %(id)s), "
)

# Adds %(delta)s hours to the task's and the project's totals and the two (date, hours)
# pairs to the person's days; the CTE ``keys`` names the ids. The day pairs are summed
# first: one statement may not update the same row twice.
ADD_TO_TOTALS = (
    "task AS (INSERT INTO task_time_totals (task_id, project_id, hours) "
    "SELECT task_id, project_id, %(delta)s FROM keys ON CONFLICT (task_id) "
    "DO UPDATE SET hours = task_time_totals.hours + EXCLUDED.hours), "
    "project AS (INSERT INTO project_time_totals (project_id, hours) "
    "SELECT project_id, %(delta)s FROM keys ON CONFLICT (project_id) "
    "DO UPDATE SET hours = project_time_totals.hours + EXCLUDED.hours) "
    "INSERT INTO person_day_totals (person_id, work_date, organization_id, hours) "
    "SELECT k.person_id, d.work_date, k.organization_id, sum(d.hours) FROM keys k, "
    "(VALUES (%(day_1)s::date, %(hours_1)s::numeric), (%(day_2)s::date, %(hours_2)s::numeric)) "
    "AS d(work_date, hours) GROUP BY k.person_id, d.work_date, k.organization_id "
    "ON CONFLICT (person_id, work_date, organization_id) "
    "DO UPDATE SET hours = person_day_totals.hours + EXCLUDED.hours"
)


def _days(first: tuple[date, Decimal],
          second: tuple[date, Decimal] | None = None) -> dict[str, Any]:
    """The (date, hours) pairs added to a person's days (a second pair of 0 hours on the
    same date when there is only one)."""
    second = second or (first[0], Decimal(0))
    return {"day_1": first[0], "hours_1": first[1], "day_2": second[0], "hours_2": second[1]}


# --- queries ----------------------------------------------------------------


def time_log(conn: Connection[Any], organization_id: Any, time_log_id: Any) -> \
        dict[str, Any] | None:
    """One live time log of the organization."""
    return TIME_LOGS.one(conn, "id = %s AND organization_id = %s AND deleted_at IS NULL",
                         (time_log_id, organization_id))


def person_logs(conn: Connection[Any], organization_id: Any, person_id: Any, *,
                date_from: date | None, date_to: date | None, project_id: Any,
                cursor: str | None, limit: int) -> dict[str, Any]:
    """A page of one person's live logs in the organization, newest date first."""
    where = ["organization_id = %s", "person_id = %s", "deleted_at IS NULL"]
    params: list[Any] = [organization_id, person_id]
    for condition, value in (("work_date >= %s", date_from), ("work_date <= %s", date_to),
                             ("project_id = %s", project_id)):
        if value is not None:
            where.append(condition)
            params.append(value)
    return TIME_LOGS.page(conn, where, params, BY_DATE, cursor, limit)


def project_totals(conn: Connection[Any], project_id: Any) -> dict[str, Any]:
    """The hours logged on a project, in total and per task (most hours first)."""
    total = conn.execute(
        "SELECT hours FROM workforce.project_time_totals WHERE project_id = %s", (project_id,),
    ).fetchone()
    tasks = conn.execute(
        "SELECT task_id, hours FROM workforce.task_time_totals WHERE project_id = %s "
        "ORDER BY hours DESC, task_id", (project_id,),
    ).fetchall()
    return {"project_id": project_id, "hours": total[0] if total else Decimal("0.00"),
            "tasks": [{"task_id": t[0], "hours": t[1]} for t in tasks]}


def person_days(conn: Connection[Any], organization_id: Any, person_id: Any,
                date_from: date, date_to: date) -> dict[str, Any]:
    """Hours per day one person logged in the organization, ``date_from`` to ``date_to``
    inclusive (days without hours are left out)."""
    rows = conn.execute(
        "SELECT work_date, hours FROM workforce.person_day_totals "
        "WHERE person_id = %s AND organization_id = %s AND work_date BETWEEN %s AND %s "
        "AND hours <> 0 ORDER BY work_date",
        (person_id, organization_id, date_from, date_to),
    ).fetchall()
    return {"user_id": person_id, "from": date_from, "to": date_to,
            "hours": sum((r[1] for r in rows), Decimal("0.00")),
            "days": [{"work_date": r[0], "hours": r[1]} for r in rows]}
