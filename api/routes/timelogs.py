"""Time logs of an organization and the time totals per project and per person per day."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request
from pydantic import Field

from api.access import not_found, organization_role, project_role
from api.deps import (
    CREATES,
    MAX_CURSOR_LENGTH,
    Caller,
    JSONResponse,
    Strict,
    as_date,
    as_uuid,
    command_response,
    context_of,
    idempotency_of,
    if_match_of,
    page,
    parse_cursor,
    read_consistency,
    runtime_of,
)
from api.problems import ApiProblem
from api.values import Amount, Day, ExactJSONRoute, Uuid
from domain.roles import SEES_ALL_PROJECTS
from vistone.commands import timelogs as commands

router = APIRouter(prefix="/v1/organizations/{organization_id}", tags=["time"],
                   route_class=ExactJSONRoute)

READ_MODELS = ["organizations", "projects", "timelogs"]
MAX_DAYS_PER_QUERY = 366
# Exact as sent; the domain names the real rule (0 < hours <= 24, 2 decimal places).
Hours = Amount

LOG_COLUMNS = ("id", "organization_id", "project_id", "task_id", "person_id", "work_date",
               "hours", "description", "created_at", "updated_at", "version")


class LogTime(Strict):
    task_id: Uuid
    work_date: Day
    hours: Hours
    description: str | None = Field(default=None, max_length=2000)


class EditTimeLog(Strict):
    """Only the fields sent change; send ``description: null`` to clear it (work_date
    and hours may not be null)."""

    work_date: Day = Field(Strict.ABSENT)
    hours: Hours = Field(Strict.ABSENT)
    description: str | None = Field(default=None, max_length=2000)


def invalid(field: str, detail: str) -> ApiProblem:
    return ApiProblem(422, "invalid-value", "Invalid request", f"{field}: {detail}",
                      field=field)


def log_json(row: tuple[Any, ...]) -> dict[str, Any]:
    item = dict(zip(LOG_COLUMNS, row, strict=True))
    item["hours"] = str(item["hours"])  # a string keeps "7.50" exact
    return item


@router.post("/time-logs", status_code=201, dependencies=CREATES)
def log_time(organization_id: UUID, body: LogTime, request: Request,
             caller: Caller) -> JSONResponse:
    result = commands.log_time(
        runtime_of(request).app, context_of(request, caller), organization_id,
        task_id=body.task_id, work_date=body.work_date, hours=body.hours,
        description=body.description, if_match=if_match_of(request),
        idempotency=idempotency_of(request, caller),
    )
    return command_response(result, 201)


@router.patch("/time-logs/{time_log_id}")
def edit_time_log(organization_id: UUID, time_log_id: UUID, body: EditTimeLog,
                  request: Request, caller: Caller) -> JSONResponse:
    result = commands.edit_time_log(
        runtime_of(request).app, context_of(request, caller), organization_id, time_log_id,
        changes=body.changes(), if_match=if_match_of(request),
        idempotency=idempotency_of(request, caller),
    )
    return command_response(result)


@router.delete("/time-logs/{time_log_id}")
def delete_time_log(organization_id: UUID, time_log_id: UUID, request: Request,
                    caller: Caller) -> JSONResponse:
    result = commands.delete_time_log(
        runtime_of(request).app, context_of(request, caller), organization_id, time_log_id,
        if_match=if_match_of(request), idempotency=idempotency_of(request, caller),
    )
    return command_response(result)


@router.get("/time-logs")
def list_time_logs(
    organization_id: UUID, request: Request, caller: Caller,
    user_id: UUID | None = None,
    date_from: Day | None = Query(default=None, alias="from"),
    date_to: Day | None = Query(default=None, alias="to"),
    project_id: UUID | None = None,
    limit: int = Query(default=50, ge=1, le=200),
    cursor: str | None = Query(default=None, max_length=MAX_CURSOR_LENGTH),
) -> JSONResponse:
    """One person's logs (the caller's unless ``user_id`` says otherwise; only
    Organizers and Managers may look at someone else's), newest date first."""
    headers = read_consistency(request, READ_MODELS)
    after = parse_cursor(cursor, as_date, as_uuid)
    person = user_id or caller
    _check_range(date_from, date_to, max_days=None)
    with runtime_of(request).pool.connection() as conn:
        role = organization_role(conn, organization_id, caller)
        _may_see_person(role, caller, person)
        if project_id is not None:
            project_role(conn, organization_id, project_id, caller)
        rows = conn.execute(
            f"SELECT {', '.join(LOG_COLUMNS)} FROM workforce.time_logs "
            "WHERE organization_id = %(org)s AND person_id = %(person)s "
            "AND deleted_at IS NULL "
            "AND (%(from)s::date IS NULL OR work_date >= %(from)s) "
            "AND (%(to)s::date IS NULL OR work_date <= %(to)s) "
            "AND (%(project)s::uuid IS NULL OR project_id = %(project)s) "
            "AND (%(after_date)s::date IS NULL "
            "     OR (work_date, id) < (%(after_date)s, %(after_id)s)) "
            "ORDER BY work_date DESC, id DESC LIMIT %(limit)s",
            {"org": organization_id, "person": person, "from": date_from, "to": date_to,
             "project": project_id, "after_date": after[0] if after else None,
             "after_id": after[1] if after else None, "limit": limit + 1},
        ).fetchall()
    items = [log_json(r) for r in rows]
    return page(items, limit, lambda i: [i["work_date"].isoformat(), str(i["id"])], headers)


