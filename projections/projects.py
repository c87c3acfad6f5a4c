"""project.projects, project.project_members and project.project_clients.

A project's row also keeps the clients' feedback on it incrementally (ClientFeedback
events): the sum and count of the ratings, and their average, moved by each Created
(+rating, +1) and Edited (rating - previous_rating).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import Connection, Cursor
from psycopg.rows import dict_row

from domain.client_feedback import ClientFeedback
from domain.project import Project
from domain.roles import SEES_ALL_PROJECTS, Role
from projections.base import ReadModel, handles, with_first
from projections.paging import Order, page_of
from projections.table import Table

PROJECTS = Table("project", "projects", {
    "id": "uuid PRIMARY KEY",
    "organization_id": "uuid NOT NULL",
    "name": "text NOT NULL",
    "description": "text",
    "client_id": "uuid",
    # The linked clients in link order (project_clients holds the same, for joins).
    "client_ids": "uuid[] NOT NULL",
    "status": "text NOT NULL",
    "start_date": "date",
    "end_date": "date",
    "budget": "numeric(17,2)",
    "spent_budget": "numeric(17,2) NOT NULL",
    "progress": "integer NOT NULL",
    "archived": "boolean NOT NULL DEFAULT false",
    "average_rating": "numeric(3,2)",
    "feedback_count": "integer NOT NULL DEFAULT 0",
    "rating_sum": "bigint NOT NULL DEFAULT 0",
    "created_at": "timestamptz NOT NULL",
    "updated_at": "timestamptz NOT NULL",
    "version": "bigint NOT NULL",
}, hidden=("rating_sum",))

PROJECT_MEMBERS = Table("project", "project_members", {
    "project_id": "uuid NOT NULL",
    "user_id": "uuid NOT NULL",
    "role": "text NOT NULL",
    "created_at": "timestamptz NOT NULL",
    "updated_at": "timestamptz NOT NULL",
}, constraints=("PRIMARY KEY (project_id, user_id)",))

PROJECT_CLIENTS = Table("project", "project_clients", {
    "project_id": "uuid NOT NULL",
    "client_id": "uuid NOT NULL",
    "linked_at": "timestamptz NOT NULL",
}, constraints=("PRIMARY KEY (project_id, client_id)",))

# Fields of Project.Updated and the columns they land in (same names).
UPDATABLE_COLUMNS = frozenset({"name", "description", "client_id", "start_date", "end_date",
                               "budget", "spent_budget", "progress"})
MEMBER = ("project_id", "user_id", "role", "created_at", "updated_at")

BY_NAME = Order((("name", "text"), ("id", "uuid")))
# Members by name; the name comes from the users read model, which may lag behind.
MEMBERS_BY_NAME = Order((("sort_name", "text"), ("user_id", "uuid")))

# Moves a project's feedback figures by %(sum)s and %(count)s (the right-hand sides
# see the row as it was before the update).
MOVE_RATINGS = (
    "UPDATE projects SET rating_sum = rating_sum + %(sum)s, "
    "feedback_count = feedback_count + %(count)s, "
    "average_rating = round((rating_sum + %(sum)s)::numeric "
    "/ NULLIF(feedback_count + %(count)s, 0), 2) WHERE id = %(id)s"
)


class ProjectsReadModel(ReadModel):
    name = "projects"
    schema = "project"
    ddl = (
        PROJECTS.ddl,
        "CREATE INDEX projects_organization_name "
        "ON projects (organization_id, archived, name, id)",
        PROJECT_MEMBERS.ddl,
        "CREATE INDEX project_members_user ON project_members (user_id)",
        PROJECT_CLIENTS.ddl,
        "CREATE INDEX project_clients_client ON project_clients (client_id)",
    )
    tables = ("projects", "project_members", "project_clients")

    @handles(Project.Created)
    def _created(self, cur: Cursor[Any], e: Any) -> None:
        PROJECTS.insert(cur, {
            "id": e.originator_id, "organization_id": e.organization_id, "name": e.name,
            "description": e.description, "client_id": e.client_id, "client_ids": [],
            "status": e.status, "start_date": e.start_date, "end_date": e.end_date,
            "budget": e.budget, "spent_budget": e.spent_budget, "progress": e.progress,
            "created_at": e.timestamp, "updated_at": e.timestamp,
            "version": e.originator_version,
        }, first=PROJECT_MEMBERS.insert_sql(MEMBER), first_params=(
            e.originator_id, e.creator_id, e.creator_role, e.timestamp, e.timestamp))

    @handles(Project.Updated)
    def _updated(self, cur: Cursor[Any], e: Any) -> None:
        PROJECTS.touch(cur, e, {c: e.changes[c] for c in sorted(set(e.changes)
                                                              & UPDATABLE_COLUMNS)})

    @handles(Project.StatusChanged)
    def _status_changed(self, cur: Cursor[Any], e: Any) -> None:
        PROJECTS.touch(cur, e, {"status": e.status})

    @handles(Project.Archived)
    def _archived(self, cur: Cursor[Any], e: Any) -> None:
        PROJECTS.touch(cur, e, {"archived": True})

    @handles(Project.MemberAdded)
    def _member_added(self, cur: Cursor[Any], e: Any) -> None:
        PROJECTS.touch(cur, e, first=PROJECT_MEMBERS.insert_sql(MEMBER), first_params=(
            e.originator_id, e.user_id, e.role, e.timestamp, e.timestamp))

    @handles(Project.MemberRoleChanged)
    def _member_role_changed(self, cur: Cursor[Any], e: Any) -> None:
        PROJECTS.touch(cur, e, first=(
            "UPDATE project_members SET role = %s, updated_at = %s "
            "WHERE project_id = %s AND user_id = %s"
        ), first_params=(e.role, e.timestamp, e.originator_id, e.user_id))

    @handles(Project.MemberRemoved)
    def _member_removed(self, cur: Cursor[Any], e: Any) -> None:
        PROJECTS.touch(cur, e, first=(
            "DELETE FROM project_members WHERE project_id = %s AND user_id = %s"
        ), first_params=(e.originator_id, e.user_id))

    @handles(Project.ClientLinked)
    def _client_linked(self, cur: Cursor[Any], e: Any) -> None:
        cur.execute(with_first(
            PROJECT_CLIENTS.insert_sql(("project_id", "client_id", "linked_at")),
            "UPDATE projects SET client_ids = array_append(client_ids, %s), "
            "updated_at = %s, version = %s WHERE id = %s",
        ), (e.originator_id, e.client_id, e.timestamp,
            e.client_id, e.timestamp, e.originator_version, e.originator_id))

    @handles(Project.ClientUnlinked)
    def _client_unlinked(self, cur: Cursor[Any], e: Any) -> None:
        cur.execute(with_first(
            "DELETE FROM project_clients WHERE project_id = %s AND client_id = %s",
            "UPDATE projects SET client_ids = array_remove(client_ids, %s), "
            "updated_at = %s, version = %s WHERE id = %s",
        ), (e.originator_id, e.client_id,
            e.client_id, e.timestamp, e.originator_version, e.originator_id))

    # Feedback is not a change of the project: its version and updated_at stay.
    @handles(ClientFeedback.Created)
    def _feedback_created(self, cur: Cursor[Any], e: Any) -> None:
        if e.project_id is not None:
            cur.execute(MOVE_RATINGS, {"sum": e.rating, "count": 1, "id": e.project_id})

    @handles(ClientFeedback.Edited)
    def _feedback_edited(self, cur: Cursor[Any], e: Any) -> None:
        if e.project_id is not None and e.rating != e.previous_rating:
            cur.execute(MOVE_RATINGS, {"sum": e.rating - e.previous_rating, "count": 0,
                                       "id": e.project_id})


# --- queries ----------------------------------------------------------------


def query_page(conn: Connection[Any], query: str, params: Sequence[Any], order: Order,
               cursor: str | None, limit: int, *,
               sort_only: Sequence[str] = ()) -> dict[str, Any]:
    """``Table.page`` for a query of its own (a join, a derived sort key): one page of
    the rows of ``query``, which must name every column of ``order``, after ``cursor``.
    The columns ``sort_only`` order the rows but are left out of the items."""
    after = order.decode(cursor)
    condition = "TRUE" if after is None else order.after()
    with conn.cursor(row_factory=dict_row) as cur:
        items = cur.execute(
            f"SELECT * FROM ({query}) AS q WHERE {condition} ORDER BY {order.by()} LIMIT %s",
            (*params, *(after or ()), limit + 1),
        ).fetchall()
    page = page_of(items, limit, order)
    for item in page["items"]:
        for name in sort_only:
            del item[name]
    return page


def _member_of(project_id: str, user_id: str) -> str:
    return ("EXISTS (SELECT 1 FROM project.project_members pm "
            f"WHERE pm.project_id = {project_id} AND pm.user_id = {user_id})")


def _portal_of(project_id: str, user_id: str) -> str:
    """The project is linked to the client whose portal the user uses: linked to it, its
    portal access on, not archived (the client read model, client.*)."""
    return ("EXISTS (SELECT 1 FROM project.project_clients pc "
            "JOIN client.portal_users pu ON pu.client_id = pc.client_id "
            "JOIN client.clients c ON c.id = pc.client_id "
            f"WHERE pc.project_id = {project_id} AND pu.user_id = {user_id} "
            "AND c.portal_access AND NOT c.archived)")


def project_visibility(conn: Connection[Any], organization_id: Any, project_id: Any,
                       user_id: Any) -> tuple[Role, bool, bool] | None:
    """(the user's organization role, whether the project exists in the organization,
    whether the user reaches it by their own right: a project member, or for the Client
    role the portal user of a client linked to it); None when the user is not a member
    of the live organization. One round trip: this runs before every project-scoped
    query."""
    row = conn.execute(
        "SELECT m.role, EXISTS (SELECT 1 FROM project.projects p "
        "                       WHERE p.id = %s AND p.organization_id = m.organization_id), "
        f"      CASE WHEN m.role = %s THEN {_portal_of('%s', 'm.user_id')} "
        f"           ELSE {_member_of('%s', 'm.user_id')} END "
        "FROM auth.organization_members m "
        "JOIN auth.organizations o ON o.id = m.organization_id "
        "WHERE m.organization_id = %s AND m.user_id = %s AND o.deleted_at IS NULL",
        (project_id, Role.CLIENT.value, project_id, project_id, organization_id, user_id),
    ).fetchone()
    return None if row is None else (Role(row[0]), row[1], row[2])


def visible_projects_sql(role: Role, project_id: str = "{alias}.project_id") -> str:
    """A SQL condition on the column ``project_id`` limiting rows to the projects the
    caller sees: every project for Organizers and Managers, the projects linked to
    their portal's client for a Client, their own projects for the others. Pass the
    caller's id as its one parameter; with the default column, format it with the
    table's alias first."""
    if role in SEES_ALL_PROJECTS:
        return "(TRUE OR %s IS NULL)"
    if role is Role.CLIENT:
        return _portal_of(project_id, "%s")
    return _member_of(project_id, "%s")


