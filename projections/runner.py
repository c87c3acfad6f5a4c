"""Runs read models: follows the log, applies batches, keeps positions, survives crashes.

One dispatcher thread serves every read model of a process; on each wake-up it reads the
new events (once for all models, or per model when one is far behind) and hands each
model the events of its topics. A read model's batch is one transaction that starts by
locking its tracking row (``SELECT ... FOR UPDATE``) and checks that the position is still
the one the pass started from: two workers for the same read model take turns, no event
is applied twice and none is skipped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from projections.base import TRACKING_DDL, ReadModel
from vistone.app import Vistone

log = logging.getLogger(__name__)

BATCH_SIZE = 500
COALESCE_SECONDS = 0.01


def ensure_schema(pool: ConnectionPool, read_models: list[ReadModel]) -> None:
    with pool.connection() as conn, conn.transaction():
        # Serialize concurrent first starts (server and worker booting together).
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('vistone.ensure_schema'))")
        conn.execute(TRACKING_DDL)
        for model in read_models:
            for statement in model.ddl:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO public.projection_tracking (name) VALUES (%s) "
                "ON CONFLICT (name) DO NOTHING",
                (model.name,),
            )


def drop_read_model(pool: ConnectionPool, model: ReadModel) -> None:
    """Forget a read model's rows and position; the next run rebuilds it from the log."""
    with pool.connection() as conn, conn.transaction():
        conn.execute(
            "SELECT position FROM public.projection_tracking WHERE name = %s FOR UPDATE",
            (model.name,),
        )
        for table in model.tables:
            conn.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
        for statement in model.ddl:
            conn.execute(statement)
        conn.execute(
            "UPDATE public.projection_tracking SET position = 0, last_error = NULL, "
            "updated_at = now() WHERE name = %s",
            (model.name,),
        )


def process_batch(app: Vistone, pool: ConnectionPool, model: ReadModel,
                  batch_size: int = BATCH_SIZE) -> int:
    """Apply the next batch of events to one read model (rebuilds, tests); returns how
    many events were read. Errors propagate."""
    return process_pending(app, pool, [model], batch_size=batch_size)


def process_pending(
    app: Vistone,
    pool: ConnectionPool,
    models: list[ReadModel],
    *,
    batch_size: int = BATCH_SIZE,
    on_error: Callable[[ReadModel, Exception], None] | None = None,
) -> int:
    """One pass for several read models. Usually one read of the log since the slowest
    model serves them all; when that read is a full batch (a rebuild, a bulk load), each
    model reads its own topics instead, so one far behind never holds the others back.
    Every event is decoded once per pass; models with nothing to do move forward together
    in one statement. Returns how many events were read (0 when all are at the head)."""
    head, positions = _head_and_positions(app, pool, models)
    behind = [m for m in models if positions.get(m.name, head) < head]
    if not behind:
        return 0
    start = min(positions[m.name] for m in behind)
    shared = app.recorder.select_notifications(
        start=start + 1, limit=batch_size, stop=head,
        topics=sorted({topic for m in behind for topic in m.topics}),
    )
    plan: dict[str, tuple[list[Any], int]] = {}
    if len(shared) < batch_size:
        for model in behind:
            topics, seen = set(model.topics), positions[model.name]
            plan[model.name] = ([n for n in shared if n.id > seen and n.topic in topics], head)
        read = len(shared)
    else:
        read = 0
        for model in behind:
            own = app.recorder.select_notifications(
                start=positions[model.name] + 1, limit=batch_size, stop=head,
                topics=model.topics,
            )
            read += len(own)
            # Events of other topics up to the head need no work: when the batch is
            # not full, this model has seen everything up to the head.
            plan[model.name] = (list(own), own[-1].id if len(own) == batch_size else head)

    decoded: dict[int, Any] = {}
    idle: list[ReadModel] = []
    for model in behind:
        notifications, end = plan[model.name]
        if not notifications:
            idle.append(model)
            continue
        for n in notifications:
            if n.id not in decoded:
                decoded[n.id] = app.mapper.to_domain_event(n)
        try:
            _apply(pool, model, [decoded[n.id] for n in notifications],
                   expected=positions[model.name], new_position=end)
        except Exception as error:
            if on_error is None:
                raise
            on_error(model, error)
    if idle:
        # The guard keeps a position that moved meanwhile (another worker, a rebuild).
        with pool.connection() as conn:
            conn.execute(
                "UPDATE public.projection_tracking t SET position = %s, updated_at = now(), "
                "last_error = NULL FROM unnest(%s::text[], %s::bigint[]) AS v(name, seen) "
                "WHERE t.name = v.name AND t.position >= v.seen AND t.position < %s",
                (head, [m.name for m in idle], [positions[m.name] for m in idle], head),
            )
    return read


