"""Time logs of an organization and the time totals per project and per person per day."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.access import internal, internal_role, not_found, project_role
from api.contract import CommandAnswer, Page
from api.deps import (
    CREATES,
    Command,
    JSONResponse,
    PageCursor,
    PageLimit,
    Reader,
    Strict,
    command_response,
    reading,
)
from api.problems import ApiProblem
from api.values import Day, ExactJSONRoute, Hours, Uuid
from domain.roles import SEES_ALL_PROJECTS, Role
from domain.timelog import MAX_DESCRIPTION
from projections import timelogs as time_logs
from projections.organizations import member_role
from vistone.commands import timelogs as commands

router = APIRouter(prefix="/v1/organizations/{organization_id}", tags=["time"],
                   route_class=ExactJSONRoute)

Reads = Annotated[Reader, reading("organizations", "projects", "timelogs")]


class LogTime(Strict):
    task_id: Uuid
    work_date: Day
    hours: Hours
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION)

    model_config = {"json_schema_extra": {"examples": [
        {"task_id": "0b8f8a52-3c1e-4d57-9a53-2f7d3c1f4e10", "work_date": "2026-11-20",
         "hours": "7.50", "description": "Wireframes for the landing page"}]}}


class EditTimeLog(Strict):
    """Only the fields sent change; send ``description: null`` to clear it (work_date
    and hours may not be null)."""

    work_date: Day = Field(Strict.ABSENT)
    hours: Hours = Field(Strict.ABSENT)
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION)

    model_config = {"json_schema_extra": {"examples": [{"hours": "6.25"}]}}


class TimeLogView(BaseModel):
    id: UUID
    organization_id: UUID
    project_id: UUID
    task_id: UUID
    person_id: UUID
    work_date: date
    hours: Decimal = Field(description='exact, as a string such as "7.50"')
    description: str | None
    created_at: datetime
    updated_at: datetime
    version: int


class TaskHours(BaseModel):
    task_id: UUID
    hours: Decimal


class ProjectTimeTotals(BaseModel):
    project_id: UUID
    hours: Decimal
    tasks: list[TaskHours] = Field(description="hours per task, most first")


class DayHours(BaseModel):
    work_date: date
    hours: Decimal


class PersonDayTotals(BaseModel):
    user_id: UUID
    from_: date = Field(alias="from")
    to: date
    hours: Decimal
    days: list[DayHours] = Field(description="the days with hours logged, in date order")


@router.post("/time-logs", status_code=201, dependencies=CREATES,
             response_model=CommandAnswer)
def log_time(organization_id: UUID, body: LogTime, command: Command) -> JSONResponse:
    """Log the caller's hours on a task (at most 24 hours per person and day)."""
    result = commands.log_time(command, organization_id, task_id=body.task_id,
                               work_date=body.work_date, hours=body.hours,
                               description=body.description)
    return command_response(result, 201)


@router.patch("/time-logs/{time_log_id}", response_model=CommandAnswer)
def edit_time_log(organization_id: UUID, time_log_id: UUID, body: EditTimeLog,
                  command: Command) -> JSONResponse:
    result = commands.edit_time_log(command, organization_id, time_log_id,
                                    changes=body.changes())
    return command_response(result)


@router.delete("/time-logs/{time_log_id}", response_model=CommandAnswer)
def delete_time_log(organization_id: UUID, time_log_id: UUID,
                    command: Command) -> JSONResponse:
    return command_response(commands.delete_time_log(command, organization_id, time_log_id))


@router.get("/time-logs", response_model=Page[TimeLogView])
def list_time_logs(
    organization_id: UUID, reader: Reads,
    user_id: UUID | None = None,
    date_from: Annotated[Day | None, Query(alias="from")] = None,
    date_to: Annotated[Day | None, Query(alias="to")] = None,
    project_id: UUID | None = None,
    limit: PageLimit = 50,
    cursor: PageCursor = None,
) -> JSONResponse:
    """One person's logs (the caller's unless ``user_id`` says otherwise; only
    Organizers and Managers may look at someone else's), newest date first. Time is no
    part of a client's portal: 404 for the Client role."""
    person = user_id or reader.caller
    role = internal_role(reader.conn, organization_id, reader.caller)
    _may_see_person(role, reader.caller, person)
    if project_id is not None:
        project_role(reader.conn, organization_id, project_id, reader.caller)
    return reader.answer(time_logs.person_logs(
        reader.conn, organization_id, person, date_from=date_from, date_to=date_to,
        project_id=project_id, cursor=cursor, limit=limit))


@router.get("/time-logs/{time_log_id}", response_model=TimeLogView)
def get_time_log(organization_id: UUID, time_log_id: UUID, reader: Reads) -> JSONResponse:
    """One time log: its author's, or anyone's for Organizers and Managers."""
    role = internal_role(reader.conn, organization_id, reader.caller)
    found = time_logs.time_log(reader.conn, organization_id, time_log_id)
    if found is None or (found["person_id"] != reader.caller
                         and role not in SEES_ALL_PROJECTS):
        raise not_found("time log", time_log_id)
    return reader.answer(found, ETag=f'"{found["version"]}"')


@router.get("/time-totals/projects/{project_id}", response_model=ProjectTimeTotals)
def project_time_totals(organization_id: UUID, project_id: UUID,
                        reader: Reads) -> JSONResponse:
    """Hours logged on the project, per task (for those who see the project, but not
    through a client's portal)."""
    internal(project_role(reader.conn, organization_id, project_id, reader.caller),
             "project", project_id)
    return reader.answer(time_logs.project_totals(reader.conn, project_id))


@router.get("/time-totals/people/{user_id}", response_model=PersonDayTotals)
def person_day_totals(
    organization_id: UUID, user_id: UUID, reader: Reads,
    # Annotated: with a plain `= Query(...)` default, FastAPI drops Day's own validator.
    date_from: Annotated[Day, Query(alias="from")],
    date_to: Annotated[Day, Query(alias="to")],
) -> JSONResponse:
    """Hours per day logged in this organization by one person, from ``from`` to ``to``
    inclusive; a range that ends before it starts holds no day. Only days with hours are
    listed, so the answer is bounded by what the person logged, whatever the range."""
    role = internal_role(reader.conn, organization_id, reader.caller)
    _may_see_person(role, reader.caller, user_id)
    if user_id != reader.caller and member_role(reader.conn, organization_id, user_id) is None:
        raise not_found("member", user_id)
    return reader.answer(time_logs.person_days(reader.conn, organization_id, user_id,
                                               date_from, date_to))


def _may_see_person(role: Role, caller: UUID, person: UUID) -> None:
    if person != caller and role not in SEES_ALL_PROJECTS:
        raise ApiProblem(403, "forbidden", "Forbidden",
                         "only Organizers and Managers may see other people's time")