def seen_from_portal(project: dict[str, Any], client_id: Any) -> dict[str, Any]:
    """``project`` as the portal user of ``client_id`` sees it: of its clients only that
    one, and no feedback figures (on a project shared by two clients, the average and
    the count would give away the other client's ratings)."""
    return {**project, "client_id": client_id if project["client_id"] == client_id else None,
            "client_ids": [c for c in project["client_ids"] if c == client_id],
            "average_rating": None, "feedback_count": None}


def projects_page(conn: Connection[Any], organization_id: Any, role: Role, caller: Any, *,
                  portal_client: Any, archived: bool, status: str | None, client_id: Any,
                  cursor: str | None, limit: int) -> dict[str, Any]:
    """A page of the organization's projects the caller sees, by name; ``client_id``
    keeps those linked to that client. For the Client role (``portal_client``: the
    client whose portal the caller uses, or None), the projects as seen from the portal,
    and nothing for a filter naming another client."""
    if role is Role.CLIENT and client_id is not None and client_id != portal_client:
        return {"items": [], "next_cursor": None}
    where = ["organization_id = %s", "archived = %s",
             visible_projects_sql(role, "projects.id")]
    params: list[Any] = [organization_id, archived, caller]
    if status is not None:
        where.append("status = %s")
        params.append(status)
    if client_id is not None:
        where.append("EXISTS (SELECT 1 FROM project.project_clients pc "
                     "WHERE pc.project_id = projects.id AND pc.client_id = %s)")
        params.append(client_id)
    page = PROJECTS.page(conn, where, params, BY_NAME, cursor, limit)
    if role is Role.CLIENT:
        page["items"] = [seen_from_portal(item, portal_client) for item in page["items"]]
    return page


