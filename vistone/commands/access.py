"""Who may act in an organization: the one place commands check the role matrix."""

from __future__ import annotations

from uuid import UUID

from domain.base import CommandContext, Forbidden, NotFound
from domain.organization import Organization
from domain.project import Project, ProjectRole
from domain.roles import SEES_ALL_PROJECTS, Permission, Role, require
from vistone.app import UnitOfWork


def member_role(
    uow: UnitOfWork, ctx: CommandContext, organization_id: UUID
) -> tuple[Organization, Role]:
    """The organization and the actor's role in it. A non-member is told the
    organization does not exist (404, never 403): tenants cannot probe each other."""
    organization = uow.find(Organization, organization_id)
    if organization is None or organization.deleted or ctx.actor_id is None:
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


def project_access(
    uow: UnitOfWork, ctx: CommandContext, project_id: UUID, permission: Permission,
) -> tuple[Project, Role]:
    """The project and the actor's organization role, if the actor may do ``permission``
    on it. Organizers and Managers reach every project of their organization; others
    only the projects they are members of. Anything out of reach answers 404."""
    actor = require_actor(ctx)
    project = uow.find(Project, project_id)
    if project is None or (
        ctx.organization_id is not None and project.organization_id != ctx.organization_id
    ):
        raise NotFound(f"project {project_id} not found")
    _, role = member_role(uow, ctx, project.organization_id)
    if role not in SEES_ALL_PROJECTS and not project.is_member(actor):
        raise NotFound(f"project {project_id} not found")
    require(role, permission)
    if (permission is not Permission.READ and role not in SEES_ALL_PROJECTS
            and project.role_of(actor) is ProjectRole.VIEWER):
        raise Forbidden("project viewers cannot change the project's work")
    return project, role
