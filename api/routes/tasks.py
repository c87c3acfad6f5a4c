"""Tasks of a project: subtasks, assignment, status, checklist and dependencies; and
each person's tasks across the projects they see."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, TypeAlias
from uuid import UUID

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from api.access import organization_role, project_role, visible_task
from api.contract import CommandAnswer, Page
from api.deps import (
    CREATES,
    Command,
    JSONResponse,
    PageCursor,
    PageLimit,
    Reader,
    Strict,
    command_response,
    reading,
)
from api.problems import ApiProblem
from api.values import Day, ExactJSONRoute, Uuid, optional_text, text
from domain.task import (
    DEFAULT_PRIORITY,
    MAX_CHECKLIST_TEXT,
    MAX_DESCRIPTION,
    MAX_TITLE,
    TaskPriority,
    TaskStatus,
)
from projections import tasks
from vistone.app import CommandResult
from vistone.commands import tasks as commands

router = APIRouter(prefix="/v1/organizations/{organization_id}", tags=["tasks"],
                   route_class=ExactJSONRoute)

Reads = Annotated[Reader, reading("organizations", "projects", "tasks")]
ItemId = Annotated[str, Path(max_length=64)]

# Text as the domain takes it (api.values.text); mypy sees plain text.
if TYPE_CHECKING:
    Title: TypeAlias = str
    Description: TypeAlias = str
    ChecklistText: TypeAlias = str
else:
    Title = text(MAX_TITLE)
    Description = optional_text(MAX_DESCRIPTION)
    ChecklistText = text(MAX_CHECKLIST_TEXT)
# Enums arrive as JSON strings: strict bodies would want enum instances.
Status = Annotated[TaskStatus, Field(strict=False)]
Priority = Annotated[TaskPriority, Field(strict=False)]

EXAMPLE_TASK = "0b8f8a52-3c1e-4d57-9a53-2f7d3c1f4e10"
EXAMPLE_USER = "9d7e6f5a-4b3c-4d2e-8f1a-0b9c8d7e6f5a"


class CreateTask(Strict):
    title: Title
    description: Description | None = None
    priority: Priority = DEFAULT_PRIORITY
    due_date: Day | None = None
    parent_id: Uuid | None = Field(default=None, description="a task of the same project")
    assignee_id: Uuid | None = Field(default=None, description="a member of the project")

    model_config = {"json_schema_extra": {"examples": [
        {"title": "Write the landing page copy", "description": "Two variants for A/B",
         "priority": "HIGH", "due_date": "2026-04-15", "assignee_id": EXAMPLE_USER}]}}


class UpdateTask(Strict):
    """Only the fields sent change; send null to clear description or due_date (title
    and priority may not be null)."""

    title: Title = Field(Strict.ABSENT)
    description: Description | None = None
    priority: Priority = Field(Strict.ABSENT)
    due_date: Day | None = None

    model_config = {"json_schema_extra": {"examples": [
        {"priority": "URGENT", "due_date": "2026-04-10"}]}}


class AssignTask(Strict):
    assignee_id: Uuid | None = Field(description="a member of the project; null unassigns")

    model_config = {"json_schema_extra": {"examples": [{"assignee_id": EXAMPLE_USER}]}}


class ChangeStatus(Strict):
    status: Status

    model_config = {"json_schema_extra": {"examples": [{"status": "IN_PROGRESS"}]}}


class AddChecklistItem(Strict):
    text: ChecklistText

    model_config = {"json_schema_extra": {"examples": [{"text": "Proofread"}]}}


class UpdateChecklistItem(Strict):
    """Send done, text or both (neither may be null)."""

    done: bool = Field(Strict.ABSENT)
    text: ChecklistText = Field(Strict.ABSENT)

    model_config = {"json_schema_extra": {"minProperties": 1, "examples": [{"done": True}]}}


class AddDependency(Strict):
    depends_on_id: Uuid = Field(description="another task of the same project")

    model_config = {"json_schema_extra": {"examples": [{"depends_on_id": EXAMPLE_TASK}]}}


class ChecklistItemAnswer(CommandAnswer):
    item_id: str = Field(description="the new checklist item's id")


class TaskView(BaseModel):
    id: UUID
    organization_id: UUID
    project_id: UUID
    parent_id: UUID | None
    assignee_id: UUID | None
    title: str
    description: str | None
    status: TaskStatus
    priority: TaskPriority
    due_date: date | None
    created_by: UUID
    created_at: datetime
    updated_at: datetime
    version: int


class TaskBrief(BaseModel):
    id: UUID
    title: str
    status: TaskStatus


class ChecklistItemView(BaseModel):
    id: str
    text: str
    done: bool


class TaskDetail(TaskView):
    checklist: list[ChecklistItemView] = Field(description="in the order added")
    depends_on: list[TaskBrief] = Field(description="the tasks this one depends on")
    dependents: list[TaskBrief] = Field(description="the tasks that depend on this one")
    subtasks: list[TaskBrief] = Field(description="in creation order")


class DependencyView(BaseModel):
    id: UUID
    title: str
    status: TaskStatus
    project_id: UUID


# --- commands -------------------------------------------------------------
@router.post("/projects/{project_id}/tasks", status_code=201, dependencies=CREATES,
             response_model=CommandAnswer)
def create_task(organization_id: UUID, project_id: UUID, body: CreateTask,
                command: Command) -> JSONResponse:
    result = commands.create_task(
        command, organization_id, project_id, title=body.title, description=body.description,
        priority=body.priority, due_date=body.due_date, parent_id=body.parent_id,
        assignee_id=body.assignee_id)
    return command_response(result, 201)


@router.patch("/tasks/{task_id}", response_model=CommandAnswer)
def update_task(organization_id: UUID, task_id: UUID, body: UpdateTask,
                command: Command) -> JSONResponse:
    return command_response(commands.update_task(command, organization_id, task_id,
                                                 changes=body.changes()))


@router.post("/tasks/{task_id}/assign", response_model=CommandAnswer)
def assign_task(organization_id: UUID, task_id: UUID, body: AssignTask,
                command: Command) -> JSONResponse:
    return command_response(commands.assign_task(command, organization_id, task_id,
                                                 assignee_id=body.assignee_id))


@router.post("/tasks/{task_id}/status", response_model=CommandAnswer)
def change_task_status(organization_id: UUID, task_id: UUID, body: ChangeStatus,
                       command: Command) -> JSONResponse:
    """PENDING → IN_PROGRESS → COMPLETED; IN_PROGRESS and COMPLETED go back to
    PENDING."""
    return command_response(commands.change_task_status(command, organization_id, task_id,
                                                        status=body.status))


def _with_item(result: CommandResult, item_id: str) -> JSONResponse:
    answer = command_response(result, 201)
    body = {"id": result.id, "version": result.version, "position": result.position,
            "item_id": item_id}
    return JSONResponse(body, status_code=201, headers={
        k: v for k, v in answer.headers.items() if k.lower() in ("etag", "x-log-position")})


@router.post("/tasks/{task_id}/checklist", status_code=201,
             response_model=ChecklistItemAnswer)
def add_checklist_item(organization_id: UUID, task_id: UUID, body: AddChecklistItem,
                       command: Command) -> JSONResponse:
    result, item_id = commands.add_checklist_item(command, organization_id, task_id,
                                                  text=body.text)
    return _with_item(result, item_id)


@router.patch("/tasks/{task_id}/checklist/{item_id}", response_model=CommandAnswer)
def update_checklist_item(organization_id: UUID, task_id: UUID, item_id: ItemId,
                          body: UpdateChecklistItem, command: Command) -> JSONResponse:
    changes = body.changes()  # never None: the body's types refuse null
    if not changes:
        raise ApiProblem(422, "validation-error", "Invalid request",
                         "send done (true or false) and/or text")
    return command_response(commands.update_checklist_item(
        command, organization_id, task_id, item_id, done=changes.get("done"),
        text=changes.get("text")))


@router.delete("/tasks/{task_id}/checklist/{item_id}", response_model=CommandAnswer)
def remove_checklist_item(organization_id: UUID, task_id: UUID, item_id: ItemId,
                          command: Command) -> JSONResponse:
    return command_response(commands.remove_checklist_item(command, organization_id,
                                                           task_id, item_id))


@router.post("/tasks/{task_id}/dependencies", status_code=201, response_model=CommandAnswer)
def add_dependency(organization_id: UUID, task_id: UUID, body: AddDependency,
                   command: Command) -> JSONResponse:
    """The task cannot proceed before ``depends_on_id``; a dependency that would close a
    cycle is refused (409). Answers the task's id and version."""
    return command_response(commands.add_dependency(
        command, organization_id, task_id, depends_on_id=body.depends_on_id), 201)


