"""Proposals an organization makes to its clients (lifecycle in ``domain/proposal.py``).

Organizers and Managers create, edit, send and withdraw them. The client decides: its
portal user, or an Organizer or Manager on its behalf, accepts or rejects a sent one. A
portal user never reaches a proposal that was not sent (404), as on the read side.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from domain.base import CommandContext, NotFound
from domain.project import ClientNotLinked, Project
from domain.proposal import Proposal, validate_amount, validate_content, validate_title
from domain.roles import Permission, Role
from vistone.app import Command, CommandResult, UnitOfWork
from vistone.commands.access import authorize
from vistone.commands.clients import acting_for_client, client_of


def project_of_client(uow: UnitOfWork, organization_id: UUID, client_id: UUID,
                      project_id: UUID) -> Project:
    """A project of the organization that is linked to the client."""
    project = uow.find(Project, project_id)
    if project is None or project.organization_id != organization_id:
        raise NotFound(f"project {project_id} not found", field="project_id")
    if not project.has_client(client_id):
        raise ClientNotLinked(f"project {project_id} is not linked to client {client_id}",
                              field="project_id")
    return project


def create_proposal(
    command: Command, organization_id: UUID, client_id: UUID, *, title: str,
    content: str | None = None, amount: Decimal | None = None,
    project_id: UUID | None = None,
) -> CommandResult:
    command = command.in_organization(organization_id)
    ctx = command.ctx
    proposal_id = uuid4()
    title = validate_title(title)
    content = validate_content(content)
    amount = validate_amount(amount)

    def decide(uow: UnitOfWork) -> Proposal:
        authorize(uow, ctx, organization_id, Permission.MANAGE_CLIENTS)
        client = client_of(uow, organization_id, client_id)
        # Recorded on the client: a concurrent archive conflicts with it.
        client.open_proposal(proposal_id, ctx.meta)
        if project_id is not None:
            project_of_client(uow, organization_id, client_id, project_id)
        return uow.add(Proposal.create(
            id=proposal_id, organization_id=organization_id, client_id=client_id,
            title=title, meta=ctx.meta, project_id=project_id, content=content,
            amount=amount))

    return command.execute(decide)


def _proposal_of(uow: UnitOfWork, organization_id: UUID, proposal_id: UUID) -> Proposal:
    proposal = uow.find(Proposal, proposal_id)
    if proposal is None or proposal.organization_id != organization_id:
        raise NotFound(f"proposal {proposal_id} not found")
    return proposal


def _managed(uow: UnitOfWork, ctx: CommandContext, organization_id: UUID,
             proposal_id: UUID) -> Proposal:
    """A proposal an Organizer or Manager changes."""
    authorize(uow, ctx, organization_id, Permission.MANAGE_CLIENTS)
    return _proposal_of(uow, organization_id, proposal_id)


def _decided_by_client(uow: UnitOfWork, ctx: CommandContext, organization_id: UUID,
                       proposal_id: UUID) -> Proposal:
    """A proposal the client decides on: its portal user sees only sent ones."""
    proposal = _proposal_of(uow, organization_id, proposal_id)
    _, role = acting_for_client(uow, ctx, organization_id, proposal.client_id)
    if role is Role.CLIENT and not proposal.visible_to_client:
        raise NotFound(f"proposal {proposal_id} not found")
    return proposal


def update_proposal(
    command: Command, organization_id: UUID, proposal_id: UUID, *, changes: dict[str, Any],
) -> CommandResult:
    """Change title, content and/or amount (only the keys in ``changes``) of a draft."""
    command = command.in_organization(organization_id)
    ctx = command.ctx

    def decide(uow: UnitOfWork) -> Proposal:
        proposal = _managed(uow, ctx, organization_id, proposal_id)
        proposal.update(ctx.meta, **changes)
        return proposal

    return command.execute(decide)


def send_proposal(command: Command, organization_id: UUID, proposal_id: UUID) -> CommandResult:
    command = command.in_organization(organization_id)
    ctx = command.ctx

    def decide(uow: UnitOfWork) -> Proposal:
        proposal = _managed(uow, ctx, organization_id, proposal_id)
        # What is sent reaches the client: not while it is archived (recorded on the
        # client, so a concurrent archive conflicts with it).
        client_of(uow, organization_id, proposal.client_id).send_proposal(proposal.id,
                                                                          ctx.meta)
        proposal.send(ctx.meta)
        return proposal

    return command.execute(decide)


def withdraw_proposal(command: Command, organization_id: UUID,
                      proposal_id: UUID) -> CommandResult:
    command = command.in_organization(organization_id)
    ctx = command.ctx

    def decide(uow: UnitOfWork) -> Proposal:
        proposal = _managed(uow, ctx, organization_id, proposal_id)
        proposal.withdraw(ctx.meta)
        return proposal

    return command.execute(decide)


def accept_proposal(command: Command, organization_id: UUID,
                    proposal_id: UUID) -> CommandResult:
    command = command.in_organization(organization_id)
    ctx = command.ctx

    def decide(uow: UnitOfWork) -> Proposal:
        proposal = _decided_by_client(uow, ctx, organization_id, proposal_id)
        proposal.accept(ctx.meta)
        return proposal

    return command.execute(decide)


def reject_proposal(command: Command, organization_id: UUID, proposal_id: UUID, *,
                    reason: str | None = None) -> CommandResult:
    command = command.in_organization(organization_id)
    ctx = command.ctx

    def decide(uow: UnitOfWork) -> Proposal:
        proposal = _decided_by_client(uow, ctx, organization_id, proposal_id)
        proposal.reject(ctx.meta, reason=reason)
        return proposal

    return command.execute(decide)
