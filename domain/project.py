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

Clients: a project links to clients of its own organization (at most ``MAX_CLIENTS``,
neither archived nor of another organization when linked). ``client_id``, the project's
own client, is always one of them: setting it links that client, unlinking it clears it,
and replacing or clearing it unlinks the previous one (its portal users lose the project;
link it again to keep it). Each link and unlink is recorded on the Client too, in the same
append (``Client.link_project``: the Client refuses it once archived, and a concurrent
archive conflicts with it; see domain/client.py).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.base import (
    AlreadyExists,
    InvalidValue,
    NotFound,
    RuleViolation,
    optional_text,
    require_text,
)
from domain.client import Client, ClientArchived
from domain.roles import Role
from domain.values import money as money_amount

MAX_NAME = 200
MAX_DESCRIPTION = 10_000
# A project is done for a handful of clients; the cap keeps the aggregate small.
MAX_CLIENTS = 50


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


# How every project starts: its status, and the role of the person who creates it.
INITIAL_STATUS = ProjectStatus.PLANNED
CREATOR_ROLE = ProjectRole.LEAD


class IllegalTransition(RuleViolation):
    code = "illegal-transition"


class ProjectArchived(RuleViolation):
    code = "project-archived"


class ClientMustBeViewer(RuleViolation):
    code = "client-must-be-viewer"


class DatesOutOfOrder(RuleViolation):
    """Each date is valid on its own; together they are not (a rule between two values,
    one of them possibly stored: a conflict, not a malformed field)."""

    code = "dates-out-of-order"


class ClientAlreadyLinked(AlreadyExists):
    code = "client-already-linked"


class ClientNotLinked(NotFound):
    code = "client-not-linked"


class ProjectClientsFull(RuleViolation):
    code = "project-clients-full"


def require_role_allowed(role: ProjectRole, organization_role: Role) -> None:
    """Clients are external: their portal is read-only, so on a project they only view."""
    if organization_role is Role.CLIENT and role is not ProjectRole.VIEWER:
        raise ClientMustBeViewer(
            "an organization Client can only be a project Viewer", field="role"
        )


def validate_money(value: Decimal | None, field_name: str) -> Decimal | None:
    """0 to 999,999,999,999,999.99, at most 2 decimal places (domain/values.py)."""
    return money_amount(value, field_name)


def validate_progress(progress: int) -> int:
    if not isinstance(progress, int) or isinstance(progress, bool) or not 0 <= progress <= 100:
        raise InvalidValue("progress must be an integer from 0 to 100", field="progress")
    return progress


def validate_dates(start: date | None, end: date | None) -> None:
    if start is not None and end is not None and end < start:
        raise DatesOutOfOrder("end_date must not be before start_date", field="end_date")


def normalized_name(name: str) -> str:
    """The key under which a project name is unique within its organization."""
    return " ".join(name.split()).lower()


def validate_name(name: str) -> str:
    return require_text(name, "name", max_length=MAX_NAME)


def validate_description(description: str | None) -> str | None:
    return optional_text(description, "description", max_length=MAX_DESCRIPTION)


def require_linkable(client: Client, organization_id: UUID) -> None:
    """A project links only to a live client of its own organization; one of another
    organization is not found, as if it did not exist (tenants cannot probe)."""
    if client.organization_id != organization_id:
        raise NotFound(f"client {client.id} not found", field="client_id")
    if client.archived:
        raise ClientArchived("the client is archived: restore it before linking it",
                             field="client_id")


