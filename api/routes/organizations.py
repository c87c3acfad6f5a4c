"""Organizations and their members."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Query, Request
from pydantic import Field

from api.access import not_found, organization_role
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
from api.values import ExactJSONRoute, JsonObject, Uuid
from domain.roles import parse_role
from vistone.commands import organizations as commands

router = APIRouter(prefix="/v1/organizations", tags=["organizations"], route_class=ExactJSONRoute)

READ_MODELS = ["organizations"]


class CreateOrganization(Strict):
    name: str = Field(max_length=200)
    slug: str = Field(max_length=63)


class UpdateOrganization(Strict):
    """Only the fields sent change; none of them may be null (send ``settings: {}`` to
    empty the settings)."""

    name: str = Field(Strict.ABSENT, max_length=200)
    slug: str = Field(Strict.ABSENT, max_length=63)
    settings: JsonObject = Field(Strict.ABSENT)


class AddMember(Strict):
    user_id: Uuid | None = None
    email: str | None = Field(default=None, max_length=254)
    role: str = Field(max_length=20)


class ChangeRole(Strict):
    role: str = Field(max_length=20)


@router.post("", status_code=201, dependencies=CREATES)
def create_organization(body: CreateOrganization, request: Request, caller: Caller) -> JSONResponse:
    result = commands.create_organization(command_of(request, caller), name=body.name, slug=body.slug,
    )
    return command_response(result, 201)


@router.get("")
def list_my_organizations(request: Request, caller: Caller) -> JSONResponse:
    headers = read_consistency(request, READ_MODELS)
    with runtime_of(request).pool.connection() as conn:
        rows = conn.execute(
            "SELECT o.id, o.name, o.slug, m.role, o.version FROM auth.organization_members m "
            "JOIN auth.organizations o ON o.id = m.organization_id "
            "WHERE m.user_id = %s AND o.deleted_at IS NULL ORDER BY o.name, o.id", (caller,),
        ).fetchall()
    items = [{"id": r[0], "name": r[1], "slug": r[2], "role": r[3], "version": r[4]} for r in rows]
    return JSONResponse({"items": items}, headers=headers)


@router.get("/{organization_id}")
def get_organization(organization_id: UUID, request: Request, caller: Caller) -> JSONResponse:
    headers = read_consistency(request, READ_MODELS)
    with runtime_of(request).pool.connection() as conn:
        role = organization_role(conn, organization_id, caller)
        row = conn.execute(
            "SELECT id, name, slug, settings, created_at, updated_at, version "
            "FROM auth.organizations WHERE id = %s", (organization_id,),
        ).fetchone()
    if row is None:
        raise not_found("organization", organization_id)
    keys = ("id", "name", "slug", "settings", "created_at", "updated_at", "version")
    body = {**dict(zip(keys, row, strict=True)), "my_role": role.value}
    return JSONResponse(body, headers={**headers, "ETag": f'"{row[6]}"'})


@router.patch("/{organization_id}")
def update_organization(organization_id: UUID, body: UpdateOrganization, request: Request,
                        caller: Caller) -> JSONResponse:
    changes = body.changes()  # never None: the body's types refuse null
    result = commands.update_organization(command_of(request, caller), organization_id,
        name=changes.get("name"), slug=changes.get("slug"), settings=changes.get("settings"),
    )
    return command_response(result)


@router.delete("/{organization_id}")
def delete_organization(organization_id: UUID, request: Request, caller: Caller) -> JSONResponse:
    result = commands.delete_organization(command_of(request, caller), organization_id,
    )
    return command_response(result)


@router.get("/{organization_id}/members")
def list_members(
    organization_id: UUID, request: Request, caller: Caller,
    role: str | None = Query(default=None, max_length=20),
    limit: int = Query(default=50, ge=1, le=200),
    cursor: str | None = Query(default=None, max_length=MAX_CURSOR_LENGTH),
) -> JSONResponse:
    headers = read_consistency(request, READ_MODELS + ["users"])
    after = parse_cursor(cursor, text, lambda v: str(as_uuid(v)))
    role_filter = parse_role(role).value if role else None
    with runtime_of(request).pool.connection() as conn:
        organization_role(conn, organization_id, caller)
        rows = conn.execute(
            "SELECT m.user_id, u.name, u.email, m.role, m.created_at "
            "FROM auth.organization_members m LEFT JOIN auth.users u ON u.id = m.user_id "
            "WHERE m.organization_id = %s AND (%s::text IS NULL OR m.role = %s) "
            "AND (%s::text IS NULL OR (coalesce(u.name, ''), m.user_id::text) > (%s, %s)) "
            "ORDER BY coalesce(u.name, ''), m.user_id::text LIMIT %s",
            (organization_id, role_filter, role_filter,
             after and after[0], after and after[0], after and after[1], limit + 1),
        ).fetchall()
    items = [{"user_id": r[0], "name": r[1], "email": r[2], "role": r[3], "since": r[4]}
             for r in rows]
    return page(items, limit, lambda i: [i["name"] or "", str(i["user_id"])], headers)


@router.post("/{organization_id}/members", status_code=201)
def add_member(organization_id: UUID, body: AddMember, request: Request,
               caller: Caller) -> JSONResponse:
    result = commands.add_member(command_of(request, caller), organization_id,
        role=parse_role(body.role), user_id=body.user_id, email=body.email,
    )
    return command_response(result, 201)


@router.patch("/{organization_id}/members/{user_id}")
def change_member_role(organization_id: UUID, user_id: UUID, body: ChangeRole,
                       request: Request, caller: Caller) -> JSONResponse:
    result = commands.change_member_role(command_of(request, caller), organization_id, user_id,
        role=parse_role(body.role),
    )
    return command_response(result)


@router.delete("/{organization_id}/members/{user_id}")
def remove_member(organization_id: UUID, user_id: UUID, request: Request,
                  caller: Caller) -> JSONResponse:
    result = commands.remove_member(command_of(request, caller), organization_id, user_id,
    )
    return command_response(result)
