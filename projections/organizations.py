"""auth.organizations and auth.organization_members."""

from __future__ import annotations

from typing import Any

from psycopg import Connection, Cursor
from psycopg.types.json import Jsonb

from domain.organization import Organization
from domain.roles import Role
from projections.base import ReadModel, handles
from projections.paging import Order, page_of
from projections.table import Table

ORGANIZATIONS = Table("auth", "organizations", {
    "id": "uuid PRIMARY KEY",
    "name": "text NOT NULL",
    "slug": "text NOT NULL",
    "settings": "jsonb NOT NULL",
    "created_at": "timestamptz NOT NULL",
    "updated_at": "timestamptz NOT NULL",
    "deleted_at": "timestamptz",
    "version": "bigint NOT NULL",
}, hidden=("deleted_at",))

MEMBERS = Table("auth", "organization_members", {
    "organization_id": "uuid NOT NULL",
    "user_id": "uuid NOT NULL",
    "role": "text NOT NULL",
    "created_at": "timestamptz NOT NULL",
    "updated_at": "timestamptz NOT NULL",
}, constraints=("PRIMARY KEY (organization_id, user_id)",))

CHANGE_ROLE = ("UPDATE organization_members SET role = %s, updated_at = %s "
               "WHERE organization_id = %s AND user_id = %s")
REMOVE_MEMBER = "DELETE FROM organization_members WHERE organization_id = %s AND user_id = %s"


class OrganizationsReadModel(ReadModel):
    name = "organizations"
    schema = "auth"
    ddl = (
        ORGANIZATIONS.ddl,
        MEMBERS.ddl,
        "CREATE INDEX organization_members_user ON organization_members (user_id)",
    )
    tables = ("organizations", "organization_members")

    @handles(Organization.Created)
    def _created(self, cur: Cursor[Any], e: Any) -> None:
        ORGANIZATIONS.insert(
            cur, {"id": e.originator_id, "name": e.name, "slug": e.slug,
                  "settings": Jsonb(e.settings), "created_at": e.timestamp,
                  "updated_at": e.timestamp, "version": e.originator_version},
            first=MEMBERS.insert_sql(("organization_id", "user_id", "role", "created_at",
                                      "updated_at")),
            first_params=(e.originator_id, e.founder_id, e.founder_role, e.timestamp,
                          e.timestamp))

    @handles(Organization.Renamed)
    def _renamed(self, cur: Cursor[Any], e: Any) -> None:
        ORGANIZATIONS.touch(cur, e, {"name": e.name})

    @handles(Organization.SlugChanged)
    def _slug_changed(self, cur: Cursor[Any], e: Any) -> None:
        ORGANIZATIONS.touch(cur, e, {"slug": e.slug})

    @handles(Organization.SettingsUpdated)
    def _settings_updated(self, cur: Cursor[Any], e: Any) -> None:
        ORGANIZATIONS.touch(cur, e, {"settings": Jsonb(e.settings)})

    @handles(Organization.Deleted)
    def _deleted(self, cur: Cursor[Any], e: Any) -> None:
        ORGANIZATIONS.touch(cur, e, {"deleted_at": e.timestamp})

    @handles(Organization.MemberAdded)
    def _member_added(self, cur: Cursor[Any], e: Any) -> None:
        ORGANIZATIONS.touch(
            cur, e, first=MEMBERS.insert_sql(("organization_id", "user_id", "role",
                                              "created_at", "updated_at")),
            first_params=(e.originator_id, e.user_id, e.role, e.timestamp, e.timestamp))

    @handles(Organization.RoleChanged)
    def _role_changed(self, cur: Cursor[Any], e: Any) -> None:
        ORGANIZATIONS.touch(cur, e, first=CHANGE_ROLE,
                            first_params=(e.role, e.timestamp, e.originator_id, e.user_id))

    @handles(Organization.MemberRemoved)
    def _member_removed(self, cur: Cursor[Any], e: Any) -> None:
        ORGANIZATIONS.touch(cur, e, first=REMOVE_MEMBER,
                            first_params=(e.originator_id, e.user_id))


