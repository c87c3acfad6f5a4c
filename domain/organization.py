"""Organization: a tenant with a unique slug, settings, and members holding one role each."""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.base import InvalidValue, NotFound, RuleViolation, require_text
from domain.roles import Role
from domain.values import json_size, strict_json

SLUG_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])$")
MAX_SETTINGS_BYTES = 16_384


def validate_slug(slug: str) -> str:
    if not isinstance(slug, str) or not SLUG_PATTERN.fullmatch(slug) or "--" in slug:
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
    @event("Created")
    def __init__(
        self, id: UUID, name: str, slug: str, founder_id: UUID, meta: dict
    ) -> None:
        self.name = name
        self.slug = slug
        self.settings: dict[str, Any] = {}
        # str keys and role values: the state must survive a JSON snapshot unchanged.
        self.members: dict[str, str] = {str(founder_id): Role.ORGANIZER.value}
        self.deleted = False

    @staticmethod
    def validate_name(name: str) -> str:
        return require_text(name, "name", max_length=200)

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

    def add_member(self, user_id: UUID, role: Role, meta: dict) -> None:
        self._require_live()
        if str(user_id) in self.members:
            raise RuleViolation("the user is already a member", field="user_id")
        self._member_added(user_id=user_id, role=role.value, meta=meta)

    @event("MemberAdded")
    def _member_added(self, user_id: UUID, role: str, meta: dict) -> None:
        self.members[str(user_id)] = role

    def change_role(self, user_id: UUID, role: Role, meta: dict) -> None:
        self._require_live()
        current = self._member_role(user_id)
        if current is role:
            return
        if current is Role.ORGANIZER and self._organizers() == {str(user_id)}:
            raise LastOrganizer("the last Organizer cannot be demoted")
        self._role_changed(user_id=user_id, role=role.value, meta=meta)

    @event("RoleChanged")
    def _role_changed(self, user_id: UUID, role: str, meta: dict) -> None:
        self.members[str(user_id)] = role

    def remove_member(self, user_id: UUID, meta: dict) -> None:
        self._require_live()
        if self._member_role(user_id) is Role.ORGANIZER and self._organizers() == {str(user_id)}:
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
