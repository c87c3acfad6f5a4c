"""The assistant's commands: which content types an organization's search uses
(Organizers), its prompt templates (Organizers), and conversations (any member, each
their own). The answer to a question is made before the command (vistone/ai/assistant.py):
a model call must not run inside a unit of work that may be retried."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from domain.assistant import (
    ContentType,
    Conversation,
    PromptTemplate,
    SearchAccess,
)
from domain.base import Forbidden, NotFound
from domain.organization import Organization
from domain.roles import Permission, Role
from vistone.app import Command, CommandResult, UnitOfWork, Vistone
from vistone.commands.access import authorize, member_role, require_actor


def set_search_content_type(command: Command, organization_id: UUID,
                            content_type: ContentType, enabled: bool) -> CommandResult:
    command = command.in_organization(organization_id)
    ctx = command.ctx

    def decide(uow: UnitOfWork) -> SearchAccess:
        authorize(uow, ctx, organization_id, Permission.MANAGE_ORGANIZATION)
        access = uow.find(SearchAccess, SearchAccess.id_for(organization_id))
        if access is None:
            access = uow.add(SearchAccess.open(organization_id, ctx.meta))
        access.set_enabled(content_type, enabled, ctx.meta)
        return access

    return command.execute(decide)


def save_prompt_template(command: Command, organization_id: UUID, name: str, *,
                         category: str, template: str, active: bool) -> CommandResult:
    """Create the template ``name`` or revise it (its id derives from the name, so two
    concurrent creations of one name conflict instead of making two)."""
    command = command.in_organization(organization_id)
    ctx = command.ctx

    def decide(uow: UnitOfWork) -> PromptTemplate:
        authorize(uow, ctx, organization_id, Permission.MANAGE_ORGANIZATION)
        created = PromptTemplate.create(organization_id, name, category, template, active,
                                        ctx.meta)
        existing = uow.find(PromptTemplate, created.id)
        if existing is None:
            return uow.add(created)
        existing.revise(category, template, active, ctx.meta)
        return existing

    return command.execute(decide)


def start_conversation(command: Command, organization_id: UUID,
                       title: str | None) -> CommandResult:
    command = command.in_organization(organization_id)
    ctx = command.ctx
    user = require_actor(ctx)

    def decide(uow: UnitOfWork) -> Conversation:
        _, role = member_role(uow, ctx, organization_id)
        _not_a_client(role)
        return uow.add(Conversation.start(organization_id, user, title, ctx.meta))

    return command.execute(decide)


def record_exchange(command: Command, organization_id: UUID, conversation_id: UUID, *,
                    question: str, answer: str, citations: list[dict[str, Any]], mode: str,
                    model: str, prompt_tokens: int, completion_tokens: int,
                    template: str) -> CommandResult:
    command = command.in_organization(organization_id)
    ctx = command.ctx
    user = require_actor(ctx)

    def decide(uow: UnitOfWork) -> Conversation:
        _, role = member_role(uow, ctx, organization_id)
        _not_a_client(role)
        conversation = uow.find(Conversation, conversation_id)
        if conversation is None or conversation.organization_id != organization_id \
                or conversation.person_id != user:
            raise NotFound(f"conversation {conversation_id} not found")
        conversation.record_exchange(question, answer, citations, mode, model,
                                     prompt_tokens, completion_tokens, template, ctx.meta)
        return conversation

    return command.execute(decide)


def require_own_conversation(app: Vistone, organization_id: UUID, conversation_id: UUID,
                             user_id: UUID) -> Role:
    """Before any model is asked: the caller is a member of the live organization and
    the conversation is theirs (else 404, as for anything out of reach). Read from the
    log, the authority a command uses, so a question asked right after joining or
    starting is not refused by a read model that has not caught up. Returns the
    caller's role."""
    organization = _find(app, organization_id)
    role = organization.role_of(user_id) \
        if isinstance(organization, Organization) and not organization.deleted else None
    if role is None:
        raise NotFound(f"organization {organization_id} not found")
    _not_a_client(role)
    conversation = _find(app, conversation_id)
    if not isinstance(conversation, Conversation) \
            or conversation.organization_id != organization_id \
            or conversation.person_id != user_id:
        raise NotFound(f"conversation {conversation_id} not found")
    return role


def _not_a_client(role: Role) -> None:
    """The Client role reads its portal and writes nothing but feedback and proposal
    answers (docs/permissions.md): a conversation is a write, and its answers would
    outlive the portal's scope."""
    if role is Role.CLIENT:
        raise Forbidden("the Client role does not use the assistant; search reads the "
                        "portal's projects")


def _find(app: Vistone, aggregate_id: UUID) -> Any:
    try:
        return app.repository.get(aggregate_id)
    except AggregateNotFoundError:
        return None


def recorded_answer(app: Vistone, conversation_id: UUID, version: int) -> dict[str, Any]:
    """The answer stored at ``version`` (a replayed Idempotency-Key gets the answer it
    got the first time, not a new one)."""
    for event in app.repository.event_store.get(conversation_id, gt=version - 1,
                                                lte=version):
        if isinstance(event, Conversation.Answered):  # type: ignore[attr-defined]
            return {"answer": event.answer, "citations": event.citations, "mode": event.mode,
                    "model": event.model, "template": event.template,
                    "tokens": {"prompt": event.prompt_tokens,
                               "completion": event.completion_tokens}}
    raise NotFound(f"conversation {conversation_id} has no answer at version {version}")
