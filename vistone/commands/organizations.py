"""Organizations: creation with a unique slug, renaming, settings, soft delete, members."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from domain.base import AlreadyExists, CommandContext, NotFound
from domain.client import Client, portal_user_claim_id, portal_user_scope
from domain.organization import Organization, validate_slug
from domain.roles import Permission, Role
from domain.uniqueness import UniqueClaim, claim_id
from domain.user import User
from vistone.app import Command, CommandResult, UnitOfWork
from vistone.commands.access import authorize, require_actor
from vistone.commands.users import email_claim_id


def take_claim(uow: UnitOfWork, ctx: CommandContext, scope: str, key: str, owner_id: UUID,
               message: str, field: str) -> None:
    """Hold the unique ``key`` in ``scope`` for ``owner_id`` (saved with the command)."""
    claim = uow.find(UniqueClaim, claim_id(scope, key))
    try:
        if claim is None:
            uow.add(UniqueClaim(id=claim_id(scope, key), scope=scope, key=key,
                                owner_id=owner_id, meta=ctx.meta))
        else:
            claim.reclaim(owner_id, ctx.meta)
    except AlreadyExists:
        raise AlreadyExists(message, field=field) from None


def release_claim(uow: UnitOfWork, ctx: CommandContext, scope: str, key: str,
                  owner_id: UUID) -> None:
    claim = uow.find(UniqueClaim, claim_id(scope, key))
    if claim is not None:
        claim.release(owner_id, ctx.meta)


def unlink_from_portal(uow: UnitOfWork, ctx: CommandContext, organization_id: UUID,
                       user_id: UUID) -> None:
    """A person who no longer holds the Client role (removed, or given another role)
    leaves the client whose portal they used, in the same append: the link must not come
    back with the role, nor keep them from being linked to another client."""
    claim = uow.find(UniqueClaim, portal_user_claim_id(organization_id, user_id))
    if claim is None or claim.owner_id is None:
        return
    client = uow.get(Client, claim.owner_id, "client")
    client.unlink_portal_user(user_id, ctx.meta)  # linked: the claim is saved with the link
    release_claim(uow, ctx, portal_user_scope(organization_id), str(user_id), client.id)


def create_organization(command: Command, *, name: str, slug: str) -> CommandResult:
    founder = require_actor(command.ctx)
    organization_id = uuid4()
    slug = validate_slug(slug)  # the key of its claim
    command = command.in_organization(organization_id)
    ctx = command.ctx

    def decide(uow: UnitOfWork) -> Organization:
        uow.get(User, founder, "user")
        take_claim(uow, ctx, "organization-slug", slug, organization_id,
                   "an organization with this slug already exists", "slug")
        return uow.add(Organization.create(id=organization_id, name=name, slug=slug,
                                           founder_id=founder, meta=ctx.meta))

    return command.execute(decide)


def update_organization(
    command: Command, organization_id: UUID, *, name: str | None = None,
    slug: str | None = None, settings: dict[str, Any] | None = None,
) -> CommandResult:
    command = command.in_organization(organization_id)
    ctx = command.ctx

    def decide(uow: UnitOfWork) -> Organization:
        organization, _ = authorize(uow, ctx, organization_id, Permission.MANAGE_ORGANIZATION)
        if name is not None:
            organization.rename(name, ctx.meta)
        if slug is not None and validate_slug(slug) != organization.slug:
            release_claim(uow, ctx, "organization-slug", organization.slug, organization.id)
            take_claim(uow, ctx, "organization-slug", slug, organization.id,
                       "an organization with this slug already exists", "slug")
            organization.change_slug(slug, ctx.meta)
        if settings is not None:
            organization.update_settings(settings, ctx.meta)
        return organization

    return command.execute(decide)


def delete_organization(command: Command, organization_id: UUID) -> CommandResult:
    command = command.in_organization(organization_id)
    ctx = command.ctx

    def decide(uow: UnitOfWork) -> Organization:
        organization, _ = authorize(uow, ctx, organization_id, Permission.MANAGE_ORGANIZATION)
        organization.delete(ctx.meta)
        # The slug becomes free for a new organization; the old one stays in the log.
        release_claim(uow, ctx, "organization-slug", organization.slug, organization.id)
        return organization

    return command.execute(decide)


def resolve_user(uow: UnitOfWork, user_id: UUID | None, email: str | None) -> User:
    if user_id is not None:
        return uow.get(User, user_id, "user")
    if email is not None:
        claim = uow.find(UniqueClaim, email_claim_id(email))
        if claim is not None and claim.owner_id is not None:
            return uow.get(User, claim.owner_id, "user")
    raise NotFound("no user with this id or email", field="user_id" if user_id else "email")


def add_member(
    command: Command, organization_id: UUID, *, role: Role,
    user_id: UUID | None = None, email: str | None = None,
) -> CommandResult:
    command = command.in_organization(organization_id)
    ctx = command.ctx

    def decide(uow: UnitOfWork) -> Organization:
        organization, actor_role = authorize(uow, ctx, organization_id, Permission.MANAGE_MEMBERS)
        user = resolve_user(uow, user_id, email)
        organization.add_member(user.id, role, actor_role, ctx.meta)
        return organization

    return command.execute(decide)


def change_member_role(
    command: Command, organization_id: UUID, user_id: UUID, *, role: Role,
) -> CommandResult:
    command = command.in_organization(organization_id)
    ctx = command.ctx

    def decide(uow: UnitOfWork) -> Organization:
        organization, actor_role = authorize(uow, ctx, organization_id, Permission.MANAGE_MEMBERS)
        organization.change_role(user_id, role, actor_role, ctx.meta)
        if role != Role.CLIENT:
            unlink_from_portal(uow, ctx, organization_id, user_id)
        return organization

    return command.execute(decide)


def remove_member(command: Command, organization_id: UUID, user_id: UUID) -> CommandResult:
    command = command.in_organization(organization_id)
    ctx = command.ctx

    def decide(uow: UnitOfWork) -> Organization:
        organization, actor_role = authorize(uow, ctx, organization_id, Permission.MANAGE_MEMBERS)
        organization.remove_member(user_id, actor_role, ctx.meta)
        unlink_from_portal(uow, ctx, organization_id, user_id)
        return organization

    return command.execute(decide)