# --- queries ----------------------------------------------------------------

# The caller's organizations, by name.
BY_NAME = Order((("name", "text"), ("id", "uuid")))
# Members by name (a member whose user the users read model has not stored yet sorts
# first, with no name), then id.
BY_MEMBER_NAME = Order((("sort_name", "text"), ("user_id", "uuid")))
MEMBER_ROWS = (
    "SELECT m.user_id, u.name, u.email, m.role, m.created_at AS since, "
    "coalesce(u.name, '') AS sort_name FROM auth.organization_members m "
    "LEFT JOIN auth.users u ON u.id = m.user_id WHERE m.organization_id = %s"
)


def member_role(conn: Connection[Any], organization_id: Any, user_id: Any) -> Role | None:
    """The user's role in the live organization; None when not a member."""
    row = conn.execute(
        "SELECT m.role FROM auth.organization_members m "
        "JOIN auth.organizations o ON o.id = m.organization_id "
        "WHERE m.organization_id = %s AND m.user_id = %s AND o.deleted_at IS NULL",
        (organization_id, user_id),
    ).fetchone()
    return None if row is None else Role(row[0])


def organization(conn: Connection[Any], organization_id: Any) -> dict[str, Any] | None:
    """The live organization."""
    return ORGANIZATIONS.one(conn, "id = %s AND deleted_at IS NULL", (organization_id,))


def memberships(conn: Connection[Any], user_id: Any) -> list[dict[str, Any]]:
    """Every live organization the user belongs to (id, name, slug, role), by name."""
    rows = conn.execute(
        "SELECT o.id, o.name, o.slug, m.role FROM auth.organization_members m "
        "JOIN auth.organizations o ON o.id = m.organization_id "
        f"WHERE m.user_id = %s AND o.deleted_at IS NULL ORDER BY {BY_NAME.by('o')}",
        (user_id,),
    ).fetchall()
    return [{"id": r[0], "name": r[1], "slug": r[2], "role": r[3]} for r in rows]


def my_organizations(conn: Connection[Any], user_id: Any, *, cursor: str | None,
                     limit: int) -> dict[str, Any]:
    """A page of the live organizations the user belongs to, with the user's role."""
    conditions, params = ["m.user_id = %s", "o.deleted_at IS NULL"], [user_id]
    after = BY_NAME.decode(cursor)
    if after is not None:
        conditions.append(BY_NAME.after("o"))
        params.extend(after)
    rows = conn.execute(
        "SELECT o.id, o.name, o.slug, m.role, o.version FROM auth.organization_members m "
        "JOIN auth.organizations o ON o.id = m.organization_id "
        f"WHERE {' AND '.join(conditions)} ORDER BY {BY_NAME.by('o')} LIMIT %s",
        (*params, limit + 1),
    ).fetchall()
    items = [{"id": r[0], "name": r[1], "slug": r[2], "role": r[3], "version": r[4]}
             for r in rows]
    return page_of(items, limit, BY_NAME)


def members(conn: Connection[Any], organization_id: Any, *, role: Role | None,
            cursor: str | None, limit: int) -> dict[str, Any]:
    """A page of the organization's members (with a role, if ``role`` is given), by name."""
    conditions, params = [], [organization_id]
    if role is not None:
        conditions.append("role = %s")
        params.append(role.value)
    after = BY_MEMBER_NAME.decode(cursor)
    if after is not None:
        conditions.append(BY_MEMBER_NAME.after())
        params.extend(after)
    rows = conn.execute(
        f"SELECT * FROM ({MEMBER_ROWS}) AS members "
        f"WHERE {' AND '.join(conditions) or 'TRUE'} ORDER BY {BY_MEMBER_NAME.by()} LIMIT %s",
        (*params, limit + 1),
    ).fetchall()
    items = [{"user_id": r[0], "name": r[1], "email": r[2], "role": r[3], "since": r[4],
              "sort_name": r[5]} for r in rows]
    page = page_of(items, limit, BY_MEMBER_NAME)
    for item in page["items"]:
        del item["sort_name"]  # the key of the order, already in the cursor
    return page
