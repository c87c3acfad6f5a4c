"""Who may act in an organization: the one place commands check the role matrix."""

from __future__ import annotations

from uuid import UUID

from domain.base import CommandContext, Forbidden, NotFound
from domain.organization import Organization
from domain.roles import Permission, Role, require
from vistone.app import UnitOfWork


def member_role(uow: UnitOfWork, ctx: CommandContext, organization_id: UUID) -> tuple[Organization, Role]:
    """The organization and the actor's role in it. A non-member is told the
    organization does not exist (404, never 403): tenants cannot probe each other."""
    organization = uow.find(Organization, organization_id)
    if organization is None or organization.deleted_at is not None or ctx.actor_id is None:
        raise NotFound(f"organization {organization_id} not found")
    role = organization.role_of(ctx.actor_id)
    if role is None:
        raise NotFound(f"organization {organization_id} not found")
    return organization, role


def authorize(
    uow: UnitOfWork, ctx: CommandContext, organization_id: UUID, permission: Permission
) -> tuple[Organization, Role]:
    organization, role = member_role(uow, ctx, organization_id)
    require(role, permission)
    return organization, role


def require_actor(ctx: CommandContext) -> UUID:
    if ctx.actor_id is None:
        raise Forbidden("this command needs an authenticated user")
    return ctx.actor_id
