"""auth.organizations and auth.organization_members."""

from __future__ import annotations

from typing import Any

from psycopg import Connection, Cursor
from psycopg.types.json import Jsonb

from domain.organization import Organization
from domain.roles import Role
from projections.base import ReadModel, handles, with_first


class OrganizationsReadModel(ReadModel):
    name = "organizations"
    schema = "auth"
    ddl = (
        """CREATE TABLE organizations (
            id uuid PRIMARY KEY,
            name text NOT NULL,
            slug text NOT NULL,
            settings jsonb NOT NULL DEFAULT '{}',
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            deleted_at timestamptz,
            version bigint NOT NULL
        )""",
        """CREATE TABLE organization_members (
            organization_id uuid NOT NULL,
            user_id uuid NOT NULL,
            role text NOT NULL,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            PRIMARY KEY (organization_id, user_id)
        )""",
        "CREATE INDEX organization_members_user "
        "ON organization_members (user_id)",
    )
    tables = ("organizations", "organization_members")

    def _touch(self, cur: Cursor[Any], e: Any, assignments: str = "", params: tuple = (), *,
               first: str | None = None, first_params: tuple = ()) -> None:
        """Update the organization's row; ``first`` (a write to the members) goes in the
        same statement."""
        cur.execute(
            with_first(first, f"UPDATE organizations SET {assignments}updated_at = %s, "
                       "version = %s WHERE id = %s"),
            (*first_params, *params, e.timestamp, e.originator_version, e.originator_id),
        )

    @handles(Organization.Created)
    def _created(self, cur: Cursor[Any], e: Any) -> None:
        cur.execute(
            with_first("INSERT INTO organization_members VALUES (%s, %s, %s, %s, %s)",
                       "INSERT INTO organizations (id, name, slug, created_at, updated_at, "
                       "version) VALUES (%s, %s, %s, %s, %s, %s)"),
            (e.originator_id, e.founder_id, Role.ORGANIZER.value, e.timestamp, e.timestamp,
             e.originator_id, e.name, e.slug, e.timestamp, e.timestamp, e.originator_version),
        )

    @handles(Organization.Renamed)
    def _renamed(self, cur: Cursor[Any], e: Any) -> None:
        self._touch(cur, e, "name = %s, ", (e.name,))

    @handles(Organization.SlugChanged)
    def _slug_changed(self, cur: Cursor[Any], e: Any) -> None:
        self._touch(cur, e, "slug = %s, ", (e.slug,))

    @handles(Organization.SettingsUpdated)
    def _settings_updated(self, cur: Cursor[Any], e: Any) -> None:
        self._touch(cur, e, "settings = %s, ", (Jsonb(e.settings),))

    @handles(Organization.Deleted)
    def _deleted(self, cur: Cursor[Any], e: Any) -> None:
        self._touch(cur, e, "deleted_at = %s, ", (e.timestamp,))

    @handles(Organization.MemberAdded)
    def _member_added(self, cur: Cursor[Any], e: Any) -> None:
        self._touch(cur, e, first=(
            "INSERT INTO organization_members VALUES (%s, %s, %s, %s, %s)"
        ), first_params=(e.originator_id, e.user_id, e.role, e.timestamp, e.timestamp))

    @handles(Organization.RoleChanged)
    def _role_changed(self, cur: Cursor[Any], e: Any) -> None:
        self._touch(cur, e, first=(
            "UPDATE organization_members SET role = %s, updated_at = %s "
            "WHERE organization_id = %s AND user_id = %s"
        ), first_params=(e.role, e.timestamp, e.originator_id, e.user_id))

    @handles(Organization.MemberRemoved)
    def _member_removed(self, cur: Cursor[Any], e: Any) -> None:
        self._touch(cur, e, first=(
            "DELETE FROM organization_members WHERE organization_id = %s AND user_id = %s"
        ), first_params=(e.originator_id, e.user_id))


# --- queries ----------------------------------------------------------------


def member_role(conn: Connection[Any], organization_id: Any, user_id: Any) -> Role | None:
    """The user's role in the live organization; None when not a member."""
    row = conn.execute(
        "SELECT m.role FROM auth.organization_members m "
        "JOIN auth.organizations o ON o.id = m.organization_id "
        "WHERE m.organization_id = %s AND m.user_id = %s AND o.deleted_at IS NULL",
        (organization_id, user_id),
    ).fetchone()
    return None if row is None else Role(row[0])
