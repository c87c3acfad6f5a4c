"""Leaving an organization's work: the commands a departure is completed with.

Removing someone from an organization, or making them a Client, is one event on the
Organization; their project memberships, channel memberships and assigned tasks are
spread over many aggregates, each its own consistency boundary. ``vistone/departures.py``
completes the departure from the log with these commands. What a departure takes away:

- someone no longer a member: every project membership (archived projects aside: kept
  read-only as they were), every channel membership (direct channels aside: two
  people's, fixed) and every task assigned to them;
- someone made a Client: project roles above Viewer become Viewer (a Client only views a
  project: ``domain.project.require_role_allowed``) and tasks assigned to them are
  unassigned (a Client writes nothing); channel memberships stay, as for any Client.

Each command looks at the person's role in the organization *now*, so a repeat changes
nothing and someone added back before it ran keeps what they have. They carry the
context of the event that caused them (who removed the person, the same correlation id),
so the timeline shows them as part of that removal."""

from __future__ import annotations

from enum import Enum
from uuid import UUID

from domain.channel import Channel
from domain.organization import Organization
from domain.project import Project, ProjectRole
from domain.roles import Role
from domain.task import Task
from vistone.app import Command, CommandResult, UnitOfWork


class Departure(Enum):
    NONE = "still an internal member (or the organization is deleted: all history)"
    LEFT = "no longer a member"
    CLIENT = "made a Client"


def _departure(uow: UnitOfWork, organization_id: UUID, user_id: UUID) -> Departure:
    """How the person stands in the organization *now*."""
    organization = uow.find(Organization, organization_id)
    if organization is None or organization.deleted:
        return Departure.NONE
    role = organization.role_of(user_id)
    if role is None:
        return Departure.LEFT
    return Departure.CLIENT if role is Role.CLIENT else Departure.NONE


def leave_project(command: Command, organization_id: UUID, project_id: UUID,
                  user_id: UUID) -> CommandResult:
    command = command.in_organization(organization_id)

    def decide(uow: UnitOfWork) -> Project:
        project = uow.get(Project, project_id, "project")
        if project.archived or not project.is_member(user_id):
            return project
        departure = _departure(uow, organization_id, user_id)
        if departure is Departure.LEFT:
            project.remove_member(user_id, command.ctx.meta)
        elif (departure is Departure.CLIENT
              and project.role_of(user_id) is not ProjectRole.VIEWER):
            project.change_member_role(user_id, ProjectRole.VIEWER, command.ctx.meta)
        return project

    return command.execute(decide)


def leave_channel(command: Command, organization_id: UUID, channel_id: UUID,
                  user_id: UUID) -> CommandResult:
    command = command.in_organization(organization_id)

    def decide(uow: UnitOfWork) -> Channel:
        channel = uow.get(Channel, channel_id, "channel")
        if (channel.is_member(user_id) and not channel.is_direct
                and _departure(uow, organization_id, user_id) is Departure.LEFT):
            channel.leave(user_id, command.ctx.meta)
        return channel

    return command.execute(decide)


def unassign_task(command: Command, organization_id: UUID, task_id: UUID,
                  user_id: UUID) -> CommandResult:
    command = command.in_organization(organization_id)

    def decide(uow: UnitOfWork) -> Task:
        task = uow.get(Task, task_id, "task")
        if (str(task.assignee_id) == str(user_id)
                and _departure(uow, organization_id, user_id) is not Departure.NONE):
            task.assign(None, False, command.ctx.meta)
        return task

    return command.execute(decide)
