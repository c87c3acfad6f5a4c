"""The one event-sourced application: one event table, one global ordered log.

Commands run as units of work: load the aggregates a decision needs, let the domain
decide, then append every new event of every touched aggregate in one transaction.
Optimistic concurrency (the store's unique (aggregate id, version) key) turns a race
into a conflict; the unit of work then re-runs on fresh state, so a rule checked on one
aggregate (a uniqueness claim, a person-day ledger, a project's dependency graph) holds
under concurrent requests.

Contention is not a failure: after a first conflict a command queues on process-local
locks of the aggregates it touched (so one process's commands on one aggregate take
turns instead of colliding), and conflicts with other processes are retried after a
jittered exponential backoff. Only contention that outlasts the time budget
(``CONTENTION_BUDGET_SECONDS``, 10 s) gives up, with ``ContentionTimeout`` (503).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any, ClassVar, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, JSONTranscoder
from eventsourcing.utils import EnvType

from domain.base import CommandContext, DomainError, NotFound
from domain.channel import Channel
from domain.client import Client
from domain.organization import Organization
from domain.project import Project
from domain.task_dependencies import TaskDependencyGraph
from projections.transcoding import DateAsISO
from vistone.recorder import IdempotencyKey, IdempotentOutcome, VistoneRecorder

A = TypeVar("A", bound=Aggregate)

log = logging.getLogger(__name__)

# Application setting (environment: VISTONE_CONTENTION_BUDGET_SECONDS): how long a
# command may keep retrying under contention before it answers 503.
CONTENTION_BUDGET_SECONDS = "CONTENTION_BUDGET_SECONDS"
DEFAULT_CONTENTION_BUDGET_SECONDS = 10.0
# Backoff after a conflict with a writer outside this process's queue: a random pause
# in [0, min(cap, base * 2**n)] ("full jitter") for the n-th such conflict.
BACKOFF_BASE_SECONDS = 0.002
BACKOFF_CAP_SECONDS = 0.1


class ContentionTimeout(DomainError):
    """Concurrent writers kept the command's aggregates busy for longer than the
    contention budget. Nothing was appended and no rule failed: retry later (503)."""

    code = "contention-timeout"
    retry_after_seconds = 1


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


@dataclass(frozen=True)
class Command:
    """One command as a caller issued it: the application it runs in, who issued it and
    from where (the context stored on every event), and its conditions (If-Match,
    Idempotency-Key). Command handlers take it first and end with ``command.execute``."""

    app: Vistone
    ctx: CommandContext
    if_match: int | None = None
    idempotency: IdempotencyKey | None = None

    def in_organization(self, organization_id: UUID) -> Command:
        return replace(self, ctx=self.ctx.in_organization(organization_id))

    def execute(self, decide: Callable[[UnitOfWork], Aggregate]) -> CommandResult:
        return self.app.execute(decide, if_match=self.if_match, idempotency=self.idempotency)


class AggregateLocks:
    """Process-local locks on aggregate ids, made on demand and dropped when unused.

    A command takes the whole set it needs in sorted order, and to need more it
    releases everything and takes the union again: no two commands can wait for each
    other in a cycle, so there is no deadlock."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._locks: dict[UUID, tuple[threading.Lock, int]] = {}  # lock, users

    def acquire(self, ids: Iterable[UUID], deadline: float) -> bool:
        """Take the locks of ``ids``; False (holding none of them) if ``deadline``
        (``time.monotonic()``) passes first."""
        ordered = sorted(set(ids))
        with self._mutex:
            locks = []
            for aggregate_id in ordered:
                lock, users = self._locks.get(aggregate_id, (None, 0))
                lock = lock or threading.Lock()
                self._locks[aggregate_id] = (lock, users + 1)
                locks.append(lock)
        taken: list[threading.Lock] = []
        try:
            for lock in locks:
                if not lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
                    break
                taken.append(lock)
        finally:
            if len(taken) != len(locks):
                for lock in taken:
                    lock.release()
                self._forget(ordered)
        return len(taken) == len(locks)

    def release(self, ids: Iterable[UUID]) -> None:
        ordered = sorted(set(ids))
        with self._mutex:
            for aggregate_id in ordered:
                self._locks[aggregate_id][0].release()
        self._forget(ordered)

    def _forget(self, ids: list[UUID]) -> None:
        with self._mutex:
            for aggregate_id in ids:
                lock, users = self._locks[aggregate_id]
                if users > 1:
                    self._locks[aggregate_id] = (lock, users - 1)
                else:
                    del self._locks[aggregate_id]


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
        Client: 100,  # what is attached to it: proposals, feedback, project links
    }

    def __init__(self, env: EnvType | None = None) -> None:
        super().__init__(env)
        budget = self.env.get(CONTENTION_BUDGET_SECONDS)
        self.contention_budget_seconds = (float(budget) if budget
                                          else DEFAULT_CONTENTION_BUDGET_SECONDS)
        self.aggregate_locks = AggregateLocks()

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
        """Run ``decide`` in a unit of work and append what it decided, re-running it on
        fresh state after a conflict. ``decide`` returns the aggregate the command is
        about.

        Contention is waited out, not reported: after a conflict the command holds this
        process's locks of the aggregates it touched while it retries (one process's
        commands on one aggregate take turns), and a conflict while holding them (a
        writer of another process) is retried after a jittered exponential pause. When
        the contention budget is spent it gives up with ContentionTimeout, having
        appended nothing."""
        if idempotency is not None:
            prior = self._replay_idempotent(idempotency)
            if prior is not None:
                return prior
        deadline = time.monotonic() + self.contention_budget_seconds
        held: set[UUID] = set()
        contended: set[UUID] = set()
        overtaken = 0  # conflicts while holding the locks of everything touched
        try:
            while True:
                outcome = self._attempt(decide, if_match, idempotency)
                if isinstance(outcome, CommandResult):
                    return outcome
                contended |= outcome
                if time.monotonic() >= deadline:
                    break
                if outcome <= held:
                    overtaken += 1
                    pause = random.uniform(0, min(
                        BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** min(overtaken, 16)))
                    time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
                    continue
                # Take the locks of everything touched so far, all at once in sorted
                # order (never one more while holding some: no deadlock), and wait
                # there for this process's other commands on them to finish.
                wanted = held | outcome
                self.aggregate_locks.release(held)
                held = set()
                if not self.aggregate_locks.acquire(wanted, deadline):
                    break
                held = wanted
        finally:
            self.aggregate_locks.release(held)
        log.warning("contention budget of %.1f s spent on %s", self.contention_budget_seconds,
                    ", ".join(sorted(str(i) for i in contended)))
        raise ContentionTimeout(
            "too many concurrent changes to the same records; nothing was changed, retry later"
        )

    def _attempt(
        self,
        decide: Callable[[UnitOfWork], Aggregate],
        if_match: int | None,
        idempotency: IdempotencyKey | None,
    ) -> CommandResult | set[UUID]:
        """One run of the unit of work: the answer, or, if a concurrent writer appended
        to one of the aggregates it touched first, the ids of those aggregates."""
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
            if loaded is None:
                # The command creates its record (a create-or-revise by name): there was
                # no current version for If-Match to match (RFC 9110).
                raise PreconditionFailed("If-Match names a version, but the record did not "
                                         "exist yet")
            if loaded != if_match:
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
            # Someone appended to one of our aggregates first.
            return {a.id for a in touched}
        position = max(r.notification.id for r in recordings)
        return CommandResult(target.id, target.version, position)

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

    def prior_answer(self, key: IdempotencyKey | None) -> CommandResult | None:
        """What a command with ``key`` answered before, if it ran (a retry): lets a
        command whose preparation is costly (a model call) skip it."""
        return None if key is None else self._replay_idempotent(key)

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
