"""The baseline: the raw eventsourcing save loop on the same PostgreSQL, with the
library's own recorder and a table of its own, so nothing of Vistone is in the way."""

from __future__ import annotations

import threading
import time
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate

from bench.stats import Throughput
from vistone.database import Database


class BenchItem(Aggregate):
    """The smallest aggregate there is: one Created event per save."""


class RawBaseline(Application[UUID]):
    name = "BenchBaseline"  # writes the table benchbaseline_events, not Vistone's log


def open_baseline(database: Database, threads: int) -> RawBaseline:
    env = database.eventsourcing_env(pool_size=max(threads, 2))
    env.pop("APPLICATION_RECORDER_TOPIC", None)
    return RawBaseline(env=env)


def save_loop(app: RawBaseline, threads: int, seconds: float) -> Throughput:
    """Create and save one aggregate per iteration from ``threads`` threads for ``seconds``."""
    counts = [0] * threads
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors = [0] * threads
    start_gate = threading.Barrier(threads + 1)
    deadline_box: list[float] = []

    def work(index: int) -> None:
        start_gate.wait()
        deadline = deadline_box[0]
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            try:
                app.save(BenchItem())
            except Exception:  # a failed save is counted, not fatal to the measurement
                errors[index] += 1
                continue
            latencies[index].append((time.perf_counter() - began) * 1000)
            counts[index] += 1

    workers = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(threads)]
    for worker in workers:
        worker.start()
    deadline_box.append(time.perf_counter() + seconds)
    started = time.perf_counter()
    start_gate.wait()
    for worker in workers:
        worker.join(seconds + 30)
    elapsed = time.perf_counter() - started
    return Throughput(sum(counts), elapsed, sum(errors),
                      [ms for per_thread in latencies for ms in per_thread])
