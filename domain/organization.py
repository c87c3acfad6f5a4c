"""Organization: a tenant with a unique slug, settings, and members holding one role each."""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.base import Forbidden, InvalidValue, NotFound, RuleViolation, require_text
from domain.roles import Role
from domain.values import json_size, strict_json

MAX_NAME = 200
MIN_SLUG, MAX_SLUG = 3, 63
# Runs of lowercase letters and digits joined by single hyphens.
SLUG = r"[a-z0-9]+(?:-[a-z0-9]+)*"
SLUG_PATTERN = re.compile(SLUG)
MAX_SETTINGS_BYTES = 16_384


def validate_slug(slug: str) -> str:
    if not isinstance(slug, str) or not MIN_SLUG <= len(slug) <= MAX_SLUG \
            or not SLUG_PATTERN.fullmatch(slug):
        raise InvalidValue(
            "slug must be 3-63 lowercase letters, digits or single hyphens, "
            "starting and ending with a letter or digit",
            field="slug",
        )
    return slug


def validate_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """Strict JSON (domain/values.py) of at most MAX_SETTINGS_BYTES as stored."""
    if not isinstance(settings, dict):
        raise InvalidValue("settings must be an object", field="settings")
    strict_json(settings, "settings")
    if json_size(settings) > MAX_SETTINGS_BYTES:
        raise InvalidValue(f"settings exceed {MAX_SETTINGS_BYTES} bytes", field="settings")
    return settings


class OrganizationDeleted(RuleViolation):
    code = "organization-deleted"


class LastOrganizer(RuleViolation):
    code = "last-organizer"


class Organization(Aggregate):
    # Whoever creates an organization is its first Organizer.
    FOUNDER_ROLE = Role.ORGANIZER

    class Created(Aggregate.Created):
        """The organization as it starts: the founder's role and the settings travel in
        the event, so readers of the log never assume the domain's defaults."""

        name: str
        slug: str
        founder_id: UUID
        founder_role: str
        settings: dict[str, Any]
        meta: dict

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            # Version 1 left them out: every organization then started this way.
            state["founder_role"] = Role.ORGANIZER.value
            state["settings"] = {}

    @event(Created)
    def __init__(self, id: UUID, name: str, slug: str, founder_id: UUID, founder_role: str,
                 settings: dict[str, Any], meta: dict) -> None:
        self.name = name
        self.slug = slug
        self.settings = settings
        # str keys and role values: the state must survive a JSON snapshot unchanged.
        self.members: dict[str, str] = {str(founder_id): founder_role}
        self.deleted = False

    @classmethod
    def create(cls, id: UUID, name: str, slug: str, founder_id: UUID,
               meta: dict) -> Organization:
        return cls(id=id, name=cls.validate_name(name), slug=validate_slug(slug),
                   founder_id=founder_id, founder_role=cls.FOUNDER_ROLE.value, settings={},
                   meta=meta)

    @staticmethod
    def validate_name(name: str) -> str:
        return require_text(name, "name", max_length=MAX_NAME)

    # --- queries on state -------------------------------------------------
    def role_of(self, user_id: UUID) -> Role | None:
        role = self.members.get(str(user_id))
        return Role(role) if role is not None else None

    def _organizers(self) -> set[str]:
        return {uid for uid, role in self.members.items() if role == Role.ORGANIZER.value}

    def _require_live(self) -> None:
        if self.deleted:
            raise OrganizationDeleted("the organization has been deleted")

    # --- commands ---------------------------------------------------------
    def rename(self, name: str, meta: dict) -> None:
        self._require_live()
        name = self.validate_name(name)
        if name != self.name:
            self._renamed(name=name, meta=meta)

    @event("Renamed")
    def _renamed(self, name: str, meta: dict) -> None:
        self.name = name

    def change_slug(self, slug: str, meta: dict) -> None:
        self._require_live()
        slug = validate_slug(slug)
        if slug != self.slug:
            self._slug_changed(slug=slug, meta=meta)

    @event("SlugChanged")
    def _slug_changed(self, slug: str, meta: dict) -> None:
        self.slug = slug

    def update_settings(self, settings: dict[str, Any], meta: dict) -> None:
        self._require_live()
        self._settings_updated(settings=validate_settings(settings), meta=meta)

    @event("SettingsUpdated")
    def _settings_updated(self, settings: dict[str, Any], meta: dict) -> None:
        self.settings = settings

    def delete(self, meta: dict) -> None:
        self._require_live()
        self._deleted(meta=meta)

    @event("Deleted")
    def _deleted(self, meta: dict) -> None:
        self.deleted = True  # when: the event's timestamp, kept in the read model

    # --- members. The actor's role is given for the Organizer-only rules below; whether
    # a role may manage members at all is the role matrix's (domain/roles.py), which the
    # commands check.
    def add_member(self, user_id: UUID, role: Role, actor_role: Role, meta: dict) -> None:
        self._require_live()
        _only_organizers_grant_organizer(actor_role, role)
        if str(user_id) in self.members:
            raise RuleViolation("the user is already a member", field="user_id")
        self._member_added(user_id=user_id, role=role.value, meta=meta)

    @event("MemberAdded")
    def _member_added(self, user_id: UUID, role: str, meta: dict) -> None:
        self.members[str(user_id)] = role

    def change_role(self, user_id: UUID, role: Role, actor_role: Role, meta: dict) -> None:
        self._require_live()
        _only_organizers_grant_organizer(actor_role, role)
        current = self._member_role(user_id)
        _only_organizers_touch_organizers(actor_role, current)
        if current is role:
            return
        if current is Role.ORGANIZER and self._organizers() == {str(user_id)}:
            raise LastOrganizer("the last Organizer cannot be demoted")
        self._role_changed(user_id=user_id, role=role.value, meta=meta)

    @event("RoleChanged")
    def _role_changed(self, user_id: UUID, role: str, meta: dict) -> None:
        self.members[str(user_id)] = role

    def remove_member(self, user_id: UUID, actor_role: Role, meta: dict) -> None:
        self._require_live()
        current = self._member_role(user_id)
        _only_organizers_touch_organizers(actor_role, current)
        if current is Role.ORGANIZER and self._organizers() == {str(user_id)}:
            raise LastOrganizer("the last Organizer cannot be removed")
        self._member_removed(user_id=user_id, meta=meta)

    @event("MemberRemoved")
    def _member_removed(self, user_id: UUID, meta: dict) -> None:
        del self.members[str(user_id)]

    def _member_role(self, user_id: UUID) -> Role:
        role = self.role_of(user_id)
        if role is None:
            raise NotFound("no such member in this organization", field="user_id")
        return role


def _only_organizers_grant_organizer(actor_role: Role, role: Role) -> None:
    if role is Role.ORGANIZER and actor_role is not Role.ORGANIZER:
        raise Forbidden("only an Organizer can make someone an Organizer")


def _only_organizers_touch_organizers(actor_role: Role, target_role: Role) -> None:
    if target_role is Role.ORGANIZER and actor_role is not Role.ORGANIZER:
        raise Forbidden("only an Organizer can change or remove an Organizer")
