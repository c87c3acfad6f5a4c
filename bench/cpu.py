"""CPU time spent by the client (this process), the server process and PostgreSQL during
a phase, read from /proc: on a 2-core machine this says who the bottleneck is without a
profiler. Linux only; elsewhere the figures are simply absent."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds) of a live process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2:].split()  # the name may contain spaces
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS


def _family_seconds(parent: int) -> float:
    """CPU seconds of a process and its direct children (PostgreSQL's backends, or
    uvicorn's worker processes and the projection worker of `vistone serve --workers`)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = _stat(int(entry.name))
        if stat is not None and (int(entry.name) == parent or stat[0] == parent):
            total += stat[1]
    return total


def postmaster_pid(pgdata: Path) -> int | None:
    try:
        return int((pgdata / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None


PARTIES = ("client", "server", "worker", "postgres")


@dataclass
class CpuSample:
    wall: float
    client: float
    server: float
    worker: float
    postgres: float


class CpuMeter:
    def __init__(self, server_pid: int | None, postmaster: int | None,
                 worker_pid: int | None = None) -> None:
        self.server_pid = server_pid
        self.worker_pid = worker_pid
        self.postmaster = postmaster
        self.available = Path("/proc/self/stat").exists()

    def sample(self) -> CpuSample:
        times = os.times()
        server = _family_seconds(self.server_pid) if self.available and self.server_pid \
            else 0.0
        worker = _stat(self.worker_pid) if self.available and self.worker_pid else None
        return CpuSample(
            wall=time.perf_counter(),
            client=times.user + times.system,
            server=server,
            worker=worker[1] if worker else 0.0,
            postgres=_family_seconds(self.postmaster)
            if self.available and self.postmaster else 0.0,
        )

    @staticmethod
    def usage(before: CpuSample, after: CpuSample, operations: int) -> dict[str, float]:
        """CPU milliseconds per operation, and cores busy on average, per party."""
        wall = max(after.wall - before.wall, 1e-9)
        usage: dict[str, float] = {}
        for party in PARTIES:
            seconds = getattr(after, party) - getattr(before, party)
            usage[f"{party}_cores"] = round(seconds / wall, 2)
            usage[f"{party}_cpu_ms_per_op"] = round(seconds * 1000 / operations, 3) \
                if operations else 0.0
        return usage


def wait_idle(seconds: float, log: Callable[[str], None]) -> None:
    """Wait up to ``seconds`` for the 1-minute load average to drop below 1: other work on
    the machine skews every figure."""
    deadline = time.monotonic() + seconds
    while os.getloadavg()[0] >= 1.0 and time.monotonic() < deadline:
        log(f"load average {os.getloadavg()[0]:.2f}; waiting for the machine to be idle")
        time.sleep(min(15.0, max(0.0, deadline - time.monotonic())))
