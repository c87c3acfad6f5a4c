"""The one event-sourced application: one event table, one global ordered log.

Commands run as units of work: load the aggregates a decision needs, let the domain
decide, then append every new event of every touched aggregate in one transaction.
Optimistic concurrency (the store's unique (aggregate id, version) key) turns a race
into a conflict; the unit of work then re-runs on fresh state, so a rule checked on one
aggregate (a uniqueness claim, a person-day ledger, a project's dependency graph) holds
under concurrent requests.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, ClassVar, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Transcoding

from domain.base import DomainError, NotFound
from domain.channel import Channel
from domain.organization import Organization
from domain.project import Project
from domain.task_dependencies import TaskDependencyGraph
from vistone.recorder import IdempotencyKey, IdempotentOutcome, VistoneRecorder

A = TypeVar("A", bound=Aggregate)

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 20


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class ConcurrencyConflict(DomainError):
    """Too many concurrent writers for the same aggregates; the client may retry."""

    code = "concurrency-conflict"


class PreconditionFailed(DomainError):
    """If-Match named a version that is no longer current."""

    code = "precondition-failed"


class IdempotencyKeyReused(DomainError):
    code = "idempotency-key-reused"


@dataclass(frozen=True)
class CommandResult:
    id: UUID
    version: int
    position: int | None


class UnitOfWork:
    """The aggregates one command reads and writes; saved together, atomically."""

    def __init__(self, app: Vistone) -> None:
        self._app = app
        self._aggregates: dict[UUID, Aggregate] = {}
        self._loaded_versions: dict[UUID, int] = {}

    def get(self, cls: type[A], aggregate_id: UUID, what: str | None = None) -> A:
        found = self.find(cls, aggregate_id)
        if found is None:
            label = what or cls.__name__.lower()
            raise NotFound(f"{label} {aggregate_id} not found")
        return found

    def find(self, cls: type[A], aggregate_id: UUID) -> A | None:
        aggregate = self._aggregates.get(aggregate_id)
        if aggregate is None:
            try:
                aggregate = self._app.repository.get(aggregate_id)
            except AggregateNotFoundError:
                return None
            self._aggregates[aggregate_id] = aggregate
            self._loaded_versions[aggregate_id] = aggregate.version
        return aggregate if isinstance(aggregate, cls) else None

    def add(self, aggregate: A) -> A:
        self._aggregates[aggregate.id] = aggregate
        return aggregate

    def loaded_version(self, aggregate_id: UUID) -> int | None:
        return self._loaded_versions.get(aggregate_id)

    def touched(self) -> list[Aggregate]:
        return [a for a in self._aggregates.values() if a.pending_events]


class Vistone(Application[UUID]):
    name = "Vistone"  # the log lives in the table vistone_events

    # Aggregates whose history grows without bound (membership churn) are loaded from
    # a snapshot taken every 100 events.
    snapshotting_intervals: ClassVar[dict[Any, int]] = {
        TaskDependencyGraph: 100,
        Organization: 100,
        Project: 100,
        Channel: 100,
    }

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())  # due dates, time-log dates

    def _take_snapshots(self, processing_event: Any) -> None:
        # A snapshot only speeds up later loads, and the command's events are already
        # committed when it is taken: a failure here must not turn a success into a 500.
        try:
            super()._take_snapshots(processing_event)
        except Exception:
            log.exception("taking a snapshot failed; the events are stored, loads replay them")

    @property
    def vistone_recorder(self) -> VistoneRecorder:
        assert isinstance(self.recorder, VistoneRecorder)
        return self.recorder

    def execute(
        self,
        decide: Callable[[UnitOfWork], Aggregate],
        *,
        if_match: int | None = None,
        idempotency: IdempotencyKey | None = None,
    ) -> CommandResult:
        """Run ``decide`` in a unit of work and append what it decided, retrying on
        conflicts. ``decide`` returns the aggregate the command is about."""
        if idempotency is not None:
            prior = self._replay_idempotent(idempotency)
            if prior is not None:
                return prior
        for attempt in range(MAX_ATTEMPTS):
            uow = UnitOfWork(self)
            try:
                target = decide(uow)
            except DomainError:
                # A retry overlapping its original may see the original's effect (the
                # duplicate it would now refuse): answer what the original answered. A
                # refusal itself records no key: it is not an answer to replay.
                if idempotency is not None:
                    prior = self._replay_idempotent(idempotency)
                    if prior is not None:
                        return prior
                raise
            if if_match is not None:
                loaded = uow.loaded_version(target.id)
                if loaded is not None and loaded != if_match:
                    raise PreconditionFailed(
                        f"If-Match names version {if_match}, the current version is {loaded}"
                    )
            touched = uow.touched()
            if not touched:
                return self._answer_unchanged(target, idempotency)
            save_kwargs: dict[str, Any] = {}
            if idempotency is not None:
                save_kwargs["idempotency"] = (idempotency, target.id, target.version)
            new_events = [e for a in touched for e in a.pending_events]
            try:
                recordings = self.save(*touched, **save_kwargs)
            except IntegrityError:
                if idempotency is not None:
                    prior = self._replay_idempotent(idempotency)
                    if prior is not None:
                        return prior
                # The store retries a write whose connection broke; if the first try had
                # committed, the retry collides with our own events: that is a success.
                position = self.vistone_recorder.position_if_stored(
                    [self.mapper.to_stored_event(e) for e in new_events])
                if position is not None:
                    return CommandResult(target.id, target.version, position)
                # Someone appended to one of our aggregates first: decide again on
                # fresh state, after a short randomized pause to spread the retries.
                time.sleep(random.uniform(0, 0.002 * (attempt + 1)))
                continue
            position = max(r.notification.id for r in recordings)
            return CommandResult(target.id, target.version, position)
        raise ConcurrencyConflict("too many concurrent changes to the same records; retry")

    def _answer_unchanged(self, target: Aggregate,
                          idempotency: IdempotencyKey | None) -> CommandResult:
        """A command that changes nothing (a status the record already has) answers the
        aggregate as it is at the log's head. With an Idempotency-Key that answer is
        recorded like any other, so a retry answers it again, appending nothing even if
        the state has moved since, and the key with another body is refused. If a
        concurrent first attempt with the key recorded first, its answer is the one."""
        if idempotency is None:
            return CommandResult(target.id, target.version, self.recorder.max_notification_id())
        outcome = self.vistone_recorder.record_idempotent_no_op(
            idempotency, target.id, target.version)
        return self._answer_recorded(idempotency, outcome)

    def _replay_idempotent(self, key: IdempotencyKey) -> CommandResult | None:
        outcome = self.vistone_recorder.find_idempotent(key)
        return None if outcome is None else self._answer_recorded(key, outcome)

    @staticmethod
    def _answer_recorded(key: IdempotencyKey, outcome: IdempotentOutcome) -> CommandResult:
        if outcome.fingerprint != key.fingerprint:
            raise IdempotencyKeyReused(
                "this Idempotency-Key was already used for a different request"
            )
        return CommandResult(outcome.aggregate_id, outcome.version, outcome.position)

    def read(self, cls: type[A], aggregate_id: UUID, what: str | None = None) -> A:
        """Load one aggregate for a command-side check (never for queries)."""
        return UnitOfWork(self).get(cls, aggregate_id, what)
