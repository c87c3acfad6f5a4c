"""Time logs: a person logs, edits and deletes their own hours against a task.

Every command writes the TimeLog and the PersonDay ledger(s) it affects in one unit of
work, so the 24-hours-per-day rule (checked by the ledger) and the log never disagree.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from domain.base import CommandContext, NotFound
from domain.person_day import PersonDay, person_day_id
from domain.roles import Permission
from domain.task import Task
from domain.timelog import TimeLog, validate_description, validate_hours, validate_work_date
from vistone.app import Command, CommandResult, UnitOfWork
from vistone.commands.access import authorize, project_access, require_actor


def ledger(uow: UnitOfWork, ctx: CommandContext, person_id: UUID, work_date: date) -> PersonDay:
    """The person's ledger for the date, opened (in this unit of work) on first use."""
    found = uow.find(PersonDay, person_day_id(person_id, work_date))
    return found if found is not None else uow.add(PersonDay.open(person_id, work_date, ctx.meta))


def log_time(
    command: Command, organization_id: UUID, *, task_id: UUID, work_date: date,
    hours: Decimal, description: str | None = None,
) -> CommandResult:
    command = command.in_organization(organization_id)
    ctx = command.ctx
    actor = require_actor(ctx)
    work_date = validate_work_date(work_date)
    hours = validate_hours(hours)
    description = validate_description(description)
    time_log_id = uuid4()

    def decide(uow: UnitOfWork) -> TimeLog:
        authorize(uow, ctx, organization_id, Permission.WRITE_WORK)
        task = uow.find(Task, task_id)
        if task is None or task.organization_id != organization_id:
            raise NotFound(f"task {task_id} not found", field="task_id")
        project, _ = project_access(uow, ctx, task.project_id, Permission.WRITE_WORK)
        project.require_writable()
        log = uow.add(TimeLog.create(
            id=time_log_id, organization_id=organization_id, project_id=project.id,
            task_id=task_id, person_id=actor, work_date=work_date, hours=hours,
            description=description, meta=ctx.meta,
        ))
        ledger(uow, ctx, actor, work_date).reserve(log.id, hours, ctx.meta)
        return log

    return command.execute(decide)


def _own_log(uow: UnitOfWork, ctx: CommandContext, organization_id: UUID,
             time_log_id: UUID) -> TimeLog:
    """The log, if it is in this organization and the actor may still work on its project.
    Ownership (403) and deletion (404) are the aggregate's own rules."""
    authorize(uow, ctx, organization_id, Permission.WRITE_WORK)
    log = uow.find(TimeLog, time_log_id)
    if log is None or log.organization_id != organization_id:
        raise NotFound(f"time log {time_log_id} not found")
    return log


def _require_project_writable(uow: UnitOfWork, ctx: CommandContext, log: TimeLog) -> None:
    project, _ = project_access(uow, ctx, log.project_id, Permission.WRITE_WORK)
    project.require_writable()


def edit_time_log(
    command: Command, organization_id: UUID, time_log_id: UUID, *, changes: dict[str, Any],
) -> CommandResult:
    """Change hours, work_date and/or description (only the keys present in ``changes``).
    Moving a log to another date releases it from one ledger and reserves it on the
    other in the same append."""
    command = command.in_organization(organization_id)
    ctx = command.ctx
    actor = require_actor(ctx)

    def decide(uow: UnitOfWork) -> TimeLog:
        log = _own_log(uow, ctx, organization_id, time_log_id)
        previous_date, previous_hours = log.work_date, log.hours
        log.edit(actor, ctx.meta, **changes)
        if not log.pending_events:
            return log
        _require_project_writable(uow, ctx, log)
        if log.work_date != previous_date:
            ledger(uow, ctx, log.person_id, previous_date).release(log.id, ctx.meta)
            ledger(uow, ctx, log.person_id, log.work_date).reserve(log.id, log.hours, ctx.meta)
        elif log.hours != previous_hours:
            ledger(uow, ctx, log.person_id, log.work_date).change(log.id, log.hours, ctx.meta)
        return log

    return command.execute(decide)


def delete_time_log(command: Command, organization_id: UUID, time_log_id: UUID) -> CommandResult:
    command = command.in_organization(organization_id)
    ctx = command.ctx
    actor = require_actor(ctx)

    def decide(uow: UnitOfWork) -> TimeLog:
        log = _own_log(uow, ctx, organization_id, time_log_id)
        log.delete(actor, ctx.meta)
        _require_project_writable(uow, ctx, log)
        ledger(uow, ctx, log.person_id, log.work_date).release(log.id, ctx.meta)
        return log

    return command.execute(decide)