def project_for(conn: Connection[Any], organization_id: Any, project_id: Any,
                user_id: Any) -> dict[str, Any] | None:
    """One project of the organization, with the role ``user_id`` holds in it
    (``my_project_role``, None when not a project member)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT {', '.join(PROJECTS.shown)}, "
            "(SELECT m.role FROM project.project_members m WHERE m.project_id = projects.id "
            " AND m.user_id = %s) AS my_project_role "
            f"FROM {PROJECTS.view} WHERE id = %s AND organization_id = %s",
            (user_id, project_id, organization_id),
        ).fetchone()


def members_page(conn: Connection[Any], project_id: Any, cursor: str | None,
                 limit: int) -> dict[str, Any]:
    """A page of the project's members, by name."""
    return query_page(
        conn,
        "SELECT m.user_id, u.name, u.email, m.role, m.created_at AS since, "
        "coalesce(u.name, '') AS sort_name FROM project.project_members m "
        "LEFT JOIN auth.users u ON u.id = m.user_id WHERE m.project_id = %s",
        (project_id,), MEMBERS_BY_NAME, cursor, limit, sort_only=("sort_name",))


def projects_with_member(conn: Connection[Any], organization_id: Any,
                         user_id: Any) -> list[Any]:
    """The live (not archived) projects of the organization the user is a member of."""
    return [row[0] for row in conn.execute(
        f"SELECT p.id FROM {PROJECT_MEMBERS.view} m JOIN {PROJECTS.view} p "
        "ON p.id = m.project_id WHERE m.user_id = %s AND p.organization_id = %s "
        "AND NOT p.archived ORDER BY p.id", (user_id, organization_id))]
