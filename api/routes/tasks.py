"""Tasks of a project: subtasks, assignment, status, checklist and dependencies."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request
from psycopg.sql import SQL
from pydantic import Field

from api.access import not_found, project_role
from api.deps import (
    CREATES,
    MAX_CURSOR_LENGTH,
    Caller,
    JSONResponse,
    Strict,
    as_datetime,
    as_uuid,
    command_of,
    command_response,
    context_of,
    page,
    parse_cursor,
    read_consistency,
    runtime_of,
)
from api.problems import ApiProblem
from api.values import Day, ExactJSONRoute, Uuid
from domain.project import parse_enum
from domain.task import MAX_CHECKLIST_TEXT, MAX_DESCRIPTION, MAX_TITLE, TaskPriority, TaskStatus
from vistone.app import CommandResult
from vistone.commands import tasks as commands

router = APIRouter(prefix="/v1/organizations/{organization_id}", tags=["tasks"],
                   route_class=ExactJSONRoute)

ItemId = Annotated[str, Path(max_length=64)]
READ_MODELS = ["organizations", "projects", "tasks"]

TASK_COLUMNS = ("id", "organization_id", "project_id", "parent_id", "assignee_id", "title",
                "description", "status", "priority", "due_date", "created_by", "created_at",
                "updated_at", "version")
TASK_SELECT = SQL("SELECT " + ", ".join(TASK_COLUMNS) + " FROM project.tasks")


class CreateTask(Strict):
    title: str = Field(max_length=MAX_TITLE)
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION)
    priority: str | None = Field(default=None, max_length=20)
    due_date: Day | None = None
    parent_id: Uuid | None = None
    assignee_id: Uuid | None = None


class UpdateTask(Strict):
    """Only the fields sent change; send null to clear description or due_date (title
    and priority may not be null)."""

    title: str = Field(Strict.ABSENT, max_length=MAX_TITLE)
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION)
    priority: str = Field(Strict.ABSENT, max_length=20)
    due_date: Day | None = None


class AssignTask(Strict):
    assignee_id: Uuid | None  # required; null unassigns


class ChangeStatus(Strict):
    status: str = Field(max_length=20)


class AddChecklistItem(Strict):
    text: str = Field(max_length=MAX_CHECKLIST_TEXT)


class UpdateChecklistItem(Strict):
    """Send done, text or both (neither may be null)."""

    done: bool = Field(Strict.ABSENT)
    text: str = Field(Strict.ABSENT, max_length=MAX_CHECKLIST_TEXT)


class AddDependency(Strict):
    depends_on_id: Uuid


def task_json(row: tuple[Any, ...]) -> dict[str, Any]:
    return dict(zip(TASK_COLUMNS, row, strict=True))


def _app_and_context(request: Request, caller: UUID) -> tuple[Any, Any]:
    return runtime_of(request).app, context_of(request, caller)


# --- commands -------------------------------------------------------------
@router.post("/projects/{project_id}/tasks", status_code=201, dependencies=CREATES)
def create_task(organization_id: UUID, project_id: UUID, body: CreateTask, request: Request,
                caller: Caller) -> JSONResponse:
    command = command_of(request, caller)
    priority = (parse_enum(TaskPriority, body.priority, "priority") if body.priority
                else TaskPriority.MEDIUM)
    result = commands.create_task(command, organization_id, project_id, title=body.title, description=body.description,
        priority=priority, due_date=body.due_date, parent_id=body.parent_id,
        assignee_id=body.assignee_id,
    )
    return command_response(result, 201)


@router.patch("/tasks/{task_id}")
def update_task(organization_id: UUID, task_id: UUID, body: UpdateTask, request: Request,
                caller: Caller) -> JSONResponse:
    command = command_of(request, caller)
    changes = body.changes()
    if "priority" in changes:
        changes["priority"] = parse_enum(TaskPriority, changes["priority"], "priority")
    result = commands.update_task(command, organization_id, task_id, changes=changes,
    )
    return command_response(result)


@router.post("/tasks/{task_id}/assign")
def assign_task(organization_id: UUID, task_id: UUID, body: AssignTask, request: Request,
                caller: Caller) -> JSONResponse:
    command = command_of(request, caller)
    result = commands.assign_task(command, organization_id, task_id, assignee_id=body.assignee_id,
    )
    return command_response(result)


@router.post("/tasks/{task_id}/status")
def change_task_status(organization_id: UUID, task_id: UUID, body: ChangeStatus,
                       request: Request, caller: Caller) -> JSONResponse:
    command = command_of(request, caller)
    result = commands.change_task_status(command, organization_id, task_id, status=parse_enum(TaskStatus, body.status, "status"),
    )
    return command_response(result)


def _with_item(result: CommandResult, item_id: str) -> JSONResponse:
    response = command_response(result, 201)
    body = {"id": str(result.id), "version": result.version, "position": result.position,
            "item_id": item_id}
    return JSONResponse(body, status_code=201, headers={
        k: v for k, v in response.headers.items() if k.lower() in ("etag", "x-log-position")
    })


@router.post("/tasks/{task_id}/checklist", status_code=201)
def add_checklist_item(organization_id: UUID, task_id: UUID, body: AddChecklistItem,
                       request: Request, caller: Caller) -> JSONResponse:
    command = command_of(request, caller)
    result, item_id = commands.add_checklist_item(command, organization_id, task_id, text=body.text,
    )
    return _with_item(result, item_id)


@router.patch("/tasks/{task_id}/checklist/{item_id}")
def update_checklist_item(organization_id: UUID, task_id: UUID, item_id: ItemId,
                          body: UpdateChecklistItem, request: Request,
                          caller: Caller) -> JSONResponse:
    changes = body.changes()  # never None: the body's types refuse null
    if not changes:
        raise ApiProblem(422, "validation-error", "Invalid request",
                         "send done (true or false) and/or text")
    command = command_of(request, caller)
    result = commands.update_checklist_item(command, organization_id, task_id, item_id, done=changes.get("done"),
        text=changes.get("text"),
    )
    return command_response(result)


@router.delete("/tasks/{task_id}/checklist/{item_id}")
def remove_checklist_item(organization_id: UUID, task_id: UUID, item_id: ItemId,
                          request: Request, caller: Caller) -> JSONResponse:
    command = command_of(request, caller)
    result = commands.remove_checklist_item(command, organization_id, task_id, item_id,
    )
    return command_response(result)


@router.post("/tasks/{task_id}/dependencies", status_code=201)
def add_dependency(organization_id: UUID, task_id: UUID, body: AddDependency,
                   request: Request, caller: Caller) -> JSONResponse:
    command = command_of(request, caller)
    result = commands.add_dependency(command, organization_id, task_id, depends_on_id=body.depends_on_id,
    )
    return command_response(result, 201)


@router.delete("/tasks/{task_id}/dependencies/{depends_on_id}")
def remove_dependency(organization_id: UUID, task_id: UUID, depends_on_id: UUID,
                      request: Request, caller: Caller) -> JSONResponse:
    command = command_of(request, caller)
    result = commands.remove_dependency(command, organization_id, task_id, depends_on_id=depends_on_id,
    )
    return command_response(result)


# --- queries --------------------------------------------------------------


@router.get("/projects/{project_id}/tasks")
def list_tasks(
    organization_id: UUID, project_id: UUID, request: Request, caller: Caller,
    status: str | None = Query(default=None, max_length=20),
    assignee_id: UUID | None = None,
    parent_id: UUID | None = None,
    limit: int = Query(default=50, ge=1, le=200),
    cursor: str | None = Query(default=None, max_length=MAX_CURSOR_LENGTH),
) -> JSONResponse:
    headers = read_consistency(request, READ_MODELS)
    after = parse_cursor(cursor, as_datetime, as_uuid)
    # Conditions are added only when used, so each filter combination gets a plan
    # that walks the matching (project_id, ..., created_at, id) index.
    conditions = [SQL("project_id = %s"), SQL("organization_id = %s")]
    params: list[Any] = [project_id, organization_id]
    if status is not None:
        conditions.append(SQL("status = %s"))
        params.append(parse_enum(TaskStatus, status, "status").value)
    if assignee_id is not None:
        conditions.append(SQL("assignee_id = %s"))
        params.append(assignee_id)
    if parent_id is not None:
        conditions.append(SQL("parent_id = %s"))
        params.append(parent_id)
    if after is not None:
        conditions.append(SQL("(created_at, id) > (%s, %s)"))
        params.extend(after)
    query = SQL("{} WHERE {} ORDER BY created_at, id LIMIT %s").format(
        TASK_SELECT, SQL(" AND ").join(conditions))
    with runtime_of(request).pool.connection() as conn:
        project_role(conn, organization_id, project_id, caller)
        rows = conn.execute(query, (*params, limit + 1)).fetchall()
    items = [task_json(r) for r in rows]
    return page(items, limit, lambda i: [i["created_at"].isoformat(), str(i["id"])], headers)


@router.get("/tasks/{task_id}")
def get_task(organization_id: UUID, task_id: UUID, request: Request,
             caller: Caller) -> JSONResponse:
    headers = read_consistency(request, READ_MODELS)
    with runtime_of(request).pool.connection() as conn:
        row = conn.execute(TASK_SELECT + SQL(" WHERE id = %s AND organization_id = %s"),
                           (task_id, organization_id)).fetchone()
        if row is None:
            raise not_found("task", task_id)
        task = task_json(row)
        try:
            project_role(conn, organization_id, task["project_id"], caller)
        except ApiProblem:
            raise not_found("task", task_id) from None
        checklist = conn.execute(
            "SELECT item_id, text, done FROM project.task_checklist_items "
            "WHERE task_id = %s ORDER BY position", (task_id,),
        ).fetchall()
        depends_on = conn.execute(
            "SELECT t.id, t.title, t.status FROM project.task_dependencies d "
            "JOIN project.tasks t ON t.id = d.depends_on_id "
            "WHERE d.task_id = %s ORDER BY d.created_at, t.id", (task_id,),
        ).fetchall()
        dependents = conn.execute(
            "SELECT t.id, t.title, t.status FROM project.task_dependencies d "
            "JOIN project.tasks t ON t.id = d.task_id "
            "WHERE d.depends_on_id = %s ORDER BY d.created_at, t.id", (task_id,),
        ).fetchall()
        subtasks = conn.execute(
            "SELECT id, title, status FROM project.tasks WHERE parent_id = %s "
            "ORDER BY created_at, id", (task_id,),
        ).fetchall()

    def brief(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
        return [{"id": r[0], "title": r[1], "status": r[2]} for r in rows]

    body = {
        **task,
        "checklist": [{"id": r[0], "text": r[1], "done": r[2]} for r in checklist],
        "depends_on": brief(depends_on),
        "dependents": brief(dependents),
        "subtasks": brief(subtasks),
    }
    return JSONResponse(body, headers={**headers, "ETag": f'"{task["version"]}"'})
