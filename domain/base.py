"""What every aggregate shares: who acts, the event metadata, and named domain errors.

The domain is pure: no I/O, no framework. Aggregates are built on
``eventsourcing.domain.Aggregate`` (the event-sourcing library, not a framework of
ours); each public command method validates, then calls a private ``@event``
method that only mutates state, so replaying history never re-runs a rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid5

# Deterministic ids (uniqueness claims, person-day ledgers, direct channels) are
# uuid5 under this namespace, so the same natural key always names the same aggregate.
VISTONE_NAMESPACE = UUID("6f1d3c0e-3a0b-4d55-9a55-1f6b2f6c7a10")


def derived_id(*parts: object) -> UUID:
    """The id of an aggregate named by a natural key (e.g. ("email", "a@b.c"))."""
    return uuid5(VISTONE_NAMESPACE, "\x1f".join(str(p) for p in parts))


@dataclass(frozen=True)
class CommandContext:
    """Who issues a command, for which organization, and why.

    Every event stores ``ctx.meta``: the audit timeline and the Kafka stream are
    built from it, so it is there from the first event on.
    """

    actor_id: UUID | None
    organization_id: UUID | None = None
    correlation_id: str | None = None
    causation_id: str | None = None
    client_ip: str | None = None
    user_agent: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # The metadata travels on every event, so it follows the text rule too.
        for name in ("correlation_id", "causation_id", "client_ip", "user_agent"):
            value = getattr(self, name)
            if value is not None:
                valid_text(value, name)
        for key, value in self.extra.items():
            valid_text(key, "extra")
            valid_text(value, "extra")

    @property
    def meta(self) -> dict[str, Any]:
        return {
            "actor_id": str(self.actor_id) if self.actor_id else None,
            "organization_id": str(self.organization_id) if self.organization_id else None,
            "correlation_id": self.correlation_id,
            "causation_id": self.causation_id,
            "client_ip": self.client_ip,
            "user_agent": self.user_agent,
            **self.extra,
        }

    def in_organization(self, organization_id: UUID) -> CommandContext:
        return CommandContext(
            actor_id=self.actor_id,
            organization_id=organization_id,
            correlation_id=self.correlation_id,
            causation_id=self.causation_id,
            client_ip=self.client_ip,
            user_agent=self.user_agent,
            extra=self.extra,
        )


class DomainError(Exception):
    """A rule said no. ``code`` is stable: the API turns it into a problem ``type``."""

    code = "domain-error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidValue(DomainError):
    """A value is malformed or out of range (the request itself is wrong)."""

    code = "invalid-value"


class RuleViolation(DomainError):
    """The request is well-formed but conflicts with the current state."""

    code = "rule-violation"


class NotFound(DomainError):
    code = "not-found"


class Forbidden(DomainError):
    code = "forbidden"


class AlreadyExists(RuleViolation):
    code = "already-exists"


# What no consumer of the log can hold: NUL (PostgreSQL text and jsonb refuse it) and lone
# surrogates (not Unicode scalar values: they have no UTF-8 encoding, so the event itself
# cannot be encoded). Every other code point, in every plane, is valid text.
_INVALID_TEXT = re.compile("[\x00\ud800-\udfff]")


def is_valid_text(value: str) -> bool:
    """True if ``value`` is valid Unicode (encodable as UTF-8) without NUL."""
    return _INVALID_TEXT.search(value) is None


def valid_text(value: str, field_name: str) -> str:
    """The text rule every text entry point applies (see docs/values.md): refused here,
    before it reaches the log, so no consumer can ever be stopped by an event it cannot
    store or encode."""
    if not isinstance(value, str):
        raise InvalidValue(f"{field_name} must be text", field=field_name)
    found = _INVALID_TEXT.search(value)
    if found is not None:
        if found.group() == "\x00":
            raise InvalidValue(f"{field_name} must not contain NUL characters",
                               field=field_name)
        raise InvalidValue(f"{field_name} must be valid Unicode text (it holds a lone "
                           "surrogate code point)", field=field_name)
    return value


# The former name, kept for callers: it refuses lone surrogates as well as NUL.
refuse_nul = valid_text


def require_text(value: str, field_name: str, *, max_length: int, min_length: int = 1) -> str:
    """Strip and bound a text field; names the field when it is wrong."""
    stripped = valid_text(value, field_name).strip()
    if len(stripped) < min_length:
        raise InvalidValue(f"{field_name} must not be empty", field=field_name)
    if len(stripped) > max_length:
        raise InvalidValue(
            f"{field_name} is longer than {max_length} characters", field=field_name
        )
    return stripped


def optional_text(value: str | None, field_name: str, *, max_length: int) -> str | None:
    if value is None:
        return None
    valid_text(value, field_name)
    if len(value) > max_length:
        raise InvalidValue(
            f"{field_name} is longer than {max_length} characters", field=field_name
        )
    return value