def _head_and_positions(app: Vistone, pool: ConnectionPool,
                        models: list[ReadModel]) -> tuple[int, dict[str, int]]:
    """The log's head and the models' positions, in one round trip."""
    recorder = app.vistone_recorder
    events = Identifier(recorder.datastore.schema, recorder.events_table_name)
    with pool.connection() as conn:
        rows = conn.execute(
            SQL("SELECT (SELECT coalesce(max(notification_id), 0) FROM {}), name, position "
                "FROM public.projection_tracking WHERE name = ANY(%s)").format(events),
            ([m.name for m in models],),
        ).fetchall()
    if not rows:
        return app.recorder.max_notification_id() or 0, {}
    return rows[0][0], {name: position for _, name, position in rows}


def _apply(pool: ConnectionPool, model: ReadModel, events: list[Any], *, expected: int,
           new_position: int) -> None:
    """Apply ``events`` and move the position in one transaction, only if the model is
    still where this pass found it (the row lock makes concurrent workers take turns)."""
    with pool.connection() as conn, conn.transaction():
        row = conn.execute(
            "SELECT position FROM public.projection_tracking WHERE name = %s FOR UPDATE",
            (model.name,),
        ).fetchone()
        if row is None or row[0] != expected:
            return  # another worker (or a rebuild) moved it; the next pass re-reads
        with conn.cursor() as cursor:
            for event in events:
                model.apply(cursor, event)
        conn.execute(
            "UPDATE public.projection_tracking SET position = %s, updated_at = now(), "
            "last_error = NULL WHERE name = %s",
            (new_position, model.name),
        )


@dataclass
class ProjectionStatus:
    name: str
    position: int
    head: int
    updated_at: object
    last_error: str | None

    @property
    def lag(self) -> int:
        return max(0, self.head - self.position)


def projection_status(app: Vistone, pool: ConnectionPool) -> list[ProjectionStatus]:
    head = app.recorder.max_notification_id() or 0
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT name, position, updated_at, last_error FROM public.projection_tracking "
            "ORDER BY name"
        ).fetchall()
    return [ProjectionStatus(r[0], r[1], head, r[2], r[3]) for r in rows]


class ProjectionRunner:
    """Runs a set of read models in one dispatcher thread, woken by the log's NOTIFY.

    A failing read model is retried with backoff while the others go on; its error is
    kept in the tracking table for `vistone status`."""

    def __init__(self, app: Vistone, pool: ConnectionPool, read_models: list[ReadModel],
                 conninfo: str, poll_interval: float = 1.0) -> None:
        self.app = app
        self.pool = pool
        self.read_models = read_models
        self.conninfo = conninfo
        self.poll_interval = poll_interval
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._retry_at: dict[str, float] = {}
        self._backoff: dict[str, float] = {}
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        ensure_schema(self.pool, self.read_models)
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

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            now = time.monotonic()
            ready = [m for m in self.read_models if self._retry_at.get(m.name, 0.0) <= now]
            try:
                read = process_pending(self.app, self.pool, ready, on_error=self._failed)
            except Exception:  # the log or the database is unreachable
                log.exception("projection pass failed; retrying")
                self._stop.wait(1.0)
                continue
            for model in ready:
                if model.name not in self._retry_at:
                    self._backoff.pop(model.name, None)
            if read:
                # More may be waiting. A short pause lets commits arriving together be
                # read in one pass: under load that saves far more work than it costs
                # in lag (at most this long, only after a pass that had work).
                self._stop.wait(COALESCE_SECONDS)
                continue
            pending = [t - time.monotonic() for t in self._retry_at.values()]
            self._wake.wait(max(0.01, min([self.poll_interval, *pending])))
            self._retry_at = {n: t for n, t in self._retry_at.items()
                              if t > time.monotonic()}

    def _failed(self, model: ReadModel, error: Exception) -> None:
        log.error("read model %s failed: %s", model.name, error, exc_info=error)
        delay = min(self._backoff.get(model.name, 0.05) * 2, 30.0)
        self._backoff[model.name] = delay
        self._retry_at[model.name] = time.monotonic() + delay
        try:
            with self.pool.connection() as conn:
                conn.execute(
                    "UPDATE public.projection_tracking SET last_error = %s WHERE name = %s",
                    (f"{type(error).__name__}: {error}"[:2000], model.name),
                )
        except psycopg.Error:
            log.exception("could not record the error of %s", model.name)


def wait_for_position(pool: ConnectionPool, names: list[str], position: int,
                      timeout: float) -> bool:
    """Poll the tracking rows until each named read model reached ``position``."""
    deadline = time.monotonic() + timeout
    delay = 0.002
    while True:
        with pool.connection() as conn:
            row = conn.execute(
                "SELECT coalesce(min(position), 0), count(*) FROM public.projection_tracking "
                "WHERE name = ANY(%s)",
                (names,),
            ).fetchone()
        assert row is not None
        if row[1] == len(names) and row[0] >= position:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def catch_up(app: Vistone, pool: ConnectionPool, models: list[ReadModel]) -> None:
    """Bring ``models`` to the log's head in this thread; the first error propagates
    (tests, the contract test of every consumer)."""
    while process_pending(app, pool, models):
        pass
