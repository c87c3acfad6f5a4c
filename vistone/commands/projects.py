"""Projects: creation with a name unique in its organization, updates, status, archive,
project members and linked clients.

The unique name is a UniqueClaim keyed by the normalized name inside the organization's
scope, saved in the same append as the project: two concurrent creations of one name
both try to write version 1 of the same claim and exactly one wins.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from domain.base import NotFound
from domain.client import Client
from domain.organization import Organization
from domain.project import (
    ClientNotLinked,
    Project,
    ProjectRole,
    ProjectStatus,
    normalized_name,
    require_role_allowed,
    validate_name,
)
from domain.roles import Permission, Role
from vistone.app import Command, CommandResult, UnitOfWork
from vistone.commands.access import authorize, project_access, require_actor
from vistone.commands.organizations import release_claim, take_claim

DUPLICATE_NAME = "a project with this name already exists in the organization"


def name_scope(organization_id: UUID) -> str:
    return f"project-name:{organization_id}"


def _client(uow: UnitOfWork, client_id: UUID) -> Client:
    """The client named by ``client_id`` (whether it may be linked is the project's
    rule: a client of another organization is not found there)."""
    client = uow.find(Client, client_id)
    if client is None:
        raise NotFound(f"client {client_id} not found", field="client_id")
    return client


def create_project(
    command: Command, organization_id: UUID, *, name: str,
    description: str | None = None, client_id: UUID | None = None,
    start_date: date | None = None, end_date: date | None = None,
    budget: Decimal | None = None,
) -> CommandResult:
    creator = require_actor(command.ctx)
    project_id = uuid4()
    name = validate_name(name)
    command = command.in_organization(organization_id)
    ctx = command.ctx

    def decide(uow: UnitOfWork) -> Project:
        authorize(uow, ctx, organization_id, Permission.MANAGE_PROJECTS)
        project = Project.create(
            id=project_id, organization_id=organization_id, name=name, creator_id=creator,
            meta=ctx.meta, description=description,
            client=_client(uow, client_id) if client_id is not None else None,
            start_date=start_date, end_date=end_date, budget=budget,
        )
        take_claim(uow, ctx, name_scope(organization_id), normalized_name(name), project_id,
                   DUPLICATE_NAME, "name")
        return uow.add(project)

    return command.execute(decide)


def update_project(
    command: Command, organization_id: UUID, project_id: UUID, *,
    changes: dict[str, Any],
) -> CommandResult:
    """Apply the fields present in ``changes`` (absent fields stay as they are); a new
    ``client_id`` is linked too, and the one it replaces (or a cleared one) unlinked."""
    command = command.in_organization(organization_id)
    ctx = command.ctx
    client_id = changes.get("client_id")

    def decide(uow: UnitOfWork) -> Project:
        project, _ = project_access(uow, ctx, project_id, Permission.MANAGE_PROJECTS)
        old_key = normalized_name(project.name)
        client: Client | None = None
        previous: Client | None = None
        if "client_id" in changes and client_id != project.client_id:
            client = _client(uow, client_id) if client_id is not None else None
            # None for a main client from before clients were linked (the project
            # decides whether there is a link to undo).
            previous = (uow.find(Client, project.client_id)
                        if project.client_id is not None else None)
        project.update(ctx.meta, client=client, previous_client=previous, **changes)
        new_key = normalized_name(project.name)
        if new_key != old_key:
            # Both claims change in this one append: the old name is free exactly
            # when the new one is taken, never before and never without it.
            scope = name_scope(project.organization_id)
            release_claim(uow, ctx, scope, old_key, project.id)
            take_claim(uow, ctx, scope, new_key, project.id, DUPLICATE_NAME, "name")
        return project

    return command.execute(decide)


def change_project_status(
    command: Command, organization_id: UUID, project_id: UUID, *,
    status: ProjectStatus,
) -> CommandResult:
    command = command.in_organization(organization_id)
    ctx = command.ctx

    def decide(uow: UnitOfWork) -> Project:
        project, _ = project_access(uow, ctx, project_id, Permission.MANAGE_PROJECTS)
        project.change_status(status, ctx.meta)
        return project

    return command.execute(decide)


def archive_project(command: Command, organization_id: UUID, project_id: UUID) -> CommandResult:
    """Archived projects stay listed (archived=true) under their name, so the name
    stays claimed: a new project cannot take it and make references ambiguous."""
    command = command.in_organization(organization_id)
    ctx = command.ctx

    def decide(uow: UnitOfWork) -> Project:
        project, _ = project_access(uow, ctx, project_id, Permission.MANAGE_PROJECTS)
        project.archive(ctx.meta)
        return project

    return command.execute(decide)


def _organization_role_of(uow: UnitOfWork, project: Project, user_id: UUID) -> Role:
    organization = uow.get(Organization, project.organization_id, "organization")
    role = organization.role_of(user_id)
    if role is None:
        raise NotFound("the user is not a member of this organization", field="user_id")
    return role


def add_project_member(
    command: Command, organization_id: UUID, project_id: UUID, *,
    user_id: UUID, role: ProjectRole,
) -> CommandResult:
    command = command.in_organization(organization_id)
    ctx = command.ctx

    def decide(uow: UnitOfWork) -> Project:
        project, _ = project_access(uow, ctx, project_id, Permission.MANAGE_PROJECTS)
        require_role_allowed(role, _organization_role_of(uow, project, user_id))
        project.add_member(user_id, role, ctx.meta)
        return project

    return command.execute(decide)


def change_project_member_role(
    command: Command, organization_id: UUID, project_id: UUID,
    user_id: UUID, *, role: ProjectRole,
) -> CommandResult:
    command = command.in_organization(organization_id)
    ctx = command.ctx

    def decide(uow: UnitOfWork) -> Project:
        project, _ = project_access(uow, ctx, project_id, Permission.MANAGE_PROJECTS)
        if not project.is_member(user_id):
            raise NotFound("no such project member", field="user_id")
        require_role_allowed(role, _organization_role_of(uow, project, user_id))
        project.change_member_role(user_id, role, ctx.meta)
        return project

    return command.execute(decide)


def remove_project_member(
    command: Command, organization_id: UUID, project_id: UUID, user_id: UUID,
) -> CommandResult:
    command = command.in_organization(organization_id)
    ctx = command.ctx

    def decide(uow: UnitOfWork) -> Project:
        project, _ = project_access(uow, ctx, project_id, Permission.MANAGE_PROJECTS)
        project.remove_member(user_id, ctx.meta)
        return project

    return command.execute(decide)


def link_client(
    command: Command, organization_id: UUID, project_id: UUID, *,
    client_id: UUID,
) -> CommandResult:
    command = command.in_organization(organization_id)
    ctx = command.ctx

    def decide(uow: UnitOfWork) -> Project:
        project, _ = project_access(uow, ctx, project_id, Permission.MANAGE_PROJECTS)
        project.link_client(_client(uow, client_id), ctx.meta)
        return project

    return command.execute(decide)


def unlink_client(
    command: Command, organization_id: UUID, project_id: UUID, client_id: UUID,
) -> CommandResult:
    command = command.in_organization(organization_id)
    ctx = command.ctx

    def decide(uow: UnitOfWork) -> Project:
        project, _ = project_access(uow, ctx, project_id, Permission.MANAGE_PROJECTS)
        client = uow.find(Client, client_id)
        if client is None:
            raise ClientNotLinked("the client is not linked to this project",
                                  field="client_id")
        project.unlink_client(client, ctx.meta)
        return project

    return command.execute(decide)
