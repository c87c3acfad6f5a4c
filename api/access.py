"""Query-side permission checks, read from the read models (queries never touch the
event store). Same matrix as the command side: domain/roles.py."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg import Connection

from api.problems import ApiProblem
from domain.roles import Role


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
