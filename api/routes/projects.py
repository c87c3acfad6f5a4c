"""Projects of an organization, their members and their clients."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, TypeAlias
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.access import internal, not_found, organization_role, project_role
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
from api.values import Day, ExactJSONRoute, Money, Uuid, optional_text, text, whole_number
from domain.project import MAX_DESCRIPTION, MAX_NAME, ProjectRole, ProjectStatus
from domain.roles import Role
from projections import clients, projects
from vistone.commands import projects as commands

router = APIRouter(prefix="/v1/organizations/{organization_id}/projects", tags=["projects"],
                   route_class=ExactJSONRoute)

# A client's portal reaches projects through the clients read model (its portal users).
Reads = Annotated[Reader, reading("organizations", "projects", "clients")]
MemberReads = Annotated[Reader, reading("organizations", "projects", "users")]

# Text as the domain takes it (api.values.text); mypy sees plain text.
if TYPE_CHECKING:
    Name: TypeAlias = str
    Description: TypeAlias = str
    Amount: TypeAlias = Decimal
    Progress: TypeAlias = int
else:
    Name = text(MAX_NAME)
    Description = optional_text(MAX_DESCRIPTION)
    Amount = Money
    Progress = whole_number(0, 100)
# Enums arrive as JSON strings: strict bodies would want enum instances.
Status = Annotated[ProjectStatus, Field(strict=False)]
MemberRole = Annotated[ProjectRole, Field(strict=False)]

EXAMPLE_CLIENT = "3f2c9a4e-6b1d-4e8f-a7c5-2d9b0e1f4a63"
EXAMPLE_USER = "9d7e6f5a-4b3c-4d2e-8f1a-0b9c8d7e6f5a"


class CreateProject(Strict):
    name: Name = Field(description="unique in the organization, ignoring case and spacing")
    description: Description | None = None
    client_id: Uuid | None = Field(
        default=None, description="a client of the organization, not archived; it is "
        "linked to the project too")
    start_date: Day | None = None
    end_date: Day | None = Field(default=None, description="not before start_date")
    budget: Amount | None = None

    model_config = {"json_schema_extra": {"examples": [
        {"name": "Website relaunch", "description": "New site for the spring campaign",
         "client_id": EXAMPLE_CLIENT, "start_date": "2026-03-01", "end_date": "2026-06-30",
         "budget": "48000.00"}]}}


class UpdateProject(Strict):
    """Only the fields sent change; send null to clear description, client_id, the
    dates or budget (name, spent_budget and progress may not be null)."""

    name: Name = Field(Strict.ABSENT)
    description: Description | None = None
    client_id: Uuid | None = Field(
        default=None, description="a client of the organization, not archived; it is "
        "linked to the project too, and the client it replaces (or null clears) is unlinked")
    start_date: Day | None = None
    end_date: Day | None = Field(default=None, description="not before start_date")
    budget: Amount | None = None
    spent_budget: Amount = Field(Strict.ABSENT)
    progress: Progress = Field(Strict.ABSENT, description="percent, 0 to 100")

    model_config = {"json_schema_extra": {"examples": [
        {"progress": 40, "spent_budget": "12500.00"}]}}


class ChangeStatus(Strict):
    status: Status

    model_config = {"json_schema_extra": {"examples": [{"status": "ACTIVE"}]}}


class AddProjectMember(Strict):
    user_id: Uuid = Field(description="a member of the organization (Clients only as "
                          "Viewer)")
    role: MemberRole

    model_config = {"json_schema_extra": {"examples": [
        {"user_id": EXAMPLE_USER, "role": "Member"}]}}


class ChangeProjectRole(Strict):
    role: MemberRole

    model_config = {"json_schema_extra": {"examples": [{"role": "Lead"}]}}


class LinkClient(Strict):
    client_id: Uuid = Field(description="a client of the organization, not archived")

    model_config = {"json_schema_extra": {"examples": [{"client_id": EXAMPLE_CLIENT}]}}


class ProjectView(BaseModel):
    id: UUID
    organization_id: UUID
    name: str
    description: str | None
    client_id: UUID | None = Field(
        description="the project's own client, one of client_ids (for a client's portal: "
        "null unless it is the portal's client)")
    client_ids: list[UUID] = Field(
        description="the linked clients, in link order (for a client's portal: its own "
        "client only)")
    status: ProjectStatus
    start_date: date | None
    end_date: date | None
    budget: Decimal | None = Field(description='exact, as a string such as "48000.00"')
    spent_budget: Decimal
    progress: int
    archived: bool
    average_rating: Decimal | None = Field(
        description="the average rating (1 to 5, 2 decimals) of the clients' feedback on "
        "the project; null without feedback, and always for a client's portal (another "
        "client's rating could be computed from it)")
    feedback_count: int | None = Field(
        description="how many feedbacks the clients gave on the project; null for a "
        "client's portal (its own feedback is listed under .../feedback)")
    created_at: datetime
    updated_at: datetime
    version: int


class ProjectDetail(ProjectView):
    my_role: Role = Field(description="the caller's role in the organization")
    my_project_role: ProjectRole | None = Field(
        description="the caller's role in the project; null when not a project member")


class ProjectMemberView(BaseModel):
    user_id: UUID
    name: str | None
    email: str | None
    role: ProjectRole
    since: datetime


@router.post("", status_code=201, dependencies=CREATES, response_model=CommandAnswer)
def create_project(organization_id: UUID, body: CreateProject,
                   command: Command) -> JSONResponse:
    """Organizers and Managers create projects; the creator becomes its Lead."""
    result = commands.create_project(
        command, organization_id, name=body.name, description=body.description,
        client_id=body.client_id, start_date=body.start_date, end_date=body.end_date,
        budget=body.budget)
    return command_response(result, 201)


@router.get("", response_model=Page[ProjectView])
def list_projects(
    organization_id: UUID, reader: Reads,
    status: ProjectStatus | None = None,
    client_id: Annotated[UUID | None, Query(description="projects linked to this client")]
    = None,
    archived: bool = False,
    limit: PageLimit = 50,
    cursor: PageCursor = None,
) -> JSONResponse:
    """The projects the caller sees (Organizers and Managers: all), by name."""
    role = organization_role(reader.conn, organization_id, reader.caller)
    return reader.answer(projects.projects_page(
        reader.conn, organization_id, role, reader.caller,
        portal_client=_portal_client(reader, organization_id, role), archived=archived,
        status=status.value if status is not None else None, client_id=client_id,
        cursor=cursor, limit=limit))


@router.get("/{project_id}", response_model=ProjectDetail)
def get_project(organization_id: UUID, project_id: UUID, reader: Reads) -> JSONResponse:
    role = project_role(reader.conn, organization_id, project_id, reader.caller)
    found = projects.project_for(reader.conn, organization_id, project_id, reader.caller)
    if found is None:
        raise not_found("project", project_id)
    if role is Role.CLIENT:
        found = projects.seen_from_portal(found, _portal_client(reader, organization_id, role))
    return reader.answer({**found, "my_role": role}, ETag=f'"{found["version"]}"')


def _portal_client(reader: Reader, organization_id: UUID, role: Role) -> UUID | None:
    """For the Client role, the client whose portal the caller uses (None: none)."""
    if role is not Role.CLIENT:
        return None
    found: UUID | None = clients.portal_client(reader.conn, organization_id, reader.caller)
    return found


@router.patch("/{project_id}", response_model=CommandAnswer)
def update_project(organization_id: UUID, project_id: UUID, body: UpdateProject,
                   command: Command) -> JSONResponse:
    return command_response(commands.update_project(command, organization_id, project_id,
                                                    changes=body.changes()))


@router.post("/{project_id}/status", response_model=CommandAnswer)
def change_status(organization_id: UUID, project_id: UUID, body: ChangeStatus,
                  command: Command) -> JSONResponse:
    """PLANNED → ACTIVE ⇄ ON_HOLD, ACTIVE → COMPLETED → ACTIVE (reopen); all but
    COMPLETED can be CANCELLED, which is final."""
    return command_response(commands.change_project_status(
        command, organization_id, project_id, status=body.status))


@router.post("/{project_id}/archive", response_model=CommandAnswer)
def archive_project(organization_id: UUID, project_id: UUID,
                    command: Command) -> JSONResponse:
    """An archived project is read-only and keeps its name."""
    return command_response(commands.archive_project(command, organization_id, project_id))


@router.get("/{project_id}/members", response_model=Page[ProjectMemberView])
def list_project_members(
    organization_id: UUID, project_id: UUID, reader: MemberReads,
    limit: PageLimit = 50,
    cursor: PageCursor = None,
) -> JSONResponse:
    """The project's members, by name (the organization's people: not for a client's
    portal)."""
    internal(project_role(reader.conn, organization_id, project_id, reader.caller),
             "project", project_id)
    return reader.answer(projects.members_page(reader.conn, project_id, cursor, limit))


@router.post("/{project_id}/members", status_code=201, response_model=CommandAnswer)
def add_project_member(organization_id: UUID, project_id: UUID, body: AddProjectMember,
                       command: Command) -> JSONResponse:
    result = commands.add_project_member(command, organization_id, project_id,
                                         user_id=body.user_id, role=body.role)
    return command_response(result, 201)


@router.patch("/{project_id}/members/{user_id}", response_model=CommandAnswer)
def change_project_member_role(organization_id: UUID, project_id: UUID, user_id: UUID,
                               body: ChangeProjectRole, command: Command) -> JSONResponse:
    return command_response(commands.change_project_member_role(
        command, organization_id, project_id, user_id, role=body.role))


@router.delete("/{project_id}/members/{user_id}", response_model=CommandAnswer)
def remove_project_member(organization_id: UUID, project_id: UUID, user_id: UUID,
                          command: Command) -> JSONResponse:
    return command_response(commands.remove_project_member(
        command, organization_id, project_id, user_id))


@router.post("/{project_id}/clients", status_code=201, response_model=CommandAnswer)
def link_client(organization_id: UUID, project_id: UUID, body: LinkClient,
                command: Command) -> JSONResponse:
    """Link a client of the organization to the project (Organizers and Managers)."""
    return command_response(commands.link_client(command, organization_id, project_id,
                                                 client_id=body.client_id), 201)


@router.delete("/{project_id}/clients/{client_id}", response_model=CommandAnswer)
def unlink_client(organization_id: UUID, project_id: UUID, client_id: UUID,
                  command: Command) -> JSONResponse:
    """Unlink a client; if it is the project's client_id, that is cleared too."""
    return command_response(commands.unlink_client(command, organization_id, project_id,
                                                   client_id))