class Project(Aggregate):
    # Version 2 of the state (snapshots) holds the linked clients.
    class_version = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        # Snapshots taken before clients could be linked: none was.
        state["client_ids"] = []

    class Created(Aggregate.Created):
        """Everything a reader needs about the new project, its initial status, its
        creator's role, spent budget and progress included (from version 2)."""

        organization_id: UUID
        name: str
        description: str | None
        client_id: UUID | None
        start_date: date | None
        end_date: date | None
        budget: Decimal | None
        creator_id: UUID
        meta: dict
        status: str
        creator_role: str
        spent_budget: Decimal
        progress: int

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            # What every project started with before the event said so.
            state.update(status=ProjectStatus.PLANNED.value,
                         creator_role=ProjectRole.LEAD.value,
                         spent_budget=Decimal(0), progress=0)

    @event(Created)
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
        status: str,
        creator_role: str,
        spent_budget: Decimal,
        progress: int,
    ) -> None:
        self.organization_id = organization_id
        self.name = name
        self.description = description
        self.client_id = client_id
        self.start_date = start_date
        self.end_date = end_date
        self.budget = budget
        self.spent_budget = spent_budget
        self.progress = progress
        self.status = status
        self.archived = False
        # str keys and role values keep the state JSON-snapshot safe.
        self.members: dict[str, str] = {str(creator_id): creator_role}
        # Linked clients (str ids, in link order); ClientLinked adds them.
        self.client_ids: list[str] = []

    @classmethod
    def create(
        cls,
        id: UUID,
        organization_id: UUID,
        name: str,
        creator_id: UUID,
        meta: dict,
        description: str | None = None,
        client: Client | None = None,
        start_date: date | None = None,
        end_date: date | None = None,
        budget: Decimal | None = None,
    ) -> Project:
        """A new project; ``client`` (loaded by the command) becomes its ``client_id``
        and is linked."""
        validate_dates(start_date, end_date)
        if client is not None:
            require_linkable(client, organization_id)
        project = cls(
            id=id,
            organization_id=organization_id,
            name=validate_name(name),
            description=validate_description(description),
            client_id=client.id if client is not None else None,
            start_date=start_date,
            end_date=end_date,
            budget=validate_money(budget, "budget"),
            creator_id=creator_id,
            meta=meta,
            status=INITIAL_STATUS.value,
            creator_role=CREATOR_ROLE.value,
            spent_budget=Decimal(0),
            progress=0,
        )
        if client is not None:
            project._client_linked(client_id=client.id, meta=meta)
            client.link_project(project.id, meta)
        return project

    # --- state queries ----------------------------------------------------
    def role_of(self, user_id: UUID) -> ProjectRole | None:
        role = self.members.get(str(user_id))
        return ProjectRole(role) if role is not None else None

    def is_member(self, user_id: UUID) -> bool:
        return str(user_id) in self.members

    def require_writable(self) -> None:
        if self.archived:
            raise ProjectArchived("the project is archived and read-only")

    def has_client(self, client_id: UUID) -> bool:
        return str(client_id) in self.client_ids

    # --- commands ---------------------------------------------------------
    def update(self, meta: dict, client: Client | None = None,
               previous_client: Client | None = None, **changes: Any) -> None:
        """Change any of name, description, client_id, start_date, end_date, budget,
        spent_budget, progress; only the fields given change. A new ``client_id`` must be
        the id of ``client`` (loaded by the command), which is linked too; a replaced or
        cleared one, ``previous_client`` (loaded by the command), is unlinked."""
        self.require_writable()
        allowed = {"name", "description", "client_id", "start_date", "end_date", "budget",
                   "spent_budget", "progress"}
        unknown = set(changes) - allowed
        if unknown:
            raise InvalidValue(f"unknown field(s): {', '.join(sorted(unknown))}",
                               field=sorted(unknown)[0])
        if "name" in changes:
            changes["name"] = validate_name(changes["name"])
        if "description" in changes:
            changes["description"] = validate_description(changes["description"])
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
        old_client, new_client = self.client_id, changed.get("client_id")
        joining: Client | None = None  # a client this change links
        leaving: Client | None = None  # and one it unlinks
        if new_client is not None:
            if client is None or client.id != new_client:
                raise NotFound(f"client {new_client} not found", field="client_id")
            require_linkable(client, self.organization_id)
            joining = None if self.has_client(new_client) else client
        # A main client from before clients were linked may not be linked (nor exist).
        if "client_id" in changed and old_client is not None and self.has_client(old_client):
            if previous_client is None or previous_client.id != old_client:
                raise ValueError("the project's previous client must be given to unlink it")
            leaving = previous_client
        if joining is not None:
            self._require_room_for_a_client(freed=0 if leaving is None else 1)
        if changed:
            self._updated(changes=changed, meta=meta)
        if leaving is not None:
            self._client_unlinked(client_id=leaving.id, meta=meta)
            leaving.unlink_project(self.id, meta)
        if joining is not None:
            self._client_linked(client_id=joining.id, meta=meta)
            joining.link_project(self.id, meta)

    @event("Updated")
    def _updated(self, changes: dict[str, Any], meta: dict) -> None:
        for key, value in changes.items():
            setattr(self, key, value)

    def link_client(self, client: Client, meta: dict) -> None:
        self.require_writable()
        require_linkable(client, self.organization_id)
        if self.has_client(client.id):
            raise ClientAlreadyLinked("the client is already linked to this project",
                                      field="client_id")
        self._require_room_for_a_client()
        self._client_linked(client_id=client.id, meta=meta)
        client.link_project(self.id, meta)

    def _require_room_for_a_client(self, freed: int = 0) -> None:
        """``freed``: links this same change removes first."""
        if len(self.client_ids) - freed >= MAX_CLIENTS:
            raise ProjectClientsFull(f"a project links to at most {MAX_CLIENTS} clients",
                                     field="client_id")

    @event("ClientLinked")
    def _client_linked(self, client_id: UUID, meta: dict) -> None:
        self.client_ids.append(str(client_id))

    def unlink_client(self, client: Client, meta: dict) -> None:
        """Unlink a client (allowed even when it is archived); if it is the project's
        ``client_id``, that is cleared first (the project's own client is always a linked
        one)."""
        self.require_writable()
        if not self.has_client(client.id):
            raise ClientNotLinked("the client is not linked to this project",
                                  field="client_id")
        if self.client_id == client.id:
            self._updated(changes={"client_id": None}, meta=meta)
        self._client_unlinked(client_id=client.id, meta=meta)
        client.unlink_project(self.id, meta)

    @event("ClientUnlinked")
    def _client_unlinked(self, client_id: UUID, meta: dict) -> None:
        self.client_ids.remove(str(client_id))

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
