"""Project: work for (optionally) a client inside one organization.

Status lifecycle (illegal transitions raise IllegalTransition):

    PLANNED ──► ACTIVE ──► COMPLETED
       │          │  ▲          │
       │          ▼  │          │ (reopen)
       │        ON_HOLD         ▼
       │          │          ACTIVE
       ▼          ▼
    CANCELLED ◄───┘   (PLANNED, ACTIVE and ON_HOLD can all be cancelled; CANCELLED is final)

Archiving is separate from status: an archived project is read-only.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.base import InvalidValue, NotFound, RuleViolation, optional_text, require_text
from domain.roles import Role
from domain.values import money as money_amount


class ProjectStatus(StrEnum):
    PLANNED = "PLANNED"
    ACTIVE = "ACTIVE"
    ON_HOLD = "ON_HOLD"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"


TRANSITIONS: dict[ProjectStatus, frozenset[ProjectStatus]] = {
    ProjectStatus.PLANNED: frozenset({ProjectStatus.ACTIVE, ProjectStatus.CANCELLED}),
    ProjectStatus.ACTIVE: frozenset(
        {ProjectStatus.ON_HOLD, ProjectStatus.COMPLETED, ProjectStatus.CANCELLED}
    ),
    ProjectStatus.ON_HOLD: frozenset({ProjectStatus.ACTIVE, ProjectStatus.CANCELLED}),
    ProjectStatus.COMPLETED: frozenset({ProjectStatus.ACTIVE}),
    ProjectStatus.CANCELLED: frozenset(),
}


class ProjectRole(StrEnum):
    LEAD = "Lead"  # runs the project day to day
    MEMBER = "Member"  # works on its tasks
    VIEWER = "Viewer"  # reads only (clients get this)


class IllegalTransition(RuleViolation):
    code = "illegal-transition"


class ProjectArchived(RuleViolation):
    code = "project-archived"


class ClientMustBeViewer(RuleViolation):
    code = "client-must-be-viewer"


def require_role_allowed(role: ProjectRole, organization_role: Role) -> None:
    """Clients are external: their portal is read-only, so on a project they only view."""
    if organization_role is Role.CLIENT and role is not ProjectRole.VIEWER:
        raise ClientMustBeViewer(
            "an organization Client can only be a project Viewer", field="role"
        )


def parse_enum(enum: type[StrEnum], value: str, field_name: str) -> Any:
    for member in enum:
        if isinstance(value, str) and value.lower() == member.value.lower():
            return member
    allowed = ", ".join(m.value for m in enum)
    raise InvalidValue(f"{field_name} must be one of {allowed}", field=field_name)


def validate_money(value: Decimal | None, field_name: str) -> Decimal | None:
    """0 to 999,999,999,999,999.99, at most 2 decimal places (domain/values.py)."""
    return money_amount(value, field_name)


def validate_progress(progress: int) -> int:
    if not isinstance(progress, int) or isinstance(progress, bool) or not 0 <= progress <= 100:
        raise InvalidValue("progress must be an integer from 0 to 100", field="progress")
    return progress


def validate_dates(start: date | None, end: date | None) -> None:
    if start is not None and end is not None and end < start:
        raise InvalidValue("end_date must not be before start_date", field="end_date")


def normalized_name(name: str) -> str:
    """The key under which a project name is unique within its organization."""
    return " ".join(name.split()).lower()


class Project(Aggregate):
    @event("Created")
    def __init__(
        self,
        id: UUID,
        organization_id: UUID,
        name: str,
        description: str | None,
        client_id: UUID | None,
        start_date: date | None,
        end_date: date | None,
        budget: Decimal | None,
        creator_id: UUID,
        meta: dict,
    ) -> None:
        self.organization_id = organization_id
        self.name = name
        self.description = description
        self.client_id = client_id
        self.start_date = start_date
        self.end_date = end_date
        self.budget = budget
        self.spent_budget = Decimal(0)
        self.progress = 0
        self.status = ProjectStatus.PLANNED.value
        self.archived = False
        # str keys and role values keep the state JSON-snapshot safe.
        self.members: dict[str, str] = {str(creator_id): ProjectRole.LEAD.value}

    @classmethod
    def create(
        cls,
        id: UUID,
        organization_id: UUID,
        name: str,
        creator_id: UUID,
        meta: dict,
        description: str | None = None,
        client_id: UUID | None = None,
        start_date: date | None = None,
        end_date: date | None = None,
        budget: Decimal | None = None,
    ) -> Project:
        validate_dates(start_date, end_date)
        return cls(
            id=id,
            organization_id=organization_id,
            name=require_text(name, "name", max_length=200),
            description=optional_text(description, "description", max_length=10_000),
            client_id=client_id,
            start_date=start_date,
            end_date=end_date,
            budget=validate_money(budget, "budget"),
            creator_id=creator_id,
            meta=meta,
        )

    # --- state queries ----------------------------------------------------
    def role_of(self, user_id: UUID) -> ProjectRole | None:
        role = self.members.get(str(user_id))
        return ProjectRole(role) if role is not None else None

    def is_member(self, user_id: UUID) -> bool:
        return str(user_id) in self.members

    def require_writable(self) -> None:
        if self.archived:
            raise ProjectArchived("the project is archived and read-only")

    # --- commands ---------------------------------------------------------
    def update(self, meta: dict, **changes: Any) -> None:
        """Change any of name, description, client_id, start_date, end_date, budget,
        spent_budget, progress; only the fields given change."""
        self.require_writable()
        allowed = {"name", "description", "client_id", "start_date", "end_date", "budget",
                   "spent_budget", "progress"}
        unknown = set(changes) - allowed
        if unknown:
            raise InvalidValue(f"unknown field(s): {', '.join(sorted(unknown))}",
                               field=sorted(unknown)[0])
        if "name" in changes:
            changes["name"] = require_text(changes["name"], "name", max_length=200)
        if "description" in changes:
            changes["description"] = optional_text(changes["description"], "description",
                                                   max_length=10_000)
        for money in ("budget", "spent_budget"):
            if money in changes:
                if money == "spent_budget" and changes[money] is None:
                    raise InvalidValue("spent_budget must be a number", field=money)
                changes[money] = validate_money(changes[money], money)
        if "progress" in changes:
            changes["progress"] = validate_progress(changes["progress"])
        validate_dates(changes.get("start_date", self.start_date),
                       changes.get("end_date", self.end_date))
        changed = {k: v for k, v in changes.items() if getattr(self, k) != v}
        if changed:
            self._updated(changes=changed, meta=meta)

    @event("Updated")
    def _updated(self, changes: dict[str, Any], meta: dict) -> None:
        for key, value in changes.items():
            setattr(self, key, value)

    def change_status(self, status: ProjectStatus, meta: dict) -> None:
        self.require_writable()
        current = ProjectStatus(self.status)
        if status is current:
            return
        if status not in TRANSITIONS[current]:
            raise IllegalTransition(
                f"a {current.value} project cannot become {status.value}", field="status"
            )
        self._status_changed(status=status.value, meta=meta)

    @event("StatusChanged")
    def _status_changed(self, status: str, meta: dict) -> None:
        self.status = status

    def archive(self, meta: dict) -> None:
        if self.archived:
            return
        self._archived(meta=meta)

    @event("Archived")
    def _archived(self, meta: dict) -> None:
        self.archived = True

    def add_member(self, user_id: UUID, role: ProjectRole, meta: dict) -> None:
        self.require_writable()
        if self.is_member(user_id):
            raise RuleViolation("the user is already a project member", field="user_id")
        self._member_added(user_id=user_id, role=role.value, meta=meta)

    @event("MemberAdded")
    def _member_added(self, user_id: UUID, role: str, meta: dict) -> None:
        self.members[str(user_id)] = role

    def change_member_role(self, user_id: UUID, role: ProjectRole, meta: dict) -> None:
        self.require_writable()
        if not self.is_member(user_id):
            raise NotFound("no such project member", field="user_id")
        if self.role_of(user_id) is not role:
            self._member_role_changed(user_id=user_id, role=role.value, meta=meta)

    @event("MemberRoleChanged")
    def _member_role_changed(self, user_id: UUID, role: str, meta: dict) -> None:
        self.members[str(user_id)] = role

    def remove_member(self, user_id: UUID, meta: dict) -> None:
        self.require_writable()
        if not self.is_member(user_id):
            raise NotFound("no such project member", field="user_id")
        self._member_removed(user_id=user_id, meta=meta)

    @event("MemberRemoved")
    def _member_removed(self, user_id: UUID, meta: dict) -> None:
        del self.members[str(user_id)]
