"""project.tasks, project.task_checklist_items and project.task_dependencies."""

from __future__ import annotations

from typing import Any

from psycopg import Cursor

from domain.task import Task, TaskStatus
from domain.task_dependencies import TaskDependencyGraph
from projections.base import ReadModel, handles, with_first

# Fields of Task.Updated and the columns they land in (same names).
UPDATABLE_COLUMNS = frozenset({"title", "description", "priority", "due_date"})


class TasksReadModel(ReadModel):
    name = "tasks"
    schema = "project"
    ddl = (
        """CREATE TABLE tasks (
            id uuid PRIMARY KEY,
            organization_id uuid NOT NULL,
            project_id uuid NOT NULL,
            parent_id uuid,
            assignee_id uuid,
            title text NOT NULL,
            description text,
            status text NOT NULL,
            priority text NOT NULL,
            due_date date,
            created_by uuid NOT NULL,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            version bigint NOT NULL
        )""",
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
        """CREATE TABLE task_checklist_items (
            task_id uuid NOT NULL,
            item_id text NOT NULL,
            text text NOT NULL,
            done boolean NOT NULL DEFAULT false,
            position bigint NOT NULL,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            PRIMARY KEY (task_id, item_id)
        )""",
        """CREATE TABLE task_dependencies (
            project_id uuid NOT NULL,
            task_id uuid NOT NULL,
            depends_on_id uuid NOT NULL,
            created_at timestamptz NOT NULL,
            PRIMARY KEY (task_id, depends_on_id)
        )""",
        "CREATE INDEX task_dependencies_depends_on "
        "ON task_dependencies (depends_on_id)",
    )
    tables = ("tasks", "task_checklist_items", "task_dependencies")

    def _touch(self, cur: Cursor[Any], e: Any, assignments: str = "",
               params: tuple = (), *, first: str | None = None,
               first_params: tuple = ()) -> None:
        """Update the task's row (version, updated_at and ``assignments``); ``first``, a
        write to another table, goes in the same statement: one round trip per event."""
        cur.execute(
            with_first(first, f"UPDATE tasks SET {assignments}updated_at = %s, "
                              "version = %s WHERE id = %s"),
            (*first_params, *params, e.timestamp, e.originator_version, e.originator_id),
        )

    @handles(Task.Created)
    def _created(self, cur: Cursor[Any], e: Any) -> None:
        cur.execute(
            "INSERT INTO tasks (id, organization_id, project_id, parent_id, title, "
            "description, status, priority, due_date, created_by, created_at, updated_at, "
            "version) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (e.originator_id, e.organization_id, e.project_id, e.parent_id, e.title,
             e.description, TaskStatus.PENDING.value, e.priority, e.due_date, e.creator_id,
             e.timestamp, e.timestamp, e.originator_version),
        )

    @handles(Task.Updated)
    def _updated(self, cur: Cursor[Any], e: Any) -> None:
        columns = sorted(set(e.changes) & UPDATABLE_COLUMNS)
        # Column names from UPDATABLE_COLUMNS only (constants of this module).
        assignments = "".join(f"{column} = %s, " for column in columns)
        self._touch(cur, e, assignments, tuple(e.changes[c] for c in columns))

    @handles(Task.Assigned)
    def _assigned(self, cur: Cursor[Any], e: Any) -> None:
        self._touch(cur, e, "assignee_id = %s, ", (e.assignee_id,))

    @handles(Task.StatusChanged)
    def _status_changed(self, cur: Cursor[Any], e: Any) -> None:
        self._touch(cur, e, "status = %s, ", (e.status,))

    @handles(Task.ChecklistItemAdded)
    def _checklist_item_added(self, cur: Cursor[Any], e: Any) -> None:
        self._touch(cur, e, first=(
            "INSERT INTO task_checklist_items "
            "(task_id, item_id, text, done, position, created_at, updated_at) "
            "VALUES (%s, %s, %s, false, %s, %s, %s)"
        ), first_params=(e.originator_id, e.item_id, e.text, e.originator_version, e.timestamp,
                         e.timestamp))

    @handles(Task.ChecklistItemToggled)
    def _checklist_item_toggled(self, cur: Cursor[Any], e: Any) -> None:
        self._touch(cur, e, first=(
            "UPDATE task_checklist_items SET done = %s, updated_at = %s "
            "WHERE task_id = %s AND item_id = %s"
        ), first_params=(e.done, e.timestamp, e.originator_id, e.item_id))

    @handles(Task.ChecklistItemEdited)
    def _checklist_item_edited(self, cur: Cursor[Any], e: Any) -> None:
        self._touch(cur, e, first=(
            "UPDATE task_checklist_items SET text = %s, updated_at = %s "
            "WHERE task_id = %s AND item_id = %s"
        ), first_params=(e.text, e.timestamp, e.originator_id, e.item_id))

    @handles(Task.ChecklistItemRemoved)
    def _checklist_item_removed(self, cur: Cursor[Any], e: Any) -> None:
        self._touch(cur, e, first=(
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
