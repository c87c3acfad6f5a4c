"""Time travel: an organization, project, task, channel, time log or client as it was at a
version (``?as_of_version=N``) or at a moment (``?as_of=<RFC 3339 time with an offset>``),
read from the log (``vistone.as_of``).

Who may read it is decided by the caller's permissions **now**, on the read models, the
same as the record's own GET route: a removed project member no longer reads the project's
past either. A record's state holds internal fields (members, other clients' ids), so the
Client role (the portal) gets 404 for every time-travel read, like an outsider.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from api.access import internal, internal_role, not_found, project_role, visible_task
from api.deps import JSONResponse, Reader, reading, runtime_of
from api.problems import ApiProblem
from api.values import MOMENT_HELP, ExactJSONRoute, Moment
from domain.channel import Channel
from domain.client import Client
from domain.organization import Organization
from domain.project import Project
from domain.roles import SEES_ALL_PROJECTS
from domain.task import Task
from domain.timelog import TimeLog
from projections import channels, clients
from projections import timelogs as time_logs
from vistone import as_of
from vistone.as_of import AggregateAsOf

router = APIRouter(prefix="/v1/organizations/{organization_id}", tags=["time travel"],
                   route_class=ExactJSONRoute)

# The largest version the event store can hold (a bigint): a larger one is a 422, not a
# number to send to PostgreSQL.
MAX_VERSION = 2**63 - 1

class AggregateState(BaseModel):
    """A record as it was at one version: the version answered (also the ETag), when
    that version was recorded, and the record's fields then."""

    entity_type: Literal["organization", "project", "task", "channel", "time_log",
                         "client"]
    id: UUID
    version: int = Field(description="the version answered: 1 is the record's creation")
    recorded_at: datetime = Field(description="when that version was recorded (UTC)")
    state: dict[str, Any] = Field(description="the record's fields at that version")


class AsOf:
    """Which past a request asks for: exactly one of a version or a moment."""

    def __init__(self, version: int | None, moment: datetime | None) -> None:
        self.version = version
        self.moment = moment

    def load(self, request: Request, aggregate_id: UUID) -> AggregateAsOf:
        app = runtime_of(request).app
        if self.version is not None:
            return as_of.at_version(app, aggregate_id, self.version)
        assert self.moment is not None  # as_of_query lets exactly one of them through
        return as_of.at_time(app, aggregate_id, self.moment)


async def as_of_query(
    as_of_version: Annotated[int | None, Query(
        ge=1, le=MAX_VERSION,
        description="the version to answer (1 is the creation); or give as_of")] = None,
    as_of: Annotated[Moment | None, Query(
        description="answer the last version recorded at or before this moment: "
        f"{MOMENT_HELP}; or give as_of_version")] = None,
) -> AsOf:
    if (as_of_version is None) == (as_of is None):
        given = "both" if as_of_version is not None else "neither"
        raise ApiProblem(422, "validation-error", "Invalid request",
                         f"give exactly one of as_of_version and as_of ({given} was given)",
                         field="as_of_version" if as_of_version is None else "as_of")
    return AsOf(as_of_version, as_of)


When = Annotated[AsOf, Depends(as_of_query)]


def _state(request: Request, reader: Reader, kind: type, what: str, organization_id: UUID,
           aggregate_id: UUID, when: AsOf) -> JSONResponse:
    """The record as of ``when``, once the caller's current right to read it was checked
    (by the caller of this function): 404 too when the id names a record of another
    type or another organization."""
    found = when.load(request, aggregate_id)
    if (not isinstance(found.aggregate, kind)
            or found.organization_id() != organization_id):
        raise not_found(what, aggregate_id)
    return reader.answer(found.answer(), ETag=f'"{found.version}"')


# What each read waits on for X-Min-Position: the read models its permission check uses.
OrganizationReads = Annotated[Reader, reading("organizations")]
ProjectReads = Annotated[Reader, reading("organizations", "projects")]
TaskReads = Annotated[Reader, reading("organizations", "projects", "tasks")]
ChannelReads = Annotated[Reader, reading("organizations", "projects", "channels")]
TimeLogReads = Annotated[Reader, reading("organizations", "timelogs")]
ClientReads = Annotated[Reader, reading("organizations", "clients")]

RESPONSES: dict[int | str, dict[str, Any]] = {404: {"description": (
    "Not found, not visible to the caller now (the Client role reads no past), of "
    "another type or organization, a version never recorded, or a moment before the "
    "record existed")}}


def _route(path: str, summary: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return router.get(path, response_model=AggregateState, responses=RESPONSES,
                      summary=summary)


@_route("/state", "The organization as of a version or a moment")
def organization_state(organization_id: UUID, request: Request, reader: OrganizationReads,
                       when: When) -> JSONResponse:
    """For the organization's members (not the Client role)."""
    internal_role(reader.conn, organization_id, reader.caller)
    return _state(request, reader, Organization, "organization", organization_id,
                  organization_id, when)


@_route("/projects/{project_id}/state", "A project as of a version or a moment")
def project_state(organization_id: UUID, project_id: UUID, request: Request,
                  reader: ProjectReads, when: When) -> JSONResponse:
    """For those who see the project now (Organizers and Managers: every project; others:
    their projects), not the Client role."""
    internal(project_role(reader.conn, organization_id, project_id, reader.caller),
             "project", project_id)
    return _state(request, reader, Project, "project", organization_id, project_id, when)


@_route("/tasks/{task_id}/state", "A task as of a version or a moment")
def task_state(organization_id: UUID, task_id: UUID, request: Request, reader: TaskReads,
               when: When) -> JSONResponse:
    """For those who see the task's project now, not the Client role."""
    internal_role(reader.conn, organization_id, reader.caller)
    visible_task(reader.conn, organization_id, task_id, reader.caller)
    return _state(request, reader, Task, "task", organization_id, task_id, when)


@_route("/channels/{channel_id}/state", "A channel as of a version or a moment")
def channel_state(organization_id: UUID, channel_id: UUID, request: Request,
                  reader: ChannelReads, when: When) -> JSONResponse:
    """For those who see the channel now, not the Client role."""
    role = internal_role(reader.conn, organization_id, reader.caller)
    if channels.channel_access(reader.conn, organization_id, channel_id, reader.caller,
                               role) is None:
        raise not_found("channel", channel_id)
    return _state(request, reader, Channel, "channel", organization_id, channel_id, when)


@_route("/time-logs/{time_log_id}/state", "A time log as of a version or a moment")
def time_log_state(organization_id: UUID, time_log_id: UUID, request: Request,
                   reader: TimeLogReads, when: When) -> JSONResponse:
    """For its author, and Organizers and Managers, while it is not deleted."""
    role = internal_role(reader.conn, organization_id, reader.caller)
    found = time_logs.time_log(reader.conn, organization_id, time_log_id)
    if found is None or (found["person_id"] != reader.caller
                         and role not in SEES_ALL_PROJECTS):
        raise not_found("time log", time_log_id)
    return _state(request, reader, TimeLog, "time log", organization_id, time_log_id, when)


@_route("/clients/{client_id}/state", "A client as of a version or a moment")
def client_state(organization_id: UUID, client_id: UUID, request: Request,
                 reader: ClientReads, when: When) -> JSONResponse:
    """For the organization's staff (Organizers, Managers, Contributors), not the Client
    role."""
    internal_role(reader.conn, organization_id, reader.caller)
    if not clients.client_exists(reader.conn, organization_id, client_id):
        raise not_found("client", client_id)
    return _state(request, reader, Client, "client", organization_id, client_id, when)
