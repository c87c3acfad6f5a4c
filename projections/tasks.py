"""project.tasks, project.task_checklist_items and project.task_dependencies."""

from __future__ import annotations

from datetime import date
from typing import Any

from psycopg import Connection, Cursor

from domain.roles import Role
from domain.task import Task
from domain.task_dependencies import TaskDependencyGraph
from projections.base import ReadModel, handles
from projections.paging import Order
from projections.projects import query_page, visible_projects_sql
from projections.table import Table

TASKS = Table("project", "tasks", {
    "id": "uuid PRIMARY KEY",
    "organization_id": "uuid NOT NULL",
    "project_id": "uuid NOT NULL",
    "parent_id": "uuid",
    "assignee_id": "uuid",
    "title": "text NOT NULL",
    "description": "text",
    "status": "text NOT NULL",
    "priority": "text NOT NULL",
    "due_date": "date",
    "created_by": "uuid NOT NULL",
    "created_at": "timestamptz NOT NULL",
    "updated_at": "timestamptz NOT NULL",
    "version": "bigint NOT NULL",
    # The due date as a sort key that is never null (keyset paging compares rows, and a
    # null compares as unknown): days since 0001-01-01, no due date after every date.
    "due_order": "integer NOT NULL GENERATED ALWAYS AS "
                 "(coalesce(due_date - DATE '0001-01-01', 2147483647)) STORED",
}, hidden=("due_order",))

CHECKLIST_ITEMS = Table("project", "task_checklist_items", {
    "task_id": "uuid NOT NULL",
    "item_id": "text NOT NULL",
    "text": "text NOT NULL",
    "done": "boolean NOT NULL DEFAULT false",
    "position": "bigint NOT NULL",
    "created_at": "timestamptz NOT NULL",
    "updated_at": "timestamptz NOT NULL",
}, constraints=("PRIMARY KEY (task_id, item_id)",))

DEPENDENCIES = Table("project", "task_dependencies", {
    "project_id": "uuid NOT NULL",
    "task_id": "uuid NOT NULL",
    "depends_on_id": "uuid NOT NULL",
    "created_at": "timestamptz NOT NULL",
}, constraints=("PRIMARY KEY (task_id, depends_on_id)",))

# Fields of Task.Updated and the columns they land in (same names).
UPDATABLE_COLUMNS = frozenset({"title", "description", "priority", "due_date"})
NEW_ITEM = ("task_id", "item_id", "text", "position", "created_at", "updated_at")

# A project's tasks in creation order.
BY_CREATION = Order((("created_at", "timestamptz"), ("id", "uuid")))
# Someone's tasks: soonest due first, those without a due date last, then creation order.
BY_DUE_DATE = Order((("due_order", "bigint"), ("created_at", "timestamptz"), ("id", "uuid")))
# A task's dependencies (or dependents) in the order they were recorded.
BY_RECORDING = Order((("since", "timestamptz"), ("id", "uuid")))


