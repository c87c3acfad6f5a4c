"""Tasks: create (with subtasks), update, assign, status, checklist, dependencies.

Every command reaches its task through the task's project (``project_access``): the
same role matrix and project membership rule as the project itself, and a task of
another organization, or of a project the caller cannot see, is not found.

Dependency commands answer with the task's id and version (the task itself does not
change, so If-Match names the task version the caller saw); the edge is recorded in
the project's TaskDependencyGraph, the boundary of the no-cycle rule.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID, uuid4

from domain.base import CommandContext, NotFound, derived_id
from domain.project import Project
from domain.roles import Permission
from domain.task import DEFAULT_PRIORITY, Task, TaskPriority, TaskStatus, validate_title
from domain.task_dependencies import TaskDependencyGraph, dependency_graph_id
from vistone.app import Command, CommandResult, UnitOfWork
from vistone.commands.access import project_access, require_actor


def _find_task(uow: UnitOfWork, ctx: CommandContext, task_id: UUID,
               field: str | None = None) -> Task:
    task = uow.find(Task, task_id)
    if task is None or task.organization_id != ctx.organization_id:
        raise NotFound(f"task {task_id} not found", field=field)
    return task


def _related_task(uow: UnitOfWork, ctx: CommandContext, task_id: UUID, field: str) -> Task:
    """A task named as parent or prerequisite. One of a project the actor cannot see is
    "not found" (the domain's other-project rule would confirm it exists)."""
    task = _find_task(uow, ctx, task_id, field)
    try:
        project_access(uow, ctx, task.project_id, Permission.READ)
    except NotFound:
        raise NotFound(f"task {task_id} not found", field=field) from None
    return task


def _writable_task(uow: UnitOfWork, ctx: CommandContext, task_id: UUID) -> tuple[Task, Project]:
    """The task and its project, if the actor may change the project's work."""
    task = _find_task(uow, ctx, task_id)
    try:
        project, _ = project_access(uow, ctx, task.project_id, Permission.WRITE_WORK)
    except NotFound:
        raise NotFound(f"task {task_id} not found") from None
    project.require_writable()
    return task, project


def _assign(task: Task, project: Project, assignee_id: UUID | None, ctx: CommandContext) -> None:
    is_member = assignee_id is not None and project.is_member(assignee_id)
    task.assign(assignee_id, is_member, ctx.meta)


def create_task(
    command: Command, organization_id: UUID, project_id: UUID, *,
    title: str, description: str | None = None,
    priority: TaskPriority = DEFAULT_PRIORITY, due_date: date | None = None,
    parent_id: UUID | None = None, assignee_id: UUID | None = None,
) -> CommandResult:
    creator = require_actor(command.ctx)
    task_id = uuid4()
    title = validate_title(title)
    command = command.in_organization(organization_id)
    ctx = command.ctx

    def decide(uow: UnitOfWork) -> Task:
        project, _ = project_access(uow, ctx, project_id, Permission.WRITE_WORK)
        project.require_writable()
        parent = _related_task(uow, ctx, parent_id, "parent_id") if parent_id else None
        task = uow.add(Task.create(
            id=task_id, project_id=project.id, organization_id=organization_id, title=title,
            creator_id=creator, meta=ctx.meta, description=description, priority=priority,
            due_date=due_date, parent=parent,
        ))
        if assignee_id is not None:
            _assign(task, project, assignee_id, ctx)
        return task

    return command.execute(decide)


def update_task(
    command: Command, organization_id: UUID, task_id: UUID, *,
    changes: dict[str, Any],
) -> CommandResult:
    command = command.in_organization(organization_id)
    ctx = command.ctx

    def decide(uow: UnitOfWork) -> Task:
        task, _ = _writable_task(uow, ctx, task_id)
        task.update(ctx.meta, **changes)
        return task

    return command.execute(decide)


def assign_task(
    command: Command, organization_id: UUID, task_id: UUID, *,
    assignee_id: UUID | None,
) -> CommandResult:
    command = command.in_organization(organization_id)
    ctx = command.ctx

    def decide(uow: UnitOfWork) -> Task:
        task, project = _writable_task(uow, ctx, task_id)
        _assign(task, project, assignee_id, ctx)
        return task

    return command.execute(decide)


def change_task_status(
    command: Command, organization_id: UUID, task_id: UUID, *,
    status: TaskStatus,
) -> CommandResult:
    command = command.in_organization(organization_id)
    ctx = command.ctx

    def decide(uow: UnitOfWork) -> Task:
        task, _ = _writable_task(uow, ctx, task_id)
        task.change_status(status, ctx.meta)
        return task

    return command.execute(decide)


def add_checklist_item(
    command: Command, organization_id: UUID, task_id: UUID, *,
    text: str,
) -> tuple[CommandResult, str]:
    """Returns the result and the new item's id. With an Idempotency-Key the id is
    derived from the key, so a retried request answers with the same item id."""
    command = command.in_organization(organization_id)
    ctx = command.ctx
    key = command.idempotency
    if key is not None:
        item_id = str(derived_id("checklist-item", task_id, key.actor_id, key.key))
    else:
        item_id = str(uuid4())

    def decide(uow: UnitOfWork) -> Task:
        task, _ = _writable_task(uow, ctx, task_id)
        task.add_checklist_item(item_id, text, ctx.meta)
        return task

    return command.execute(decide), item_id


def update_checklist_item(
    command: Command, organization_id: UUID, task_id: UUID, item_id: str, *,
    done: bool | None = None, text: str | None = None,
) -> CommandResult:
    command = command.in_organization(organization_id)
    ctx = command.ctx

    def decide(uow: UnitOfWork) -> Task:
        task, _ = _writable_task(uow, ctx, task_id)
        if text is not None:
            task.edit_checklist_item(item_id, text, ctx.meta)
        if done is not None:
            task.set_checklist_item_done(item_id, done, ctx.meta)
        return task

    return command.execute(decide)


def remove_checklist_item(
    command: Command, organization_id: UUID, task_id: UUID, item_id: str,
) -> CommandResult:
    command = command.in_organization(organization_id)
    ctx = command.ctx

    def decide(uow: UnitOfWork) -> Task:
        task, _ = _writable_task(uow, ctx, task_id)
        task.remove_checklist_item(item_id, ctx.meta)
        return task

    return command.execute(decide)


def _graph_of(uow: UnitOfWork, ctx: CommandContext, project_id: UUID) -> TaskDependencyGraph:
    """The project's graph, created on first use (two first uses race on version 1 of
    the same id, so only one creation is ever stored)."""
    graph = uow.find(TaskDependencyGraph, dependency_graph_id(project_id))
    if graph is None:
        graph = uow.add(TaskDependencyGraph.for_project(project_id, ctx.meta))
    return graph


def add_dependency(
    command: Command, organization_id: UUID, task_id: UUID, *,
    depends_on_id: UUID,
) -> CommandResult:
    command = command.in_organization(organization_id)
    ctx = command.ctx

    def decide(uow: UnitOfWork) -> Task:
        task, _ = _writable_task(uow, ctx, task_id)
        depends_on = _related_task(uow, ctx, depends_on_id, "depends_on_id")
        _graph_of(uow, ctx, task.project_id).add_dependency(task, depends_on, ctx.meta)
        return task

    return command.execute(decide)


def remove_dependency(
    command: Command, organization_id: UUID, task_id: UUID, *,
    depends_on_id: UUID,
) -> CommandResult:
    command = command.in_organization(organization_id)
    ctx = command.ctx

    def decide(uow: UnitOfWork) -> Task:
        task, _ = _writable_task(uow, ctx, task_id)
        _graph_of(uow, ctx, task.project_id).remove_dependency(task.id, depends_on_id,
                                                               ctx.meta)
        return task

    return command.execute(decide)
