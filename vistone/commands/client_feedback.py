"""Client feedback: the client's rating (1 to 5) and comment on a project linked to it
(or on the relationship as a whole), and the organization's response.

The client's portal user, or an Organizer or Manager on the client's behalf, gives it and
becomes its author; only the author edits it (the aggregate's rule), and only while they
may still act for the client; Organizers and Managers respond.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from domain.base import NotFound
from domain.client_feedback import ClientFeedback, validate_comment, validate_rating
from domain.roles import Permission
from vistone.app import Command, CommandResult, UnitOfWork
from vistone.commands.access import authorize, require_actor
from vistone.commands.clients import acting_for_client
from vistone.commands.proposals import project_of_client


def give_feedback(
    command: Command, organization_id: UUID, client_id: UUID, *, rating: int,
    comment: str | None = None, project_id: UUID | None = None,
) -> CommandResult:
    command = command.in_organization(organization_id)
    ctx = command.ctx
    author = require_actor(ctx)
    feedback_id = uuid4()
    rating = validate_rating(rating)
    comment = validate_comment(comment)

    def decide(uow: UnitOfWork) -> ClientFeedback:
        client, _ = acting_for_client(uow, ctx, organization_id, client_id)
        # Recorded on the client: a concurrent archive conflicts with it.
        client.receive_feedback(feedback_id, ctx.meta)
        if project_id is not None:
            project_of_client(uow, organization_id, client_id, project_id)
        return uow.add(ClientFeedback.create(
            id=feedback_id, organization_id=organization_id, client_id=client_id,
            project_id=project_id, author_id=author, rating=rating, meta=ctx.meta,
            comment=comment))

    return command.execute(decide)


def _feedback_of(uow: UnitOfWork, organization_id: UUID, feedback_id: UUID) -> ClientFeedback:
    feedback = uow.find(ClientFeedback, feedback_id)
    if feedback is None or feedback.organization_id != organization_id:
        raise NotFound(f"feedback {feedback_id} not found")
    return feedback


def edit_feedback(
    command: Command, organization_id: UUID, feedback_id: UUID, *, changes: dict[str, Any],
) -> CommandResult:
    """Change rating and/or comment (only the keys in ``changes``)."""
    command = command.in_organization(organization_id)
    ctx = command.ctx
    actor = require_actor(ctx)

    def decide(uow: UnitOfWork) -> ClientFeedback:
        feedback = _feedback_of(uow, organization_id, feedback_id)
        acting_for_client(uow, ctx, organization_id, feedback.client_id)
        feedback.edit(actor, ctx.meta, **changes)
        return feedback

    return command.execute(decide)


def respond_to_feedback(
    command: Command, organization_id: UUID, feedback_id: UUID, *, response: str,
) -> CommandResult:
    """Set or replace the organization's response."""
    command = command.in_organization(organization_id)
    ctx = command.ctx
    responder = require_actor(ctx)

    def decide(uow: UnitOfWork) -> ClientFeedback:
        authorize(uow, ctx, organization_id, Permission.MANAGE_CLIENTS)
        feedback = _feedback_of(uow, organization_id, feedback_id)
        feedback.respond(response, responder, ctx.meta)
        return feedback

    return command.execute(decide)
