"""Query-side permission checks, read from the read models (queries never touch the
event store). Same matrix as the command side: domain/roles.py."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg import Connection

from api.problems import ApiProblem
from domain.roles import SEES_ALL_PROJECTS, Role


def not_found(what: str, ident: object) -> ApiProblem:
    return ApiProblem(404, "not-found", "Not found", f"{what} {ident} not found")


def organization_role(conn: Connection[Any], organization_id: UUID, user_id: UUID) -> Role:
    """The caller's role; 404 when the caller is not a member (tenant isolation)."""
    row = conn.execute(
        "SELECT m.role FROM auth.organization_members m "
        "JOIN auth.organizations o ON o.id = m.organization_id "
        "WHERE m.organization_id = %s AND m.user_id = %s AND o.deleted_at IS NULL",
        (organization_id, user_id),
    ).fetchone()
    if row is None:
        raise not_found("organization", organization_id)
    return Role(row[0])


def project_role(conn: Connection[Any], organization_id: UUID, project_id: UUID,
                 user_id: UUID) -> Role:
    """The caller's organization role if the caller may see the project: Organizers and
    Managers see every project of their organization, others only their projects.
    Anything else answers 404 (never 403), like another tenant's data."""
    # One round trip for both checks: this runs before every project-scoped query.
    row = conn.execute(
        "SELECT m.role, EXISTS (SELECT 1 FROM project.projects p "
        "                       WHERE p.id = %s AND p.organization_id = m.organization_id), "
        "       EXISTS (SELECT 1 FROM project.project_members pm "
        "               WHERE pm.project_id = %s AND pm.user_id = m.user_id) "
        "FROM auth.organization_members m "
        "JOIN auth.organizations o ON o.id = m.organization_id "
        "WHERE m.organization_id = %s AND m.user_id = %s AND o.deleted_at IS NULL",
        (project_id, project_id, organization_id, user_id),
    ).fetchone()
    if row is None:
        raise not_found("organization", organization_id)
    role, project_exists, is_member = Role(row[0]), row[1], row[2]
    if not project_exists or (role not in SEES_ALL_PROJECTS and not is_member):
        raise not_found("project", project_id)
    return role


def visible_projects_sql(role: Role) -> str:
    """A SQL condition on ``{alias}.project_id`` limiting rows to the projects the caller
    sees; format it with the alias and pass the caller's id as the parameter."""
    if role in SEES_ALL_PROJECTS:
        return "(TRUE OR %s IS NULL)"
    return ("EXISTS (SELECT 1 FROM project.project_members pm "
            "WHERE pm.project_id = {alias}.project_id AND pm.user_id = %s)")
