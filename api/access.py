"""Query-side permission checks, read from the read models (queries never touch the
event store). Same matrix as the command side: domain/roles.py. What is out of reach
answers 404 (never 403), like another tenant's data."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg import Connection

from api.problems import ApiProblem
from domain.roles import SEES_ALL_PROJECTS, Role
from projections.organizations import member_role
from projections.projects import project_visibility
from projections.tasks import task


def not_found(what: str, ident: object) -> ApiProblem:
    return ApiProblem(404, "not-found", "Not found", f"{what} {ident} not found")


def organization_role(conn: Connection[Any], organization_id: UUID, user_id: UUID) -> Role:
    """The caller's role; 404 when the caller is not a member (tenant isolation)."""
    role = member_role(conn, organization_id, user_id)
    if role is None:
        raise not_found("organization", organization_id)
    return role


def internal(role: Role, what: str, ident: object) -> Role:
    """``role``, for reads of the organization's own people and work (members, time,
    channels): the Client role, whose portal shows only the projects, proposals and
    feedback of its client, is told ``what`` ``ident`` was not found."""
    if role is Role.CLIENT:
        raise not_found(what, ident)
    return role


def internal_role(conn: Connection[Any], organization_id: UUID, user_id: UUID) -> Role:
    """The caller's role for an internal read (``internal``): 404 for a non-member and
    for the Client role."""
    return internal(organization_role(conn, organization_id, user_id), "organization",
                    organization_id)


def project_role(conn: Connection[Any], organization_id: UUID, project_id: UUID,
                 user_id: UUID) -> Role:
    """The caller's organization role if the caller may see the project: Organizers and
    Managers see every project of their organization, Clients the projects linked to
    the client whose portal they use, others only their projects."""
    found = project_visibility(conn, organization_id, project_id, user_id)
    if found is None:
        raise not_found("organization", organization_id)
    role, project_exists, reaches = found
    if not project_exists or (role not in SEES_ALL_PROJECTS and not reaches):
        raise not_found("project", project_id)
    return role


def visible_task(conn: Connection[Any], organization_id: UUID, task_id: UUID,
                 user_id: UUID) -> dict[str, Any]:
    """The task, if its project is one the caller sees; else 404."""
    found = task(conn, organization_id, task_id)
    if found is None:
        raise not_found("task", task_id)
    try:
        project_role(conn, organization_id, found["project_id"], user_id)
    except ApiProblem:
        raise not_found("task", task_id) from None
    return found