class TasksReadModel(ReadModel):
    name = "tasks"
    schema = "project"
    ddl = (
        TASKS.ddl,
        # The list query: a project's tasks in creation order, optionally by status or
        # assignee, paged by (created_at, id).
        "CREATE INDEX tasks_project_order "
        "ON tasks (project_id, created_at, id)",
        "CREATE INDEX tasks_project_status "
        "ON tasks (project_id, status, created_at, id)",
        "CREATE INDEX tasks_project_assignee "
        "ON tasks (project_id, assignee_id, created_at, id)",
        "CREATE INDEX tasks_parent ON tasks (parent_id) "
        "WHERE parent_id IS NOT NULL",
        # "My tasks": an assignee's tasks in one organization by due date.
        "CREATE INDEX tasks_assignee_due "
        "ON tasks (assignee_id, organization_id, due_order, created_at, id) "
        "WHERE assignee_id IS NOT NULL",
        CHECKLIST_ITEMS.ddl,
        DEPENDENCIES.ddl,
        "CREATE INDEX task_dependencies_depends_on "
        "ON task_dependencies (depends_on_id)",
    )
    tables = ("tasks", "task_checklist_items", "task_dependencies")

    @handles(Task.Created)
    def _created(self, cur: Cursor[Any], e: Any) -> None:
        TASKS.insert(cur, {
            "id": e.originator_id, "organization_id": e.organization_id,
            "project_id": e.project_id, "parent_id": e.parent_id, "title": e.title,
            "description": e.description, "status": e.status, "priority": e.priority,
            "due_date": e.due_date, "created_by": e.creator_id, "created_at": e.timestamp,
            "updated_at": e.timestamp, "version": e.originator_version,
        })

    @handles(Task.Updated)
    def _updated(self, cur: Cursor[Any], e: Any) -> None:
        TASKS.touch(cur, e, {c: e.changes[c] for c in sorted(set(e.changes)
                                                           & UPDATABLE_COLUMNS)})

    @handles(Task.Assigned)
    def _assigned(self, cur: Cursor[Any], e: Any) -> None:
        TASKS.touch(cur, e, {"assignee_id": e.assignee_id})

    @handles(Task.StatusChanged)
    def _status_changed(self, cur: Cursor[Any], e: Any) -> None:
        TASKS.touch(cur, e, {"status": e.status})

    @handles(Task.ChecklistItemAdded)
    def _checklist_item_added(self, cur: Cursor[Any], e: Any) -> None:
        TASKS.touch(cur, e, first=CHECKLIST_ITEMS.insert_sql(NEW_ITEM), first_params=(
            e.originator_id, e.item_id, e.text, e.originator_version, e.timestamp,
            e.timestamp))

    @handles(Task.ChecklistItemToggled)
    def _checklist_item_toggled(self, cur: Cursor[Any], e: Any) -> None:
        TASKS.touch(cur, e, first=(
            "UPDATE task_checklist_items SET done = %s, updated_at = %s "
            "WHERE task_id = %s AND item_id = %s"
        ), first_params=(e.done, e.timestamp, e.originator_id, e.item_id))

    @handles(Task.ChecklistItemEdited)
    def _checklist_item_edited(self, cur: Cursor[Any], e: Any) -> None:
        TASKS.touch(cur, e, first=(
            "UPDATE task_checklist_items SET text = %s, updated_at = %s "
            "WHERE task_id = %s AND item_id = %s"
        ), first_params=(e.text, e.timestamp, e.originator_id, e.item_id))

    @handles(Task.ChecklistItemRemoved)
    def _checklist_item_removed(self, cur: Cursor[Any], e: Any) -> None:
        TASKS.touch(cur, e, first=(
            "DELETE FROM task_checklist_items WHERE task_id = %s AND item_id = %s"
        ), first_params=(e.originator_id, e.item_id))

    @handles(TaskDependencyGraph.DependencyAdded)
    def _dependency_added(self, cur: Cursor[Any], e: Any) -> None:
        # The task row is older than any of its dependencies and belongs to this
        # read model, so a rebuild finds it here too.
        cur.execute(
            "INSERT INTO task_dependencies "
            "(project_id, task_id, depends_on_id, created_at) "
            "SELECT t.project_id, t.id, %s, %s FROM tasks t WHERE t.id = %s",
            (e.depends_on_id, e.timestamp, e.task_id),
        )

    @handles(TaskDependencyGraph.DependencyRemoved)
    def _dependency_removed(self, cur: Cursor[Any], e: Any) -> None:
        cur.execute(
            "DELETE FROM task_dependencies WHERE task_id = %s AND depends_on_id = %s",
            (e.task_id, e.depends_on_id),
        )


# --- queries ----------------------------------------------------------------


def task(conn: Connection[Any], organization_id: Any, task_id: Any) -> dict[str, Any] | None:
    """One task of the organization."""
    return TASKS.one(conn, "id = %s AND organization_id = %s", (task_id, organization_id))