@router.get("/time-totals/projects/{project_id}")
def project_time_totals(organization_id: UUID, project_id: UUID, request: Request,
                        caller: Caller) -> JSONResponse:
    headers = read_consistency(request, READ_MODELS)
    with runtime_of(request).pool.connection() as conn:
        project_role(conn, organization_id, project_id, caller)
        total = conn.execute(
            "SELECT hours FROM workforce.project_time_totals WHERE project_id = %s",
            (project_id,),
        ).fetchone()
        tasks = conn.execute(
            "SELECT task_id, hours FROM workforce.task_time_totals WHERE project_id = %s "
            "ORDER BY hours DESC, task_id", (project_id,),
        ).fetchall()
    body = {"project_id": project_id,
            "hours": str(total[0] if total else Decimal("0.00")),
            "tasks": [{"task_id": t[0], "hours": str(t[1])} for t in tasks]}
    return JSONResponse(body, headers=headers)


@router.get("/time-totals/people/{user_id}")
def person_day_totals(
    organization_id: UUID, user_id: UUID, request: Request, caller: Caller,
    # Annotated: with a plain `= Query(...)` default, FastAPI drops Day's own validator.
    date_from: Annotated[Day, Query(alias="from")],
    date_to: Annotated[Day, Query(alias="to")],
) -> JSONResponse:
    """Hours per day logged in this organization by one person, from ``from`` to ``to``
    inclusive (at most 366 days)."""
    headers = read_consistency(request, READ_MODELS)
    _check_range(date_from, date_to, max_days=MAX_DAYS_PER_QUERY)
    with runtime_of(request).pool.connection() as conn:
        role = organization_role(conn, organization_id, caller)
        _may_see_person(role, caller, user_id)
        if user_id != caller and conn.execute(
            "SELECT 1 FROM auth.organization_members WHERE organization_id = %s "
            "AND user_id = %s", (organization_id, user_id),
        ).fetchone() is None:
            raise not_found("member", user_id)
        rows = conn.execute(
            "SELECT work_date, hours FROM workforce.person_day_totals "
            "WHERE person_id = %s AND organization_id = %s AND work_date BETWEEN %s AND %s "
            "AND hours <> 0 ORDER BY work_date",
            (user_id, organization_id, date_from, date_to),
        ).fetchall()
    days = [{"work_date": r[0], "hours": str(r[1])} for r in rows]
    body = {"user_id": user_id, "from": date_from, "to": date_to,
            "hours": str(sum((r[1] for r in rows), Decimal("0.00"))), "days": days}
    return JSONResponse(body, headers=headers)


def _may_see_person(role: Any, caller: UUID, person: UUID) -> None:
    if person != caller and role not in SEES_ALL_PROJECTS:
        raise ApiProblem(403, "forbidden", "Forbidden",
                         "only Organizers and Managers may see other people's time")


def _check_range(date_from: date | None, date_to: date | None, *,
                 max_days: int | None) -> None:
    if date_from is not None and date_to is not None:
        if date_to < date_from:
            raise invalid("to", "must not be before from")
        if max_days is not None and (date_to - date_from).days + 1 > max_days:
            raise invalid("to", f"the range may span at most {max_days} days")
