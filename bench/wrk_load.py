"""HTTP phases driven by `wrk` (C, epoll): on a small machine the Python client costs ~0.9 ms
CPU per request and caps the throughput it can measure; wrk costs a fraction of that.
Debian/Ubuntu: `apt-get install wrk`. When it is missing the benchmark uses the Python client."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.http_load import Workspace

TIME_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


class WrkFailed(RuntimeError):
    pass


def available() -> bool:
    return shutil.which("wrk") is not None


@dataclass
class WrkResult:
    requests: int
    seconds: float
    per_second: float
    p50_ms: float | None
    p99_ms: float | None
    non_2xx: int
    socket_errors: dict[str, int]
    client_cpu_seconds: float  # wrk's own CPU (user + system), from os.times() of children

    def summary(self) -> dict[str, object]:
        return {"operations": self.requests, "seconds": self.seconds,
                "per_second": round(self.per_second, 1), "errors": self.non_2xx,
                "p50_ms": self.p50_ms, "p99_ms": self.p99_ms,
                "socket_errors": self.socket_errors, "first_error": None}


def _lua(text: str) -> str:
    """A Lua string literal (JSON escapes are valid Lua escapes for ASCII text)."""
    return json.dumps(text, ensure_ascii=True)


def write_create_task_script(directory: Path, workspace: Workspace) -> Path:
    """One static request: wrk formats it once per connection, so the client stays cheap."""
    body = json.dumps({"title": "wrk bench task"})
    script = directory / "create_task.lua"
    directory.mkdir(parents=True, exist_ok=True)
    script.write_text(
        "-- written by bench/wrk_load.py for one benchmark run\n"
        'wrk.method = "POST"\n'
        f"wrk.body = {_lua(body)}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = {_lua("Bearer " + workspace.token)}\n'
    )
    return script


def _milliseconds(value: str, unit: str) -> float:
    return round(float(value) * TIME_UNITS_MS[unit], 2)


def parse(output: str, client_cpu_seconds: float = 0.0) -> WrkResult:
    """The figures of `wrk --latency` text output."""
    totals = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m|h)", output)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if totals is None or rate is None:
        raise WrkFailed(f"unexpected wrk output:\n{output}")
    percentiles = {p: _milliseconds(v, u) for p, v, u in
                   re.findall(r"^\s+(50|99)(?:\.000)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", output,
                              re.MULTILINE)}
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                        output)
    socket_errors = dict(zip(("connect", "read", "write", "timeout"),
                             (int(n) for n in sockets.groups()), strict=True)) if sockets else {}
    return WrkResult(
        requests=int(totals.group(1)),
        seconds=_milliseconds(totals.group(2), totals.group(3)) / 1000,
        per_second=float(rate.group(1)),
        p50_ms=percentiles.get("50"), p99_ms=percentiles.get("99"),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=socket_errors,
        client_cpu_seconds=round(client_cpu_seconds, 3),
    )


def run(url: str, clients: int, seconds: float, headers: dict[str, str] | None = None,
        script: Path | None = None) -> WrkResult:
    """`wrk -t2 -c<clients> -d<seconds> --latency`; raises on any non-2xx or socket error,
    because a throughput made of error answers means nothing."""
    command = ["wrk", f"-t{min(2, clients)}", f"-c{clients}", f"-d{max(1, round(seconds))}s",
               "--latency", "--timeout", "10s"]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    if script is not None:
        command += ["-s", str(script)]
    command.append(url)
    before = os.times()
    completed = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60,
                               check=False)
    after = os.times()
    # wrk is the only child reaped in between, so the children's CPU delta is wrk's
    cpu = (after.children_user + after.children_system
           - before.children_user - before.children_system)
    output = completed.stdout + completed.stderr
    if completed.returncode != 0:
        raise WrkFailed(f"wrk exited with {completed.returncode}:\n{output}")
    result = parse(output, cpu)
    if result.non_2xx or any(result.socket_errors.values()):
        raise WrkFailed(f"wrk saw {result.non_2xx} non-2xx answers and socket errors "
                        f"{result.socket_errors} against {url}:\n{output}")
    return result
