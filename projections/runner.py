"""Runs read models: follows the log, applies batches, keeps positions, survives crashes.

One dispatcher thread serves every read model of a process. A pass reads the catalogue of
generations (projections/versions.py) and the log's head in one round trip, then feeds
each generation this process runs — the active one and, while a new version or a rebuild
is under way, the building one — with the new events of its topics (one read of the log
for all of them, or one per generation when one is far behind, so a rebuild holds no one
back). A generation's batch is one transaction that starts by locking its catalogue row
and checking that the position is still the one the pass started from: two workers take
turns, no event is applied twice and none is skipped. A building generation that reaches
the head is swapped in.

An event a read model cannot apply stops that read model *at that event*: the events
before it are committed, the position stays just before it, the error and the position
are recorded (``vistone status``, ``/health/ready``, ``/metrics``) and the event is
retried with backoff. The other read models keep running.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from eventsourcing.application import Application
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from projections.base import ReadModel
from projections.versions import (
    COLUMNS,
    Generation,
    plan_model,
    reconcile,
    swap_in,
)

log = logging.getLogger(__name__)

BATCH_SIZE = 500
COALESCE_SECONDS = 0.01
# A generation more than this many batches of log positions behind reads on its own.
FAR_BEHIND = 4


@dataclass(frozen=True)
class Target:
    """One generation of one read model that this process applies events to."""

    model: ReadModel
    generation: Generation

    @property
    def key(self) -> int:
        return self.generation.generation

    @property
    def label(self) -> str:
        g = self.generation
        return f"{g.name} (building generation {g.generation})" if g.building else g.name


class EventFailed(Exception):
    """A read model could not apply the event at ``position``; it stopped before it."""

    def __init__(self, position: int, cause: Exception) -> None:
        super().__init__(f"event {position}: {type(cause).__name__}: {cause}")
        self.position = position
        self.cause = cause


ErrorHandler = Callable[[Target, Exception], None]

# Stand-downs already logged by this process (read model, reason).
_announced: set[tuple[str, str]] = set()


def process_pending(
    app: Application[Any],
    pool: ConnectionPool,
    models: list[ReadModel],
    *,
    batch_size: int = BATCH_SIZE,
    started_at: datetime | None = None,
    on_error: ErrorHandler | None = None,
    ready: Callable[[Target], bool] | None = None,
) -> int:
    """One pass for several read models; returns how much happened (events read plus
    swaps tried: 0 when everything is active and at the head). Errors propagate unless
    ``on_error`` takes them; ``ready`` can hold back a generation (retry backoff)."""
    head, generations = _catalogue(app, pool, [m.name for m in models])
    plans = {m.name: plan_model(m, generations or [], started_at) for m in models}
    if generations is None or any(p.changes_schema for p in plans.values()):
        reconcile(pool, models, started_at=started_at)
        head, generations = _catalogue(app, pool, [m.name for m in models])
        plans = {m.name: plan_model(m, generations or [], started_at) for m in models}
    for name, plan in plans.items():
        if plan.stand_down and (name, plan.stand_down) not in _announced:
            _announced.add((name, plan.stand_down))
            log.warning("read model %s: standing down: %s", name, plan.stand_down)
    targets = [Target(m, g) for m in models for g in plans[m.name].run]
    if ready is not None:
        targets = [t for t in targets if ready(t)]
    positions = {t.key: t.generation.position for t in targets}
    behind = [t for t in targets if positions[t.key] < head]
    read = _feed(app, pool, behind, positions, head, batch_size, on_error) if behind else 0
    swaps = 0  # swapped in, or postponed (queries held the tables): work either way
    for target in targets:
        if target.generation.building and positions[target.key] >= head \
                and _complete(pool, target):
            swap_in(pool, target.model, target.key, head)
            swaps += 1
    return read + swaps


def _feed(app: Application[Any], pool: ConnectionPool, behind: list[Target],
          positions: dict[int, int], head: int, batch_size: int,
          on_error: ErrorHandler | None) -> int:
    """Apply the next events to the generations that are behind; updates ``positions``
    to where each one got."""
    start = min(positions[t.key] for t in behind)
    # Far behind (a build, a rebuild): each reads its own topics straight away; a shared
    # read would only be read again.
    # A read model with no topics reads every event; then so does the shared read.
    every = any(not t.model.topics for t in behind)
    shared = [] if head - start > FAR_BEHIND * batch_size else \
        app.recorder.select_notifications(
            start=start + 1, limit=batch_size, stop=head,
            topics=() if every else sorted({topic for t in behind for topic in t.model.topics}),
        )
    plan: dict[int, tuple[list[Any], int]] = {}
    if head - start <= FAR_BEHIND * batch_size and len(shared) < batch_size:
        for target in behind:
            topics, seen = set(target.model.topics), positions[target.key]
            plan[target.key] = ([n for n in shared
                                 if n.id > seen and (not topics or n.topic in topics)], head)
        read = len(shared)
    else:
        read = 0
        for target in behind:
            # A generation far behind takes bigger bites: fewer transactions and syncs.
            limit = batch_size * (FAR_BEHIND if head - positions[target.key]
                                  > FAR_BEHIND * batch_size else 1)
            own = app.recorder.select_notifications(
                start=positions[target.key] + 1, limit=limit, stop=head,
                topics=target.model.topics,
            )
            read += len(own)
            # Events of other topics up to the head need no work: when the batch is
            # not full, this generation has seen everything up to the head.
            plan[target.key] = (list(own), own[-1].id if len(own) == limit else head)

    decoded: dict[int, Any] = {}
    idle: list[Target] = []
    for target in behind:
        notifications, end = plan[target.key]
        if not notifications:
            idle.append(target)
            continue
        for n in notifications:
            if n.id not in decoded:
                decoded[n.id] = app.mapper.to_domain_event(n)
        try:
            if _apply(pool, target, [(n.id, decoded[n.id]) for n in notifications],
                      expected=positions[target.key], new_position=end):
                positions[target.key] = end
        except Exception as error:
            if on_error is None:
                raise
            on_error(target, error)
    if idle:
        # The guard keeps a position that moved meanwhile (another worker, a rebuild).
        with pool.connection() as conn:
            conn.execute(
                "UPDATE public.read_model_versions t SET position = %s, updated_at = now() "
                "FROM unnest(%s::bigint[], %s::bigint[]) AS v(generation, seen) "
                "WHERE t.generation = v.generation AND t.position >= v.seen "
                "AND t.position < %s",
                (head, [t.key for t in idle], [positions[t.key] for t in idle], head),
            )
        for target in idle:
            positions[target.key] = head
    return read


def _complete(pool: ConnectionPool, target: Target) -> bool:
    with pool.connection() as conn, conn.transaction():
        conn.execute(SQL("SET LOCAL search_path TO {}, public")
                     .format(Identifier(target.generation.storage)))
        return target.model.complete(conn)


def _catalogue(app: Application[Any], pool: ConnectionPool,
               names: list[str]) -> tuple[int, list[Generation] | None]:
    """The log's head and the generations of ``names``, in one round trip (None before
    the catalogue exists)."""
    # The log's table, to read its head in the same round trip as the catalogue.
    recorder = app.recorder
    assert isinstance(recorder, PostgresApplicationRecorder)
    events = Identifier(recorder.datastore.schema, recorder.events_table_name)
    try:
        with pool.connection() as conn:
            rows = conn.execute(
                SQL("SELECT (SELECT coalesce(max(notification_id), 0) FROM {}), " + COLUMNS
                    + " FROM public.read_model_versions WHERE name = ANY(%s)").format(events),
                (names,),
            ).fetchall()
    except psycopg.errors.UndefinedTable:
        return app.recorder.max_notification_id() or 0, None
    if not rows:
        return app.recorder.max_notification_id() or 0, []
    return rows[0][0], [Generation(*row[1:]) for row in rows]


def _apply(pool: ConnectionPool, target: Target, events: list[tuple[int, Any]], *,
           expected: int, new_position: int) -> bool:
    """Apply ``events`` (position, event) and move the position in one transaction, only
    if the generation is still where this pass found it (the row lock makes concurrent
    workers take turns). Statements are pipelined; if the batch fails it is applied again
    one event at a time to find the event at fault: those before it are committed and
    ``EventFailed`` names it."""
    try:
        return _apply_batch(pool, target, events, expected, new_position, pipelined=True)
    except Exception:
        log.debug("batch of %s failed; looking for the event at fault", target.label)
    failing: list[int] = []
    try:
        return _apply_batch(pool, target, events, expected, new_position, pipelined=False,
                            failing=failing)
    except Exception as error:
        if not failing:
            raise
        index = failing[0]
        if index > 0 and not _apply_batch(pool, target, events[:index], expected,
                                          events[index][0] - 1, pipelined=False):
            raise
        raise EventFailed(events[index][0], error) from error


def _apply_batch(pool: ConnectionPool, target: Target, events: list[tuple[int, Any]],
                 expected: int, new_position: int, *, pipelined: bool,
                 failing: list[int] | None = None) -> bool:
    with pool.connection() as conn, conn.transaction():
        row = conn.execute(
            "SELECT position FROM public.read_model_versions WHERE generation = %s FOR UPDATE",
            (target.key,),
        ).fetchone()
        if row is None or row[0] != expected:
            return False  # another worker, a swap or a rebuild moved it; re-read next pass
        # The rows and the position commit together: a commit lost in a server crash is
        # simply applied again, so waiting for the WAL flush would buy nothing.
        conn.execute("SET LOCAL synchronous_commit TO off")
        conn.execute(SQL("SET LOCAL search_path TO {}, public")
                     .format(Identifier(target.generation.storage)))
        with conn.cursor() as cursor:
            if pipelined:
                with conn.pipeline():
                    target.model.apply_events(cursor, events)
            else:
                for index, positioned in enumerate(events):
                    if failing is not None:
                        failing[:] = [index]
                    target.model.apply_events(cursor, [positioned])
                if failing is not None:
                    failing.clear()
        conn.execute(
            "UPDATE public.read_model_versions SET position = %s, updated_at = now(), "
            "last_error = NULL, failed_position = NULL, failed_at = NULL "
            "WHERE generation = %s",
            (new_position, target.key),
        )
    return True


def record_failure(pool: ConnectionPool, target: Target, error: Exception) -> None:
    """Keep why and where a generation stopped, for status, readiness and metrics."""
    position = error.position if isinstance(error, EventFailed) else None
    cause = error.cause if isinstance(error, EventFailed) else error
    message = f"{type(cause).__name__}: {cause}"[:2000]
    with pool.connection() as conn:
        conn.execute(
            "UPDATE public.read_model_versions SET last_error = %s, failed_at = now(), "
            "failed_position = coalesce(%s, position + 1) WHERE generation = %s",
            (message, position, target.key),
        )


class ProjectionRunner:
    """Runs a set of read models in one dispatcher thread, woken by the log's NOTIFY.

    A read model that fails is retried with backoff while the others go on; where and
    why it stopped is kept in its catalogue row."""

    def __init__(self, app: Application[Any], pool: ConnectionPool, read_models: list[ReadModel],
                 conninfo: str, poll_interval: float = 1.0) -> None:
        self.app = app
        self.pool = pool
        self.read_models = read_models
        self.conninfo = conninfo
        self.poll_interval = poll_interval
        self.started_at: datetime | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._retry_at: dict[int, float] = {}
        self._backoff: dict[int, float] = {}
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        with self.pool.connection() as conn:
            row = conn.execute("SELECT now()").fetchone()
        # Database time: a version swapped in later than this belongs to a newer deploy.
        self.started_at = row[0] if row else None
        reconcile(self.pool, self.read_models, started_at=self.started_at)
        self._threads = [
            threading.Thread(target=self._listen, name="projection-listener", daemon=True),
            threading.Thread(target=self._run, name="projection-dispatcher", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout)

    def _listen(self) -> None:
        channel = self.app.recorder.channel_name  # type: ignore[attr-defined]
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True) as conn:
                    conn.execute(f'LISTEN "{channel}"')
                    self._wake.set()  # catch up with what was appended while not listening
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=0.5, stop_after=1):
                            self._wake.set()
            except psycopg.Error:
                log.exception("projection listener lost its connection; reconnecting")
                self._stop.wait(1.0)

    def _ready(self, target: Target) -> bool:
        return self._retry_at.get(target.key, 0.0) <= time.monotonic()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            failed_before = set(self._retry_at)
            try:
                done = process_pending(self.app, self.pool, self.read_models,
                                       started_at=self.started_at, on_error=self._failed,
                                       ready=self._ready)
            except Exception:  # the log or the database is unreachable
                log.exception("projection pass failed; retrying")
                self._stop.wait(1.0)
                continue
            for key in failed_before - set(self._retry_at):
                self._backoff.pop(key, None)
            if done:
                # More may be waiting. A short pause lets commits arriving together be
                # read in one pass: under load that saves far more work than it costs
                # in lag (at most this long, only after a pass that had work).
                self._stop.wait(COALESCE_SECONDS)
                continue
            pending = [t - time.monotonic() for t in self._retry_at.values()]
            self._wake.wait(max(0.01, min([self.poll_interval, *pending])))
            self._retry_at = {k: t for k, t in self._retry_at.items() if t > time.monotonic()}

    def _failed(self, target: Target, error: Exception) -> None:
        log.error("read model %s stopped: %s", target.label, error, exc_info=error)
        delay = min(self._backoff.get(target.key, 0.05) * 2, 30.0)
        self._backoff[target.key] = delay
        self._retry_at[target.key] = time.monotonic() + delay
        try:
            record_failure(self.pool, target, error)
        except psycopg.Error:
            log.exception("could not record the error of %s", target.label)


@dataclass(frozen=True)
class StoppedModel:
    name: str
    position: int
    failed_position: int | None
    error: str


@dataclass(frozen=True)
class Consistency:
    """Whether the named read models reflect a log position, and which are stopped
    short of it (they will not get there until someone fixes them)."""

    caught_up: bool
    stopped: tuple[StoppedModel, ...] = ()

    def __bool__(self) -> bool:
        return self.caught_up


def wait_for_position(pool: ConnectionPool, names: list[str], position: int,
                      timeout: float) -> Consistency:
    """Poll the active generations until each named read model reached ``position``; a
    model stopped at or before that position ends the wait at once."""
    deadline = time.monotonic() + timeout
    delay = 0.002
    while True:
        with pool.connection() as conn:
            rows = conn.execute(
                "SELECT name, position, failed_position, last_error "
                "FROM public.read_model_versions WHERE name = ANY(%s) AND state = 'active'",
                (names,),
            ).fetchall()
        if len(rows) == len(names) and all(r[1] >= position for r in rows):
            return Consistency(True)
        stopped = tuple(StoppedModel(r[0], r[1], r[2], r[3]) for r in rows
                        if r[3] is not None and r[1] < position
                        and (r[2] is None or r[2] <= position))
        if stopped:
            return Consistency(False, stopped)
        if time.monotonic() >= deadline:
            return Consistency(False)
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def catch_up(app: Application[Any], pool: ConnectionPool, models: list[ReadModel]) -> None:
    """Bring ``models`` to the log's head in this thread; the first error propagates
    (tests, the contract test of every consumer)."""
    while process_pending(app, pool, models):
        pass
