"""Analytics for Organizers and Managers (docs/kafka.md, "Analytics"): the KPI
definitions, their measurements, member performance, hours per person, project and
week, and overdue open tasks, as computed by the Kafka analytics consumers.

Readable by position: ``X-Min-Position`` (or ``min_position``) makes the read wait,
bounded, until the consumers applied every event up to that position;
``X-Consistent`` says whether they had, and ``X-Analytics-Position`` up to where they
have."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from analytics.kpis import KpiKey, MemberMetric, Period, Subject
from analytics.store import AnalyticsStore
from api.access import internal_role, project_role
from api.contract import Page
from api.deps import (
    POSITION_HEADER,
    JSONResponse,
    PageCursor,
    PageLimit,
    Reader,
    reading,
    runtime_of,
)
from api.problems import ApiProblem
from api.values import Day, ExactJSONRoute
from domain.roles import SEES_ALL_PROJECTS

router = APIRouter(prefix="/v1/organizations/{organization_id}/analytics",
                   tags=["analytics"], route_class=ExactJSONRoute)

Reads = Annotated[Reader, reading("organizations", "projects")]
STORE = AnalyticsStore()

FROM = Query(alias="from", description="first day of the periods (a week starting "
             "before it counts when the filter is on weeks that contain it)")
TO = Query(alias="to", description="last day on which a period may start")


class KpiDefinitionView(BaseModel):
    key: KpiKey
    name: str
    unit: str
    period: Period
    subject: Subject = Field(description="what one measurement is of")
    description: str


class KpiDefinitions(BaseModel):
    items: list[KpiDefinitionView]


class MeasurementView(BaseModel):
    kpi: KpiKey
    subject: Subject
    subject_id: UUID = Field(description="the project, the channel or the organization")
    period: Period
    period_start: date = Field(description="the UTC day, or the Monday of the ISO week")
    value: Decimal = Field(description='exact, as a string such as "7.50"')


class MemberPerformanceView(BaseModel):
    metric: MemberMetric
    person_id: UUID
    period: Period
    period_start: date
    value: Decimal


class HoursView(BaseModel):
    week_start: date
    project_id: UUID
    person_id: UUID
    hours: Decimal


class OverdueProject(BaseModel):
    project_id: UUID
    overdue_open_tasks: int
    oldest_due_date: date


class OverdueTasks(BaseModel):
    as_of: date = Field(description="today in UTC: tasks due before it are overdue")
    items: list[OverdueProject]


def _analytics_reader(request: Request, reader: Reader, organization_id: UUID,
                      project_id: UUID | None = None) -> Reader:
    """Organizers and Managers only (the Client role and outsiders get 404); a project
    filter must name a project of the organization; the read reflects the requested
    position if the consumers reach it in time."""
    role = internal_role(reader.conn, organization_id, reader.caller)
    if role not in SEES_ALL_PROJECTS:
        raise ApiProblem(403, "forbidden", "Forbidden",
                         "only Organizers and Managers may read analytics")
    if project_id is not None:
        project_role(reader.conn, organization_id, project_id, reader.caller)
    raw = request.headers.get(POSITION_HEADER) or request.query_params.get("min_position")
    if raw is not None:  # already checked by the reader: digits only
        runtime = runtime_of(request)
        reached = STORE.wait_for(runtime.pool, int(raw), runtime.settings.read_wait_seconds)
        if not reached:
            reader.headers["X-Consistent"] = "false"
    reader.headers["X-Analytics-Position"] = str(
        STORE.progress(reader.conn)["applied_through"])
    return reader


@router.get("/kpis", response_model=KpiDefinitions)
def kpi_definitions(organization_id: UUID, request: Request, reader: Reads) -> JSONResponse:
    """The KPIs measured (seed: ``KpiDefinition``), from the analytics tables."""
    _analytics_reader(request, reader, organization_id)
    return reader.answer({"items": STORE.definitions(reader.conn)})


@router.get("/measurements", response_model=Page[MeasurementView])
def measurements(
    organization_id: UUID, request: Request, reader: Reads,
    kpi: Annotated[list[KpiKey] | None, Query(
        description="KPI keys (repeat the parameter); all if none")] = None,
    project_id: Annotated[UUID | None, Query(
        description="only the KPIs measured per project, for this project")] = None,
    date_from: Annotated[Day | None, FROM] = None,
    date_to: Annotated[Day | None, TO] = None,
    limit: PageLimit = 50,
    cursor: PageCursor = None,
) -> JSONResponse:
    """Measurements (seed: ``KpiMeasurement``) by KPI, subject and period."""
    _analytics_reader(request, reader, organization_id, project_id)
    return reader.answer(STORE.measurements(
        reader.conn, organization_id, kpis=[k.value for k in kpi or ()],
        project_id=project_id, since=date_from, until=date_to, limit=limit, cursor=cursor))


@router.get("/member-performance", response_model=Page[MemberPerformanceView])
def member_performance(
    organization_id: UUID, request: Request, reader: Reads,
    metric: MemberMetric | None = None,
    user_id: UUID | None = None,
    date_from: Annotated[Day | None, FROM] = None,
    date_to: Annotated[Day | None, TO] = None,
    limit: PageLimit = 50,
    cursor: PageCursor = None,
) -> JSONResponse:
    """Per person and ISO week (seed: ``MemberPerformance``): hours logged and tasks
    completed."""
    _analytics_reader(request, reader, organization_id)
    return reader.answer(STORE.member_performance(
        reader.conn, organization_id, metric=metric.value if metric else None,
        person_id=user_id, since=date_from, until=date_to, limit=limit, cursor=cursor))


@router.get("/hours", response_model=Page[HoursView])
def hours(
    organization_id: UUID, request: Request, reader: Reads,
    project_id: UUID | None = None,
    user_id: UUID | None = None,
    date_from: Annotated[Day | None, FROM] = None,
    date_to: Annotated[Day | None, TO] = None,
    limit: PageLimit = 50,
    cursor: PageCursor = None,
) -> JSONResponse:
    """Hours logged per person, project and ISO week (weeks with hours only)."""
    _analytics_reader(request, reader, organization_id, project_id)
    return reader.answer(STORE.hours(
        reader.conn, organization_id, project_id=project_id, person_id=user_id,
        since=date_from, until=date_to, limit=limit, cursor=cursor))


@router.get("/overdue-tasks", response_model=OverdueTasks)
def overdue_tasks(organization_id: UUID, request: Request, reader: Reads,
                  project_id: UUID | None = None) -> JSONResponse:
    """Open tasks due before today (UTC), per project with any: a KPI of the moment,
    counted when read from the tasks the consumers keep."""
    _analytics_reader(request, reader, organization_id, project_id)
    today = datetime.now(UTC).date()
    items: list[dict[str, Any]] = STORE.overdue(reader.conn, organization_id, today,
                                                project_id)
    return reader.answer({"as_of": today, "items": items})
