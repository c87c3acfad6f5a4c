"""Runs read models: follows the log, applies batches, keeps positions, survives crashes.

Each batch is one transaction that starts by locking the read model's tracking row
(``SELECT ... FOR UPDATE``). Two workers for the same read model therefore take turns:
the second waits, then sees the position the first committed and continues from it,
so no event is applied twice and none is skipped.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import psycopg
from psycopg_pool import ConnectionPool

from projections.base import TRACKING_DDL, ReadModel
from vistone.app import Vistone

log = logging.getLogger(__name__)

BATCH_SIZE = 500


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
    """Apply the next batch of events to ``model``; returns how many events were read."""
    head = app.recorder.max_notification_id() or 0
    with pool.connection() as conn, conn.transaction():
        row = conn.execute(
            "SELECT position FROM public.projection_tracking WHERE name = %s FOR UPDATE",
            (model.name,),
        ).fetchone()
        assert row is not None, f"read model {model.name} has no tracking row"
        position = row[0]
        if position >= head:
            return 0
        notifications = app.recorder.select_notifications(
            start=position + 1, limit=batch_size, stop=head, topics=model.topics
        )
        with conn.cursor() as cursor:
            for notification in notifications:
                model.apply(cursor, app.mapper.to_domain_event(notification))
        # Events of other topics between here and the head need no work: when the
        # batch is not full, the read model has seen everything up to the head.
        new_position = notifications[-1].id if len(notifications) == batch_size else head
        conn.execute(
            "UPDATE public.projection_tracking SET position = %s, updated_at = now(), "
            "last_error = NULL WHERE name = %s",
            (new_position, model.name),
        )
        return len(notifications)


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
    """Runs each read model in its own thread until stopped; woken by the log's NOTIFY."""

    def __init__(self, app: Vistone, pool: ConnectionPool, read_models: list[ReadModel],
                 conninfo: str, poll_interval: float = 1.0) -> None:
        self.app = app
        self.pool = pool
        self.read_models = read_models
        self.conninfo = conninfo
        self.poll_interval = poll_interval
        self._stop = threading.Event()
        self._wake = {m.name: threading.Event() for m in read_models}
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        ensure_schema(self.pool, self.read_models)
        listener = threading.Thread(target=self._listen, name="projection-listener", daemon=True)
        self._threads.append(listener)
        for model in self.read_models:
            self._threads.append(
                threading.Thread(target=self._run, args=(model,), name=f"projection-{model.name}",
                                 daemon=True)
            )
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        for event in self._wake.values():
            event.set()
        for thread in self._threads:
            thread.join(timeout)

    def _listen(self) -> None:
        """One LISTEN connection wakes every read model when the log grows."""
        channel = self.app.recorder.channel_name  # type: ignore[attr-defined]
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True) as conn:
                    conn.execute(f'LISTEN "{channel}"')
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=0.5, stop_after=1):
                            for event in self._wake.values():
                                event.set()
            except psycopg.Error:
                log.exception("projection listener lost its connection; reconnecting")
                self._stop.wait(1.0)

    def _run(self, model: ReadModel) -> None:
        wake = self._wake[model.name]
        backoff = 0.1
        while not self._stop.is_set():
            try:
                wake.clear()
                while process_batch(self.app, self.pool, model) and not self._stop.is_set():
                    pass
                backoff = 0.1
                wake.wait(self.poll_interval)
            except Exception as error:  # keep running: a poison event must not stop the rest
                log.exception("read model %s failed; retrying", model.name)
                self._record_error(model, error)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)

    def _record_error(self, model: ReadModel, error: Exception) -> None:
        try:
            with self.pool.connection() as conn:
                conn.execute(
                    "UPDATE public.projection_tracking SET last_error = %s WHERE name = %s",
                    (f"{type(error).__name__}: {error}"[:2000], model.name),
                )
        except psycopg.Error:
            log.exception("could not record the error of %s", model.name)

    def wait_until(self, position: int, timeout: float = 10.0) -> bool:
        """Block until every read model has reached ``position`` (tests, benchmarks)."""
        return wait_for_position(self.pool, [m.name for m in self.read_models], position, timeout)


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
