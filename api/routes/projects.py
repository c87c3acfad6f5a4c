"""Projects of an organization and their members."""

from __future__ import annotations

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
    as_uuid,
    command_of,
    command_response,
    page,
    parse_cursor,
    read_consistency,
    runtime_of,
    text,
)
from api.values import Amount, Day, ExactJSONRoute, Uuid
from domain.project import ProjectRole, ProjectStatus, parse_enum
from domain.roles import SEES_ALL_PROJECTS
from vistone.commands import projects as commands

router = APIRouter(prefix="/v1/organizations/{organization_id}/projects", tags=["projects"],
                   route_class=ExactJSONRoute)

READ_MODELS = ["organizations", "projects"]
MAX_MONEY = Decimal("1e15")
# Exact as sent; the domain refuses more than 2 decimal places (docs/values.md).
Money = Annotated[Amount, Field(ge=0, le=MAX_MONEY)]

PROJECT_COLUMNS = ("id", "organization_id", "name", "description", "client_id", "status",
                   "start_date", "end_date", "budget", "spent_budget", "progress", "archived",
                   "created_at", "updated_at", "version")


class CreateProject(Strict):
    name: str = Field(max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    client_id: Uuid | None = None
    start_date: Day | None = None
    end_date: Day | None = None
    budget: Money | None = None


class UpdateProject(Strict):
    """Only the fields sent change; send null to clear description, client_id, the
    dates or budget (name, spent_budget and progress may not be null)."""

    name: str = Field(Strict.ABSENT, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    client_id: Uuid | None = None
    start_date: Day | None = None
    end_date: Day | None = None
    budget: Money | None = None
    spent_budget: Money = Field(Strict.ABSENT)
    progress: int = Field(Strict.ABSENT, ge=0, le=100)


class ChangeStatus(Strict):
    status: str = Field(max_length=20)


class AddProjectMember(Strict):
    user_id: Uuid
    role: str = Field(max_length=20)


class ChangeProjectRole(Strict):
    role: str = Field(max_length=20)


def project_json(row: tuple[Any, ...]) -> dict[str, Any]:
    item = dict(zip(PROJECT_COLUMNS, row, strict=True))
    # Strings keep every digit of a budget; a JSON number would pass through a float.
    for money in ("budget", "spent_budget"):
        if item[money] is not None:
            item[money] = str(item[money])
    return item


@router.post("", status_code=201, dependencies=CREATES)
def create_project(organization_id: UUID, body: CreateProject, request: Request,
                   caller: Caller) -> JSONResponse:
    result = commands.create_project(command_of(request, caller), organization_id,
        name=body.name, description=body.description, client_id=body.client_id,
        start_date=body.start_date, end_date=body.end_date, budget=body.budget,
    )
    return command_response(result, 201)


@router.get("")
def list_projects(
    organization_id: UUID, request: Request, caller: Caller,
    status: str | None = Query(default=None, max_length=20),
    client_id: UUID | None = None,
    archived: bool = False,
    limit: int = Query(default=50, ge=1, le=200),
    cursor: str | None = Query(default=None, max_length=MAX_CURSOR_LENGTH),
) -> JSONResponse:
    headers = read_consistency(request, READ_MODELS)
    status_filter = parse_enum(ProjectStatus, status, "status").value if status else None
    after_name, after_id = parse_cursor(cursor, text, as_uuid) or (None, None)
    columns = ", ".join(f"p.{c}" for c in PROJECT_COLUMNS)
    with runtime_of(request).pool.connection() as conn:
        role = organization_role(conn, organization_id, caller)
        visible = ("TRUE" if role in SEES_ALL_PROJECTS else
                   "EXISTS (SELECT 1 FROM project.project_members pm "
                   "WHERE pm.project_id = p.id AND pm.user_id = %(caller)s)")
        rows = conn.execute(
            f"SELECT {columns} FROM project.projects p "
            "WHERE p.organization_id = %(org)s AND p.archived = %(archived)s "
            f"AND {visible} "
            "AND (%(status)s::text IS NULL OR p.status = %(status)s) "
            "AND (%(client)s::uuid IS NULL OR p.client_id = %(client)s) "
            "AND (%(after_name)s::text IS NULL "
            "     OR (p.name, p.id) > (%(after_name)s::text, %(after_id)s::uuid)) "
            "ORDER BY p.name, p.id LIMIT %(limit)s",
            {"org": organization_id, "archived": archived, "caller": caller,
             "status": status_filter, "client": client_id,
             "after_name": after_name, "after_id": after_id,
             "limit": limit + 1},
        ).fetchall()
    items = [project_json(r) for r in rows]
    return page(items, limit, lambda i: [i["name"], str(i["id"])], headers)




@router.get("/{project_id}")
def get_project(organization_id: UUID, project_id: UUID, request: Request,
                caller: Caller) -> JSONResponse:
    headers = read_consistency(request, READ_MODELS)
    with runtime_of(request).pool.connection() as conn:
        role = project_role(conn, organization_id, project_id, caller)
        row = conn.execute(
            f"SELECT {', '.join(PROJECT_COLUMNS)} FROM project.projects WHERE id = %s",
            (project_id,),
        ).fetchone()
        mine = conn.execute(
            "SELECT role FROM project.project_members WHERE project_id = %s AND user_id = %s",
            (project_id, caller),
        ).fetchone()
    if row is None:
        raise not_found("project", project_id)
    body = {**project_json(row), "my_role": role.value,
            "my_project_role": mine[0] if mine else None}
    return JSONResponse(body, headers={**headers, "ETag": f'"{body["version"]}"'})


@router.patch("/{project_id}")
def update_project(organization_id: UUID, project_id: UUID, body: UpdateProject,
                   request: Request, caller: Caller) -> JSONResponse:
    result = commands.update_project(command_of(request, caller), organization_id, project_id,
        changes=body.changes(),
    )
    return command_response(result)


@router.post("/{project_id}/status")
def change_status(organization_id: UUID, project_id: UUID, body: ChangeStatus,
                  request: Request, caller: Caller) -> JSONResponse:
    result = commands.change_project_status(command_of(request, caller), organization_id, project_id,
        status=parse_enum(ProjectStatus, body.status, "status"),
    )
    return command_response(result)


@router.post("/{project_id}/archive")
def archive_project(organization_id: UUID, project_id: UUID, request: Request,
                    caller: Caller) -> JSONResponse:
    result = commands.archive_project(command_of(request, caller), organization_id, project_id,
    )
    return command_response(result)


@router.get("/{project_id}/members")
def list_project_members(
    organization_id: UUID, project_id: UUID, request: Request, caller: Caller,
    limit: int = Query(default=50, ge=1, le=200),
    cursor: str | None = Query(default=None, max_length=MAX_CURSOR_LENGTH),
) -> JSONResponse:
    headers = read_consistency(request, READ_MODELS + ["users"])
    after_name, after_id = parse_cursor(cursor, text, as_uuid) or (None, None)
    with runtime_of(request).pool.connection() as conn:
        project_role(conn, organization_id, project_id, caller)
        rows = conn.execute(
            "SELECT m.user_id, u.name, u.email, m.role, m.created_at "
            "FROM project.project_members m LEFT JOIN auth.users u ON u.id = m.user_id "
            "WHERE m.project_id = %s "
            "AND (%s::text IS NULL OR (coalesce(u.name, ''), m.user_id::text) > (%s, %s)) "
            "ORDER BY coalesce(u.name, ''), m.user_id::text LIMIT %s",
            (project_id, after_name, after_name, after_id and str(after_id), limit + 1),
        ).fetchall()
    items = [{"user_id": r[0], "name": r[1], "email": r[2], "role": r[3], "since": r[4]}
             for r in rows]
    return page(items, limit, lambda i: [i["name"] or "", str(i["user_id"])], headers)


@router.post("/{project_id}/members", status_code=201)
def add_project_member(organization_id: UUID, project_id: UUID, body: AddProjectMember,
                       request: Request, caller: Caller) -> JSONResponse:
    result = commands.add_project_member(command_of(request, caller), organization_id, project_id,
        user_id=body.user_id, role=parse_enum(ProjectRole, body.role, "role"),
    )
    return command_response(result, 201)


@router.patch("/{project_id}/members/{user_id}")
def change_project_member_role(organization_id: UUID, project_id: UUID, user_id: UUID,
                               body: ChangeProjectRole, request: Request,
                               caller: Caller) -> JSONResponse:
    result = commands.change_project_member_role(command_of(request, caller), organization_id, project_id,
        user_id, role=parse_enum(ProjectRole, body.role, "role"),
    )
    return command_response(result)


@router.delete("/{project_id}/members/{user_id}")
def remove_project_member(organization_id: UUID, project_id: UUID, user_id: UUID,
                          request: Request, caller: Caller) -> JSONResponse:
    result = commands.remove_project_member(command_of(request, caller), organization_id, project_id,
        user_id,
    )
    return command_response(result)
