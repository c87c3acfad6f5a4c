"""Organization roles (seed: Organizer, Manager, Contributor, Client) and the one
permission matrix every command and query is checked against."""

from __future__ import annotations

from enum import StrEnum

from domain.base import Forbidden


class Role(StrEnum):
    ORGANIZER = "Organizer"  # internal: full access, creates projects and teams
    MANAGER = "Manager"  # internal: manages teams, contributors and projects
    CONTRIBUTOR = "Contributor"  # internal: works on assigned tasks
    CLIENT = "Client"  # external: read-only portal on linked projects


class Permission(StrEnum):
    MANAGE_ORGANIZATION = "organization:manage"  # rename, settings, delete
    MANAGE_MEMBERS = "members:manage"
    MANAGE_PROJECTS = "projects:manage"  # create, update, archive, project members
    # clients, their portal users and proposals; responding to feedback
    MANAGE_CLIENTS = "clients:manage"
    WRITE_WORK = "work:write"  # tasks, checklists, dependencies, time, messages
    READ = "read"


PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ORGANIZER: frozenset(Permission),
    Role.MANAGER: frozenset(
        {Permission.MANAGE_MEMBERS, Permission.MANAGE_PROJECTS, Permission.MANAGE_CLIENTS,
         Permission.WRITE_WORK, Permission.READ}
    ),
    Role.CONTRIBUTOR: frozenset({Permission.WRITE_WORK, Permission.READ}),
    Role.CLIENT: frozenset({Permission.READ}),
}

# Roles that see every project of their organization; the others see only the
# projects they are members of.
SEES_ALL_PROJECTS = frozenset({Role.ORGANIZER, Role.MANAGER})


def can(role: Role, permission: Permission) -> bool:
    return permission in PERMISSIONS[role]


def require(role: Role, permission: Permission) -> None:
    if not can(role, permission):
        raise Forbidden(f"the {role.value} role may not do this ({permission.value})")


def parse_role(value: str, field_name: str = "role") -> Role:
    from domain.base import InvalidValue

    for role in Role:
        if value == role.value or value.lower() == role.value.lower():
            return role
    allowed = ", ".join(r.value for r in Role)
    raise InvalidValue(f"{field_name} must be one of {allowed}", field=field_name)
