"""Small numeric helpers shared by the benchmark phases."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile; None for no samples."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Throughput:
    operations: int
    seconds: float
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list, repr=False)
    first_error: str | None = None

    @property
    def per_second(self) -> float:
        return self.operations / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> dict[str, float | int | str | None]:
        return {
            "operations": self.operations,
            "seconds": round(self.seconds, 3),
            "per_second": round(self.per_second, 1),
            "errors": self.errors,
            "p50_ms": _round(percentile(self.latencies_ms, 50)),
            "p99_ms": _round(percentile(self.latencies_ms, 99)),
            "first_error": self.first_error,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