@router.delete("/tasks/{task_id}/dependencies/{depends_on_id}", response_model=CommandAnswer)
def remove_dependency(organization_id: UUID, task_id: UUID, depends_on_id: UUID,
                      command: Command) -> JSONResponse:
    return command_response(commands.remove_dependency(
        command, organization_id, task_id, depends_on_id=depends_on_id))


# --- queries --------------------------------------------------------------
@router.get("/projects/{project_id}/tasks", response_model=Page[TaskView])
def list_tasks(
    organization_id: UUID, project_id: UUID, reader: Reads,
    status: TaskStatus | None = None,
    assignee_id: UUID | None = None,
    parent_id: UUID | None = None,
    limit: PageLimit = 50,
    cursor: PageCursor = None,
) -> JSONResponse:
    """A project's tasks in creation order."""
    project_role(reader.conn, organization_id, project_id, reader.caller)
    return reader.answer(tasks.project_tasks(
        reader.conn, organization_id, project_id,
        status=status.value if status is not None else None, assignee_id=assignee_id,
        parent_id=parent_id, cursor=cursor, limit=limit))


@router.get("/my-tasks", response_model=Page[TaskView])
def my_tasks(
    organization_id: UUID, reader: Reads,
    status: TaskStatus | None = None,
    due_before: Annotated[Day | None, Query(
        description="due on or before this day (tasks without a due date are left out)")]
    = None,
    due_after: Annotated[Day | None, Query(
        description="due on or after this day (tasks without a due date are left out)")]
    = None,
    limit: PageLimit = 50,
    cursor: PageCursor = None,
) -> JSONResponse:
    """The tasks assigned to the caller in the projects of the organization the caller
    sees now: soonest due first, those without a due date last, then creation order."""
    role = organization_role(reader.conn, organization_id, reader.caller)
    return reader.answer(tasks.assigned_tasks(
        reader.conn, organization_id, role, reader.caller,
        status=status.value if status is not None else None, due_before=due_before,
        due_after=due_after, cursor=cursor, limit=limit))


