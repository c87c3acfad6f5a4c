"""Leaving an organization's work: the commands a departure is completed with.

Removing someone from an organization, or making them a Client, is one event on the
Organization; their project memberships, channel memberships and assigned tasks are
spread over many aggregates, each its own consistency boundary. ``vistone/departures.py``
completes the departure from the log with these commands. Each one changes nothing
unless the person may no longer hold the organization's work *now* (``holds_work``), so
a repeat changes nothing, and someone added back before it ran keeps what they have.
They carry the context of the event that caused them (who removed the person, the same
correlation id), so the timeline shows them as part of that removal."""

from __future__ import annotations

from uuid import UUID

from domain.channel import Channel
from domain.organization import Organization
from domain.project import Project
from domain.task import Task
from vistone.app import Command, CommandResult, UnitOfWork


def _departed(uow: UnitOfWork, organization_id: UUID, user_id: UUID) -> bool:
    organization = uow.find(Organization, organization_id)
    return organization is not None and not organization.holds_work(user_id)


def leave_project(command: Command, organization_id: UUID, project_id: UUID,
                  user_id: UUID) -> CommandResult:
    """Out of the project, unless it is archived (kept as it was, read-only)."""
    command = command.in_organization(organization_id)

    def decide(uow: UnitOfWork) -> Project:
        project = uow.get(Project, project_id, "project")
        if (_departed(uow, organization_id, user_id) and project.is_member(user_id)
                and not project.archived):
            project.remove_member(user_id, command.ctx.meta)
        return project

    return command.execute(decide)


def leave_channel(command: Command, organization_id: UUID, channel_id: UUID,
                  user_id: UUID) -> CommandResult:
    """Out of the channel (direct channels stay as they are: two people's, fixed)."""
    command = command.in_organization(organization_id)

    def decide(uow: UnitOfWork) -> Channel:
        channel = uow.get(Channel, channel_id, "channel")
        if (_departed(uow, organization_id, user_id) and channel.is_member(user_id)
                and not channel.is_direct):
            channel.leave(user_id, command.ctx.meta)
        return channel

    return command.execute(decide)


def unassign_task(command: Command, organization_id: UUID, task_id: UUID,
                  user_id: UUID) -> CommandResult:
    command = command.in_organization(organization_id)

    def decide(uow: UnitOfWork) -> Task:
        task = uow.get(Task, task_id, "task")
        if _departed(uow, organization_id, user_id) and str(task.assignee_id) == str(user_id):
            task.assign(None, False, command.ctx.meta)
        return task

    return command.execute(decide)
