"""Where every read model stands: what ``vistone status``, ``/health/ready`` and
``/metrics`` show. Only reads: safe beside any number of running workers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from eventsourcing.application import Application
from psycopg_pool import ConnectionPool

from projections.base import ReadModel
from projections.versions import read_generations


@dataclass(frozen=True)
class ReadModelStatus:
    name: str
    generation: int | None
    state: str  # active, building, missing
    version: str | None
    declared_version: str | None  # the version this code declares (None: unknown model)
    position: int
    head: int
    lag_seconds: float  # age of the oldest event the model has not applied yet
    updated_at: datetime | None
    failed_position: int | None
    last_error: str | None

    @property
    def lag(self) -> int:
        return max(0, self.head - self.position)

    @property
    def stopped(self) -> bool:
        return self.last_error is not None


def log_head(app: Application[Any]) -> int:
    try:
        return app.recorder.max_notification_id() or 0
    except Exception:  # no event table yet: nothing was ever written
        return 0


def read_model_status(app: Application[Any], pool: ConnectionPool,
                      models: list[ReadModel]) -> list[ReadModelStatus]:
    """One row per generation (active and building), and a ``missing`` row for a
    declared read model that has no active generation yet."""
    head = log_head(app)
    declared = {m.name: m.digest for m in models}
    with pool.connection() as conn:
        generations = read_generations(conn) or []
    oldest_pending = _event_times(app, {g.position + 1 for g in generations
                                        if g.position < head})
    now = datetime.now(UTC)
    rows = [
        ReadModelStatus(
            name=g.name, generation=g.generation, state=g.state, version=g.digest,
            declared_version=declared.get(g.name), position=g.position, head=head,
            lag_seconds=(now - oldest_pending[g.position + 1]).total_seconds()
            if g.position + 1 in oldest_pending else 0.0,
            updated_at=g.updated_at, failed_position=g.failed_position,
            last_error=g.last_error,
        )
        for g in generations
    ]
    active = {g.name for g in generations if g.state == "active"}
    rows += [
        ReadModelStatus(name=m.name, generation=None, state="missing", version=None,
                        declared_version=m.digest, position=0, head=head, lag_seconds=0.0,
                        updated_at=None, failed_position=None, last_error=None)
        for m in models if m.name not in active
    ]
    return sorted(rows, key=lambda r: (r.name, r.state != "active"))


def _event_times(app: Application[Any], positions: set[int]) -> dict[int, datetime]:
    """When the events at ``positions`` were recorded (one small read each)."""
    times: dict[int, datetime] = {}
    for position in sorted(positions):
        try:
            found = app.recorder.select_notifications(start=position, limit=1)
        except psycopg.Error:
            break
        if found:
            times[position] = app.mapper.to_domain_event(found[0]).timestamp
    return times
