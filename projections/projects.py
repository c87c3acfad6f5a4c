"""project.projects and project.project_members."""

from __future__ import annotations

from typing import Any

from psycopg import Connection, Cursor

from domain.project import Project, ProjectRole, ProjectStatus
from domain.roles import SEES_ALL_PROJECTS, Role
from projections.base import ReadModel, handles, with_first

# Fields of Project.Updated and the columns they land in (same names).
UPDATABLE_COLUMNS = frozenset({"name", "description", "client_id", "start_date", "end_date",
                               "budget", "spent_budget", "progress"})


class ProjectsReadModel(ReadModel):
    name = "projects"
    schema = "project"
    ddl = (
        """CREATE TABLE projects (
            id uuid PRIMARY KEY,
            organization_id uuid NOT NULL,
            name text NOT NULL,
            description text,
            client_id uuid,
            status text NOT NULL,
            start_date date,
            end_date date,
            budget numeric(17,2),
            spent_budget numeric(17,2) NOT NULL DEFAULT 0,
            progress integer NOT NULL DEFAULT 0,
            archived boolean NOT NULL DEFAULT false,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            version bigint NOT NULL
        )""",
        "CREATE INDEX projects_organization_name "
        "ON projects (organization_id, archived, name, id)",
        """CREATE TABLE project_members (
            project_id uuid NOT NULL,
            user_id uuid NOT NULL,
            role text NOT NULL,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            PRIMARY KEY (project_id, user_id)
        )""",
        "CREATE INDEX project_members_user ON project_members (user_id)",
    )
    tables = ("projects", "project_members")

    def _touch(self, cur: Cursor[Any], e: Any, assignments: str = "",
               params: tuple = (), *, first: str | None = None,
               first_params: tuple = ()) -> None:
        """Update the project's row; ``first`` (a write to the members) goes in the same
        statement."""
        cur.execute(
            with_first(first, f"UPDATE projects SET {assignments}updated_at = %s, "
                              "version = %s WHERE id = %s"),
            (*first_params, *params, e.timestamp, e.originator_version, e.originator_id),
        )

    @handles(Project.Created)
    def _created(self, cur: Cursor[Any], e: Any) -> None:
        cur.execute(
            with_first(
                "INSERT INTO project_members VALUES (%s, %s, %s, %s, %s)",
                "INSERT INTO projects (id, organization_id, name, description, client_id, "
                "status, start_date, end_date, budget, created_at, updated_at, version) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"),
            (e.originator_id, e.creator_id, ProjectRole.LEAD.value, e.timestamp, e.timestamp,
             e.originator_id, e.organization_id, e.name, e.description, e.client_id,
             ProjectStatus.PLANNED.value, e.start_date, e.end_date, e.budget,
             e.timestamp, e.timestamp, e.originator_version),
        )

    @handles(Project.Updated)
    def _updated(self, cur: Cursor[Any], e: Any) -> None:
        columns = sorted(set(e.changes) & UPDATABLE_COLUMNS)
        # Column names from UPDATABLE_COLUMNS only (constants of this module).
        assignments = "".join(f"{column} = %s, " for column in columns)
        self._touch(cur, e, assignments, tuple(e.changes[c] for c in columns))

    @handles(Project.StatusChanged)
    def _status_changed(self, cur: Cursor[Any], e: Any) -> None:
        self._touch(cur, e, "status = %s, ", (e.status,))

    @handles(Project.Archived)
    def _archived(self, cur: Cursor[Any], e: Any) -> None:
        self._touch(cur, e, "archived = true, ")

    @handles(Project.MemberAdded)
    def _member_added(self, cur: Cursor[Any], e: Any) -> None:
        self._touch(cur, e, first=(
            "INSERT INTO project_members VALUES (%s, %s, %s, %s, %s)"
        ), first_params=(e.originator_id, e.user_id, e.role, e.timestamp, e.timestamp))

    @handles(Project.MemberRoleChanged)
    def _member_role_changed(self, cur: Cursor[Any], e: Any) -> None:
        self._touch(cur, e, first=(
            "UPDATE project_members SET role = %s, updated_at = %s "
            "WHERE project_id = %s AND user_id = %s"
        ), first_params=(e.role, e.timestamp, e.originator_id, e.user_id))

    @handles(Project.MemberRemoved)
    def _member_removed(self, cur: Cursor[Any], e: Any) -> None:
        self._touch(cur, e, first=(
            "DELETE FROM project_members WHERE project_id = %s AND user_id = %s"
        ), first_params=(e.originator_id, e.user_id))


# --- queries ----------------------------------------------------------------


def project_visibility(conn: Connection[Any], organization_id: Any, project_id: Any,
                       user_id: Any) -> tuple[Role, bool, bool] | None:
    """(the user's organization role, whether the project exists in the organization,
    whether the user is a project member); None when the user is not a member of the
    live organization. One round trip: this runs before every project-scoped query."""
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
    return None if row is None else (Role(row[0]), row[1], row[2])


def visible_projects_sql(role: Role) -> str:
    """A SQL condition on ``{alias}.project_id`` limiting rows to the projects the caller
    sees; format it with the alias and pass the caller's id as the parameter."""
    if role in SEES_ALL_PROJECTS:
        return "(TRUE OR %s IS NULL)"
    return ("EXISTS (SELECT 1 FROM project.project_members pm "
            "WHERE pm.project_id = {alias}.project_id AND pm.user_id = %s)")
