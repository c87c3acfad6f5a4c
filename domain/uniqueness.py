"""Uniqueness claims: how a name stays unique across aggregates without a lock.

A claim is an aggregate whose id is derived from the unique key (e.g. the lower-cased
email). Creating a user saves the User and the claim in one atomic append; two
concurrent registrations of one email both try to write version 1 of the same claim,
and the event store's (originator_id, version) key lets exactly one of them in.
Releasing a claim (rename, delete) keeps the aggregate so that it can be claimed again.
"""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.base import AlreadyExists, derived_id


def claim_id(scope: str, key: str) -> UUID:
    return derived_id("claim", scope, key)


class UniqueClaim(Aggregate):
    # A claim guards a rule; its key can be an email.
    INTERNAL = True
    PERSONAL_FIELDS = frozenset({"key"})

    @event("Claimed")
    def __init__(self, id: UUID, scope: str, key: str, owner_id: UUID, meta: dict) -> None:
        self.scope = scope
        self.key = key
        self.owner_id: UUID | None = owner_id

    @property
    def is_held(self) -> bool:
        return self.owner_id is not None

    def reclaim(self, owner_id: UUID, meta: dict) -> None:
        if self.owner_id is not None and self.owner_id != owner_id:
            raise AlreadyExists(f"{self.scope} {self.key!r} is already taken", field=self.scope)
        if self.owner_id != owner_id:
            self._reclaimed(owner_id=owner_id, meta=meta)

    @event("Reclaimed")
    def _reclaimed(self, owner_id: UUID, meta: dict) -> None:
        self.owner_id = owner_id

    def release(self, owner_id: UUID, meta: dict) -> None:
        if self.owner_id == owner_id:
            self._released(meta=meta)

    @event("Released")
    def _released(self, meta: dict) -> None:
        self.owner_id = None
