"""Proposal: an offer of work an organization makes to one of its clients.

Status lifecycle (``TRANSITIONS`` below; anything else raises IllegalProposalTransition,
including a transition to the current status):

    DRAFT ──send──► SENT ──accept──► ACCEPTED
      │              │  ──reject──► REJECTED
      │              └──withdraw─► WITHDRAWN
      └──withdraw──────────────────► WITHDRAWN

ACCEPTED, REJECTED and WITHDRAWN are final. Title, content and amount can be edited
only while DRAFT (ProposalNotEditable): what the client saw is what it decides on.

Who may do what (checked by the command handlers, not here: the methods take no role):

- Organizers and Managers create, edit, send and withdraw proposals;
- the client decides: its linked portal user (``Client.portal_allows``), or an
  Organizer/Manager recording the decision on the client's behalf, accepts or rejects
  a SENT proposal;
- the client sees a proposal only once it has been sent (``visible_to_client``): a
  draft, including one withdrawn before it was sent, stays internal.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.base import InvalidValue, RuleViolation, optional_text, require_text
from domain.values import money


class ProposalStatus(StrEnum):
    DRAFT = "DRAFT"
    SENT = "SENT"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    WITHDRAWN = "WITHDRAWN"


INITIAL_STATUS = ProposalStatus.DRAFT

TRANSITIONS: dict[ProposalStatus, frozenset[ProposalStatus]] = {
    ProposalStatus.DRAFT: frozenset({ProposalStatus.SENT, ProposalStatus.WITHDRAWN}),
    ProposalStatus.SENT: frozenset(
        {ProposalStatus.ACCEPTED, ProposalStatus.REJECTED, ProposalStatus.WITHDRAWN}
    ),
    ProposalStatus.ACCEPTED: frozenset(),
    ProposalStatus.REJECTED: frozenset(),
    ProposalStatus.WITHDRAWN: frozenset(),
}

MAX_TITLE = 200
MAX_CONTENT = 20_000
MAX_REASON = 2000
EDITABLE_FIELDS = frozenset({"title", "content", "amount"})


class IllegalProposalTransition(RuleViolation):
    code = "illegal-proposal-transition"

    # The usual (message, field=) signature, so the error copies and pickles like the
    # others; ``between`` builds it with from and to named.
    def __init__(self, message: str, *, field: str | None = "status",
                 from_status: ProposalStatus | None = None,
                 to_status: ProposalStatus | None = None) -> None:
        super().__init__(message, field=field)
        self.from_status = from_status
        self.to_status = to_status

    @classmethod
    def between(cls, from_status: ProposalStatus,
                to_status: ProposalStatus) -> IllegalProposalTransition:
        return cls(f"a {from_status.value} proposal cannot become {to_status.value}",
                   from_status=from_status, to_status=to_status)


class ProposalNotEditable(RuleViolation):
    code = "proposal-not-editable"


def require_transition(current: ProposalStatus, target: ProposalStatus) -> None:
    """Raise IllegalProposalTransition unless ``TRANSITIONS`` allows current → target."""
    if target not in TRANSITIONS[current]:
        raise IllegalProposalTransition.between(current, target)


def validate_title(title: Any) -> str:
    return require_text(title, "title", max_length=MAX_TITLE)


def validate_content(content: Any) -> str | None:
    return optional_text(content, "content", max_length=MAX_CONTENT)


def validate_amount(amount: Any) -> Decimal | None:
    """0 to 999,999,999,999,999.99, at most 2 decimal places (domain/values.py), as a
    project's budget."""
    return money(amount, "amount")


def validate_reason(reason: Any) -> str | None:
    return optional_text(reason, "reason", max_length=MAX_REASON)


_VALIDATORS = {"title": validate_title, "content": validate_content, "amount": validate_amount}


class Proposal(Aggregate):
    @event("Created")
    def __init__(
        self,
        id: UUID,
        organization_id: UUID,
        client_id: UUID,
        project_id: UUID | None,
        title: str,
        content: str | None,
        amount: Decimal | None,
        meta: dict,
        status: str = INITIAL_STATUS.value,
    ) -> None:
        self.organization_id = organization_id
        self.client_id = client_id
        self.project_id = project_id
        self.title = title
        self.content = content
        self.amount = amount
        # On the event, so consumers read the first status instead of assuming it.
        self.status = status
        self.rejection_reason: str | None = None
        # Stays true once sent, so a withdrawn proposal the client saw stays visible.
        self.was_sent = False

    @classmethod
    def create(
        cls,
        id: UUID,
        organization_id: UUID,
        client_id: UUID,
        title: str,
        meta: dict,
        project_id: UUID | None = None,
        content: str | None = None,
        amount: Decimal | None = None,
    ) -> Proposal:
        return cls(
            id=id,
            organization_id=organization_id,
            client_id=client_id,
            project_id=project_id,
            title=validate_title(title),
            content=validate_content(content),
            amount=validate_amount(amount),
            meta=meta,
            status=INITIAL_STATUS.value,
        )

    # --- state queries ----------------------------------------------------
    @property
    def current_status(self) -> ProposalStatus:
        return ProposalStatus(self.status)

    @property
    def visible_to_client(self) -> bool:
        return self.was_sent

    def _require(self, target: ProposalStatus) -> ProposalStatus:
        current = self.current_status
        require_transition(current, target)
        return current

    # --- commands ---------------------------------------------------------
    def update(self, meta: dict, **changes: Any) -> None:
        """Change any of title, content, amount (``None`` clears content or amount),
        only while DRAFT; only changed fields are recorded."""
        unknown = set(changes) - EDITABLE_FIELDS
        if unknown:
            raise InvalidValue(f"unknown field(s): {', '.join(sorted(unknown))}",
                               field=sorted(unknown)[0])
        if self.current_status is not ProposalStatus.DRAFT:
            raise ProposalNotEditable(
                f"a {self.status} proposal cannot be edited (only a DRAFT can)"
            )
        validated = {key: _VALIDATORS[key](value) for key, value in changes.items()}
        changed = {k: v for k, v in validated.items() if getattr(self, k) != v}
        if changed:
            self._updated(changes=changed, meta=meta)

    @event("Updated")
    def _updated(self, changes: dict[str, Any], meta: dict) -> None:
        for key, value in changes.items():
            setattr(self, key, value)

    def send(self, meta: dict) -> None:
        self._require(ProposalStatus.SENT)
        self._sent(meta=meta)

    @event("Sent")
    def _sent(self, meta: dict) -> None:
        self.status = ProposalStatus.SENT.value
        self.was_sent = True

    def accept(self, meta: dict) -> None:
        self._require(ProposalStatus.ACCEPTED)
        self._accepted(meta=meta)

    @event("Accepted")
    def _accepted(self, meta: dict) -> None:
        self.status = ProposalStatus.ACCEPTED.value

    def reject(self, meta: dict, reason: str | None = None) -> None:
        self._require(ProposalStatus.REJECTED)
        self._rejected(reason=validate_reason(reason), meta=meta)

    @event("Rejected")
    def _rejected(self, reason: str | None, meta: dict) -> None:
        self.status = ProposalStatus.REJECTED.value
        self.rejection_reason = reason

    def withdraw(self, meta: dict) -> None:
        current = self._require(ProposalStatus.WITHDRAWN)
        # Whether it had been sent decides who saw it: consumers need not look back.
        self._withdrawn(previous_status=current.value, meta=meta)

    @event("Withdrawn")
    def _withdrawn(self, previous_status: str, meta: dict) -> None:
        self.status = ProposalStatus.WITHDRAWN.value
