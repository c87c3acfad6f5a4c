"""Projection lag: commands sent at a fixed pace (open loop), and for each answer the time
until the read model's tracked position reaches the position the answer named."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import psycopg

from bench.stats import percentile

POLL_INTERVAL_SECONDS = 0.001


@dataclass
class LagResult:
    target_rate: float
    sent: int
    answered: int
    errors: int
    seconds: float
    lags_ms: list[float] = field(repr=False)
    send_slips_ms: list[float] = field(repr=False)
    unseen: int  # answers whose position the read model never showed within the wait
    first_error: str | None = None

    @property
    def achieved_rate(self) -> float:
        return self.answered / self.seconds if self.seconds > 0 else 0.0

    @property
    def pacing_held(self) -> bool:
        slip = percentile(self.send_slips_ms, 99)
        return (self.achieved_rate >= 0.95 * self.target_rate and slip is not None
                and slip <= 20.0 and self.errors == 0)

    def summary(self) -> dict[str, object]:
        def rounded(value: float | None) -> float | None:
            return None if value is None else round(value, 2)
        return {
            "target_rate": self.target_rate,
            "achieved_rate": round(self.achieved_rate, 1),
            "sent": self.sent, "answered": self.answered, "errors": self.errors,
            "unseen": self.unseen,
            "lag_p50_ms": rounded(percentile(self.lags_ms, 50)),
            "lag_p99_ms": rounded(percentile(self.lags_ms, 99)),
            "lag_max_ms": rounded(max(self.lags_ms) if self.lags_ms else None),
            "send_slip_p99_ms": rounded(percentile(self.send_slips_ms, 99)),
            "pacing_held": self.pacing_held,
            "first_error": self.first_error,
        }


class _Pending:
    """Answers waiting to become visible, resolved by one poller."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[tuple[int, float]] = []
        self.lags_ms: list[float] = []

    def add(self, position: int, answered_at: float) -> None:
        with self._lock:
            self._items.append((position, answered_at))

    def resolve(self, visible_position: int, seen_at: float) -> None:
        with self._lock:
            still = []
            for position, answered_at in self._items:
                if position <= visible_position:
                    self.lags_ms.append(max(0.0, seen_at - answered_at) * 1000)
                else:
                    still.append((position, answered_at))
            self._items = still

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


READ_MODEL_POSITION = ("SELECT position FROM public.read_model_versions "
                       "WHERE name = %s AND state = 'active'")
# Every event up to it applied by the Kafka analytics consumers (analytics/store.py).
ANALYTICS_POSITION = "SELECT applied_through FROM monitoring.progress WHERE %s::text IS NOT NULL"


def paced_lag(base_url: str, send: Callable[[httpx.Client, int], httpx.Response],
              database_url: str, read_model: str, rate: float, seconds: float,
              clients: int = 16, max_wait_seconds: float = 10.0,
              position_sql: str = READ_MODEL_POSITION) -> LagResult:
    """``position_sql``: the visible position, given ``read_model`` as its parameter."""
    total = int(rate * seconds)
    pending = _Pending()
    slips: list[float] = []
    errors: list[str] = []
    answered = [0]
    lock = threading.Lock()
    next_index = [0]
    sending_done = threading.Event()
    start_at = time.perf_counter() + 0.5  # time for every client to connect first

    def take() -> int | None:
        with lock:
            if next_index[0] >= total:
                return None
            next_index[0] += 1
            return next_index[0] - 1

    def work() -> None:
        with httpx.Client(base_url=base_url, timeout=30) as client:
            client.get("/health")
            while (index := take()) is not None:
                due = start_at + index / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                sent_at = time.perf_counter()
                try:
                    response = send(client, index)
                except httpx.HTTPError as error:
                    with lock:
                        errors.append(repr(error))
                    continue
                answered_at = time.perf_counter()
                with lock:
                    slips.append(max(0.0, sent_at - due) * 1000)
                    if response.status_code in (200, 201):
                        answered[0] += 1
                    else:
                        errors.append(f"HTTP {response.status_code} {response.text[:200]}")
                        continue
                position = response.json().get("position")
                if position is not None:
                    pending.add(int(position), answered_at)

    def poll() -> None:
        with psycopg.connect(database_url, autocommit=True) as conn:
            wait_until: float | None = None
            while True:
                row = conn.execute(position_sql,  # type: ignore[call-overload]
                                   (read_model,)).fetchone()
                seen_at = time.perf_counter()
                if row is not None:
                    pending.resolve(int(row[0]), seen_at)
                if sending_done.is_set():
                    wait_until = wait_until or seen_at + max_wait_seconds
                    if len(pending) == 0 or seen_at > wait_until:
                        return
                time.sleep(POLL_INTERVAL_SECONDS)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    workers = [threading.Thread(target=work, daemon=True) for _ in range(clients)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(seconds + 120)
    finished = time.perf_counter()
    sending_done.set()
    poller.join(max_wait_seconds + 30)
    return LagResult(rate, len(slips), answered[0], len(errors), finished - start_at,
                     list(pending.lags_ms), slips, len(pending),
                     errors[0] if errors else None)