def task_details(conn: Connection[Any], task_id: Any) -> dict[str, list[dict[str, Any]]]:
    """A task's checklist (in the order added), the tasks it depends on and those that
    depend on it (in the order recorded), and its subtasks (in creation order), in one
    round trip."""
    row = conn.execute(
        "SELECT "
        "(SELECT coalesce(json_agg(json_build_object('id', i.item_id, 'text', i.text, "
        "  'done', i.done) ORDER BY i.position), '[]') "
        " FROM project.task_checklist_items i WHERE i.task_id = %(id)s), "
        "(SELECT coalesce(json_agg(json_build_object('id', t.id, 'title', t.title, "
        "  'status', t.status) ORDER BY d.created_at, t.id), '[]') "
        " FROM project.task_dependencies d JOIN project.tasks t ON t.id = d.depends_on_id "
        " WHERE d.task_id = %(id)s), "
        "(SELECT coalesce(json_agg(json_build_object('id', t.id, 'title', t.title, "
        "  'status', t.status) ORDER BY d.created_at, t.id), '[]') "
        " FROM project.task_dependencies d JOIN project.tasks t ON t.id = d.task_id "
        " WHERE d.depends_on_id = %(id)s), "
        "(SELECT coalesce(json_agg(json_build_object('id', t.id, 'title', t.title, "
        "  'status', t.status) ORDER BY t.created_at, t.id), '[]') "
        " FROM project.tasks t WHERE t.parent_id = %(id)s)",
        {"id": task_id},
    ).fetchone()
    assert row is not None  # a SELECT without FROM always answers one row
    checklist, depends_on, dependents, subtasks = row
    return {"checklist": checklist, "depends_on": depends_on, "dependents": dependents,
            "subtasks": subtasks}


def project_tasks(conn: Connection[Any], organization_id: Any, project_id: Any, *,
                  status: str | None, assignee_id: Any, parent_id: Any,
                  cursor: str | None, limit: int) -> dict[str, Any]:
    """A page of a project's tasks in creation order."""
    where = ["project_id = %s", "organization_id = %s"]
    params: list[Any] = [project_id, organization_id]
    for condition, value in (("status = %s", status), ("assignee_id = %s", assignee_id),
                             ("parent_id = %s", parent_id)):
        if value is not None:
            where.append(condition)
            params.append(value)
    return TASKS.page(conn, where, params, BY_CREATION, cursor, limit)


def assigned_tasks(conn: Connection[Any], organization_id: Any, role: Role, user_id: Any, *,
                   status: str | None, due_before: date | None, due_after: date | None,
                   cursor: str | None, limit: int) -> dict[str, Any]:
    """A page of the tasks assigned to ``user_id`` in the projects of the organization
    that ``role`` lets them see now: soonest due first, those without a due date last.
    ``due_before`` and ``due_after`` are inclusive and leave out tasks without a due
    date."""
    where = ["assignee_id = %s", "organization_id = %s",
             visible_projects_sql(role).format(alias="tasks")]
    params: list[Any] = [user_id, organization_id, user_id]
    for condition, value in (("status = %s", status), ("due_date <= %s", due_before),
                             ("due_date >= %s", due_after)):
        if value is not None:
            where.append(condition)
            params.append(value)
    return query_page(
        conn, f"SELECT {', '.join(TASKS.shown)}, due_order FROM {TASKS.view} "
        f"WHERE {' AND '.join(where)}",
        params, BY_DUE_DATE, cursor, limit, sort_only=("due_order",))


def dependencies_page(conn: Connection[Any], task_id: Any, *, dependents: bool,
                      cursor: str | None, limit: int) -> dict[str, Any]:
    """A page of the tasks ``task_id`` depends on (or, with ``dependents``, of those
    that depend on it), in the order the dependencies were recorded."""
    this, other = ("depends_on_id", "task_id") if dependents else ("task_id", "depends_on_id")
    return query_page(
        conn, "SELECT t.id, t.title, t.status, t.project_id, d.created_at AS since "
        f"FROM project.task_dependencies d JOIN {TASKS.view} t ON t.id = d.{other} "
        f"WHERE d.{this} = %s",
        (task_id,), BY_RECORDING, cursor, limit, sort_only=("since",))


def tasks_assigned_to(conn: Connection[Any], organization_id: Any, user_id: Any) -> list[Any]:
    """The organization's tasks assigned to the user (done or not)."""
    return [row[0] for row in conn.execute(
        f"SELECT id FROM {TASKS.view} WHERE organization_id = %s AND assignee_id = %s "
        "ORDER BY id", (organization_id, user_id))]