@router.get("/tasks/{task_id}", response_model=TaskDetail)
def get_task(organization_id: UUID, task_id: UUID, reader: Reads) -> JSONResponse:
    found = visible_task(reader.conn, organization_id, task_id, reader.caller)
    return reader.answer({**found, **tasks.task_details(reader.conn, task_id)},
                         ETag=f'"{found["version"]}"')


@router.get("/tasks/{task_id}/dependencies", response_model=Page[DependencyView])
def list_dependencies(organization_id: UUID, task_id: UUID, reader: Reads,
                      limit: PageLimit = 50, cursor: PageCursor = None) -> JSONResponse:
    """The tasks this task depends on, in the order the dependencies were added."""
    visible_task(reader.conn, organization_id, task_id, reader.caller)
    return reader.answer(tasks.dependencies_page(reader.conn, task_id, dependents=False,
                                                 cursor=cursor, limit=limit))


@router.get("/tasks/{task_id}/dependents", response_model=Page[DependencyView])
def list_dependents(organization_id: UUID, task_id: UUID, reader: Reads,
                    limit: PageLimit = 50, cursor: PageCursor = None) -> JSONResponse:
    """The tasks that depend on this task, in the order the dependencies were added."""
    visible_task(reader.conn, organization_id, task_id, reader.caller)
    return reader.answer(tasks.dependencies_page(reader.conn, task_id, dependents=True,
                                                 cursor=cursor, limit=limit))
