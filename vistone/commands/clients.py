"""Clients of an organization: creation with a name unique in the organization, contact
details, portal access, archive, and the portal users linked to a client.

Both uniqueness rules are UniqueClaims saved in the same append as the client (see
``domain/client.py``): the client's name in the organization, and each portal user's link
(a user is linked to at most one client per organization). Two concurrent writers of one
claim both try to write the same claim version and exactly one wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID, uuid4

from domain.base import AlreadyExists, CommandContext, NotFound
from domain.client import (
    Client,
    PortalUserAlreadyLinked,
    client_name_scope,
    normalized_name,
    portal_user_scope,
    require_portal_role,
    validate_name,
)
from domain.roles import Permission, Role, require
from vistone.app import Command, CommandResult, UnitOfWork
from vistone.commands.access import authorize, member_role, require_actor
from vistone.commands.organizations import release_claim, take_claim

DUPLICATE_NAME = "a client with this name already exists in the organization"
LINKED_ELSEWHERE = ("the user is already linked to another client of this organization "
                    "(unlink them there first)")


def client_of(uow: UnitOfWork, organization_id: UUID, client_id: UUID,
              field: str | None = None) -> Client:
    """The organization's client; another organization's (or nothing) is not found."""
    client = uow.find(Client, client_id)
    if client is None or client.organization_id != organization_id:
        raise NotFound(f"client {client_id} not found", field=field)
    return client


def acting_for_client(uow: UnitOfWork, ctx: CommandContext, organization_id: UUID,
                      client_id: UUID) -> tuple[Client, Role]:
    """The client and the actor's role, when the actor may act as the client: a portal
    user of that client (organization role Client, linked, portal active), or an
    Organizer or Manager acting on its behalf. A Client member who is not this client's
    active portal user is told the client does not exist; a Contributor may not (403)."""
    actor = require_actor(ctx)
    _, role = member_role(uow, ctx, organization_id)
    if role is Role.CLIENT:
        client = client_of(uow, organization_id, client_id)
        if not client.portal_allows(actor):
            raise NotFound(f"client {client_id} not found")
        return client, role
    require(role, Permission.MANAGE_CLIENTS)
    return client_of(uow, organization_id, client_id), role


def create_client(
    command: Command, organization_id: UUID, *, name: str, email: str | None = None,
    phone: str | None = None, address: Mapping[str, Any] | None = None,
    portal_access: bool = False,
) -> CommandResult:
    command = command.in_organization(organization_id)
    ctx = command.ctx
    client_id = uuid4()
    name = validate_name(name)

    def decide(uow: UnitOfWork) -> Client:
        authorize(uow, ctx, organization_id, Permission.MANAGE_CLIENTS)
        client = Client.create(id=client_id, organization_id=organization_id, name=name,
                               meta=ctx.meta, email=email, phone=phone, address=address,
                               portal_access=portal_access)
        take_claim(uow, ctx, client_name_scope(organization_id), normalized_name(name),
                   client_id, DUPLICATE_NAME, "name")
        return uow.add(client)

    return command.execute(decide)


def update_client(
    command: Command, organization_id: UUID, client_id: UUID, *, changes: dict[str, Any],
) -> CommandResult:
    """Apply the fields present in ``changes`` (name, email, phone, address,
    portal_access); absent fields stay as they are."""
    command = command.in_organization(organization_id)
    ctx = command.ctx
    details = {k: v for k, v in changes.items() if k != "portal_access"}

    def decide(uow: UnitOfWork) -> Client:
        authorize(uow, ctx, organization_id, Permission.MANAGE_CLIENTS)
        client = client_of(uow, organization_id, client_id)
        old_key = normalized_name(client.name)
        client.update(ctx.meta, **details)
        if "portal_access" in changes:
            client.set_portal_access(changes["portal_access"], ctx.meta)
        new_key = normalized_name(client.name)
        if new_key != old_key:
            # The old name is free exactly when the new one is taken, in this one append.
            scope = client_name_scope(organization_id)
            release_claim(uow, ctx, scope, old_key, client.id)
            take_claim(uow, ctx, scope, new_key, client.id, DUPLICATE_NAME, "name")
        return client

    return command.execute(decide)


def archive_client(command: Command, organization_id: UUID, client_id: UUID) -> CommandResult:
    """The name stays claimed while archived: references must not become ambiguous."""
    command = command.in_organization(organization_id)
    ctx = command.ctx

    def decide(uow: UnitOfWork) -> Client:
        authorize(uow, ctx, organization_id, Permission.MANAGE_CLIENTS)
        client = client_of(uow, organization_id, client_id)
        client.archive(ctx.meta)
        return client

    return command.execute(decide)


def restore_client(command: Command, organization_id: UUID, client_id: UUID) -> CommandResult:
    command = command.in_organization(organization_id)
    ctx = command.ctx

    def decide(uow: UnitOfWork) -> Client:
        authorize(uow, ctx, organization_id, Permission.MANAGE_CLIENTS)
        client = client_of(uow, organization_id, client_id)
        client.restore(ctx.meta)
        return client

    return command.execute(decide)


def link_portal_user(
    command: Command, organization_id: UUID, client_id: UUID, *, user_id: UUID,
) -> CommandResult:
    """Link a member holding the Client role to the client (portal access must be on)."""
    command = command.in_organization(organization_id)
    ctx = command.ctx

    def decide(uow: UnitOfWork) -> Client:
        organization, _ = authorize(uow, ctx, organization_id, Permission.MANAGE_CLIENTS)
        client = client_of(uow, organization_id, client_id)
        role = organization.role_of(user_id)
        if role is None:
            raise NotFound("the user is not a member of this organization", field="user_id")
        require_portal_role(role)
        client.link_portal_user(user_id, ctx.meta)
        try:
            take_claim(uow, ctx, portal_user_scope(organization_id), str(user_id), client.id,
                       LINKED_ELSEWHERE, "user_id")
        except AlreadyExists as taken:
            # The claim's own error, under the portal's name for it.
            raise PortalUserAlreadyLinked(taken.message, field="user_id") from None
        return client

    return command.execute(decide)


def unlink_portal_user(
    command: Command, organization_id: UUID, client_id: UUID, user_id: UUID,
) -> CommandResult:
    """Allowed even on an archived client or a former member: it only takes access away."""
    command = command.in_organization(organization_id)
    ctx = command.ctx

    def decide(uow: UnitOfWork) -> Client:
        authorize(uow, ctx, organization_id, Permission.MANAGE_CLIENTS)
        client = client_of(uow, organization_id, client_id)
        client.unlink_portal_user(user_id, ctx.meta)
        release_claim(uow, ctx, portal_user_scope(organization_id), str(user_id), client.id)
        return client

    return command.execute(decide)
