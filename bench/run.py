"""One run, every figure: the raw eventsourcing save loop (baseline), create-task commands
over HTTP against a real uvicorn process, task-list query throughput (driven by the Python
client, by wrk, or both), and projection lag at a fixed command rate. Prints a table with
the targets; ``--json`` keeps the results.

    .venv/bin/python -m bench.run [--quick] [--workers N] [--load-generator G] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import baseline, http_load, lag, wrk_load  # noqa: E402
from bench.cpu import PARTIES, CpuMeter, postmaster_pid, wait_idle  # noqa: E402
from bench.server_process import ServerProcess, projection_worker  # noqa: E402
from bench.stats import Throughput  # noqa: E402
from vistone.config import Settings  # noqa: E402
from vistone.database import open_database  # noqa: E402
from vistone.runtime import Runtime  # noqa: E402

TARGET_RATIO = 0.5
TARGET_QUERIES_PER_SECOND = 1000.0
TARGET_LAG_P99_MS = 200.0
GENERATORS = ("python", "wrk")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="about 3 s per phase")
    parser.add_argument("--json", type=Path, help="write the results to this file")
    parser.add_argument("--clients", type=int, default=8,
                        help="concurrent HTTP clients, and baseline threads (default 8)")
    parser.add_argument("--rate", type=float, default=200.0,
                        help="paced command rate for the lag phase (default 200/s)")
    parser.add_argument("--read-model", default="tasks",
                        help="tracked read model whose position the lag phase polls")
    parser.add_argument("--projections", choices=("in-process", "worker"), default="in-process",
                        help="run the read models in the server (default) or in a separate "
                        "`vistone worker` process")
    parser.add_argument("--workers", type=int, default=1,
                        help="HTTP worker processes (`vistone serve --workers N`; with more "
                        "than one the projections run in their own process)")
    parser.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                        help="first wait up to this long for the 1-minute load average to "
                        "drop below 1 (other work on the machine skews every figure)")
    parser.add_argument("--load-generator", choices=GENERATORS + ("both",),
                        default="both" if wrk_load.available() else "python",
                        help="who drives the closed-loop HTTP phases: the Python httpx "
                        "client, wrk, or both one after the other (default: both when wrk "
                        "is on PATH, else python)")
    parser.add_argument("--wait-for-tasks", type=float, default=0.0, metavar="SECONDS",
                        help="keep probing POST .../tasks this long before giving up")
    return parser.parse_args(argv)


def durations(quick: bool) -> dict[str, float]:
    if quick:
        return {"baseline": 3, "ceiling": 2, "commands": 3, "queries": 3, "lag": 3}
    return {"baseline": 10, "ceiling": 5, "commands": 15, "queries": 10, "lag": 15}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def metered(meter: CpuMeter, run: Callable[[], Throughput]) -> dict[str, Any]:
    before = meter.sample()
    outcome = run()
    after = meter.sample()
    return {**outcome.summary(), "cpu": meter.usage(before, after, outcome.operations)}


def metered_wrk(meter: CpuMeter, run: Callable[[], wrk_load.WrkResult]) -> dict[str, Any]:
    """Like ``metered``, with wrk's own CPU as the client column (this process only waits)."""
    before = meter.sample()
    outcome = run()
    after = meter.sample()
    cpu = meter.usage(before, after, outcome.requests)
    wall = max(after.wall - before.wall, 1e-9)
    cpu["client_cores"] = round(outcome.client_cpu_seconds / wall, 2)
    cpu["client_cpu_ms_per_op"] = (round(outcome.client_cpu_seconds * 1000 / outcome.requests,
                                         3) if outcome.requests else 0.0)
    return {**outcome.summary(), "cpu": cpu}


def generators(requested: str) -> tuple[list[str], str | None]:
    """The load generators to run, and a note when wrk was asked for but is missing."""
    wanted = list(GENERATORS) if requested == "both" else [requested]
    if "wrk" in wanted and not wrk_load.available():
        return ["python"], "wrk is not on PATH: the Python client drove every HTTP phase"
    return wanted, None


def measure_baseline(runtime: Runtime, meter: CpuMeter, clients: int,
                     seconds: float) -> dict[str, Any]:
    app = baseline.open_baseline(runtime.database, clients)
    try:
        baseline.save_loop(app, 1, min(1.0, seconds))  # warm the pool and the table
        log(f"baseline: raw save loop, 1 thread, {seconds}s")
        single = metered(meter, lambda: baseline.save_loop(app, 1, seconds))
        log(f"baseline: raw save loop, {clients} threads, {seconds}s")
        concurrent = metered(meter, lambda: baseline.save_loop(app, clients, seconds))
    finally:
        app.close()
    return {"single": single, "concurrent": concurrent}


def wait_for_tasks(base_url: str, workspace: http_load.Workspace, seconds: float) -> str | None:
    deadline = time.monotonic() + seconds
    while True:
        problem = http_load.probe(base_url, workspace)
        if problem is None or time.monotonic() >= deadline:
            return problem
        log(f"tasks endpoint not ready ({problem[:80]}); probing again in 30s")
        time.sleep(min(30.0, max(0.0, deadline - time.monotonic())))


def closed_loop_phase(generator: str, meter: CpuMeter, base_url: str, what: str,
                      workspace: http_load.Workspace | None, clients: int, seconds: float,
                      script_dir: Path) -> dict[str, Any]:
    """One closed-loop phase ("health", "commands" or "queries") driven by one generator."""
    if generator == "wrk":
        if what == "health":
            return metered_wrk(meter, lambda: wrk_load.run(f"{base_url}/health", clients,
                                                           seconds))
        assert workspace is not None
        url = f"{base_url}{workspace.tasks_path}"
        if what == "commands":
            script = wrk_load.write_create_task_script(script_dir, workspace)
            return metered_wrk(meter, lambda: wrk_load.run(url, clients, seconds,
                                                           script=script))
        return metered_wrk(meter, lambda: wrk_load.run(f"{url}?limit=50", clients, seconds,
                                                       headers=workspace.headers))
    if what == "health":
        send, ok = http_load.health_request(), (200,)
    elif what == "commands":
        assert workspace is not None
        send, ok = http_load.create_task_request(workspace), (200, 201)
    else:
        assert workspace is not None
        send, ok = http_load.list_tasks_request(workspace), (200,)
    return metered(meter, lambda: http_load.closed_loop(base_url, send, clients, seconds, ok=ok))


def measure_http(runtime: Runtime, server: ServerProcess, meter: CpuMeter,
                 args: argparse.Namespace, phase: dict[str, float], used: list[str],
                 script_dir: Path) -> dict[str, Any]:
    results: dict[str, Any] = {generator: {} for generator in used}
    for generator in used:
        log(f"[{generator}] harness ceiling: GET /health, {args.clients} clients, "
            f"{phase['ceiling']}s")
        results[generator]["health"] = closed_loop_phase(
            generator, meter, server.base_url, "health", None, args.clients, phase["ceiling"],
            script_dir)
    workspace = http_load.create_workspace(server.base_url)
    problem = wait_for_tasks(server.base_url, workspace, args.wait_for_tasks)
    if problem is not None:
        results["skipped"] = problem
        log(f"skipping the task phases: {problem}")
        return results

    for generator in used:
        head_before = runtime.app.recorder.max_notification_id() or 0
        log(f"[{generator}] create-task commands: {args.clients} clients, {phase['commands']}s")
        commands = closed_loop_phase(generator, meter, server.base_url, "commands", workspace,
                                     args.clients, phase["commands"], script_dir)
        head_after = runtime.app.recorder.max_notification_id() or 0
        # the Python clients' connection warm-up also created one task each; wrk has none,
        # but requests still in flight at its deadline complete uncounted
        extra = args.clients if generator == "python" else 0
        commands["events_per_command"] = (
            round((head_after - head_before) / (commands["operations"] + extra), 2)
            if commands["operations"] else None)
        results[generator]["commands"] = commands

    # The create phase has just filled a table PostgreSQL has no statistics for; without
    # them a prepared list query may get a generic plan that sorts the whole project
    # instead of walking its index. Autovacuum analyzes within a minute in a running
    # system; analyzing here measures that steady state, not autovacuum's timing.
    with psycopg.connect(runtime.database.url, autocommit=True) as conn:
        conn.execute("ANALYZE")

    for generator in used:
        log(f"[{generator}] task-list queries: {args.clients} clients, {phase['queries']}s")
        results[generator]["queries"] = closed_loop_phase(
            generator, meter, server.base_url, "queries", workspace, args.clients,
            phase["queries"], script_dir)

    log(f"projection lag (Python paced client): {args.rate:g} commands/s for {phase['lag']}s")
    lag_result = lag.paced_lag(server.base_url, http_load.create_task_request(workspace),
                               runtime.database.url, args.read_model, args.rate, phase["lag"])
    results["lag"] = lag_result.summary()
    return results


def verdict(met: bool | None) -> str:
    return "n/a" if met is None else ("yes" if met else "NO")


def generator_rows(name: str, http: dict[str, Any], raw: float, ratio: float,
                   clients: int) -> list[tuple[str, ...]]:
    commands, queries = http["commands"], http["queries"]
    rows = [
        (f"[{name}] HTTP create-task, {clients} clients (cmd/s)",
         f"{commands['per_second']:.0f}", f">= {TARGET_RATIO * raw:.0f}",
         verdict(ratio >= TARGET_RATIO)),
        (f"[{name}]   ratio HTTP / raw (same concurrency)", f"{ratio:.2f}x",
         f">= {TARGET_RATIO}x", verdict(ratio >= TARGET_RATIO)),
        (f"[{name}]   create-task latency p50 / p99 (ms)",
         f"{commands['p50_ms']} / {commands['p99_ms']}", "-", "-"),
        (f"[{name}]   errors / events per command", f"{commands['errors']} / "
         f"{commands['events_per_command']}", "0", verdict(commands["errors"] == 0)),
        (f"[{name}] task-list ?limit=50, {clients} clients (q/s)",
         f"{queries['per_second']:.0f}", f">= {TARGET_QUERIES_PER_SECOND:.0f}",
         verdict(queries["per_second"] >= TARGET_QUERIES_PER_SECOND)),
        (f"[{name}]   task-list latency p50 / p99 (ms)",
         f"{queries['p50_ms']} / {queries['p99_ms']}", "-", "-"),
    ]
    return rows


def table_rows(results: dict[str, Any], clients: int, rate: float) -> list[tuple[str, ...]]:
    base = results["baseline"]
    http = results["http"]
    raw = base["concurrent"]["per_second"]
    rows = [
        ("raw save loop, 1 thread (saves/s)", f"{base['single']['per_second']:.0f}", "-", "-"),
        (f"raw save loop, {clients} threads (saves/s)", f"{raw:.0f}", "-", "-"),
    ]
    used = [g for g in GENERATORS if g in http]
    rows += [(f"[{g}] GET /health, {clients} clients (req/s; harness ceiling)",
              f"{http[g]['health']['per_second']:.0f}", "-", "-") for g in used]
    if "lag" not in http:
        rows.append(("HTTP task phases", "skipped", "-", "see the reason below"))
        return rows
    for generator in used:
        rows += generator_rows(generator, http[generator], raw,
                               results["ratio_http_to_raw"][generator], clients)
    lag_summary = http["lag"]
    p99_lag = lag_summary["lag_p99_ms"]
    rows += [
        (f"projection lag p50 at {rate:g} cmd/s (ms)", str(lag_summary["lag_p50_ms"]), "-", "-"),
        (f"projection lag p99 at {rate:g} cmd/s (ms)", str(p99_lag),
         f"< {TARGET_LAG_P99_MS:.0f}",
         verdict(None if p99_lag is None else p99_lag < TARGET_LAG_P99_MS)),
        ("  pacing held (achieved cmd/s, send slip p99 ms)",
         f"{lag_summary['achieved_rate']:.0f}, {lag_summary['send_slip_p99_ms']}",
         f"{rate:g}", verdict(lag_summary["pacing_held"])),
    ]
    return rows


def print_table(rows: list[tuple[str, ...]]) -> None:
    header = ("metric", "value", "target", "met?")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    line = "  ".join("-" * w for w in widths)
    print(line)
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
        if row is header:
            print(line)
    print(line)


def cpu_rows(results: dict[str, Any]) -> list[tuple[str, ...]]:
    phases = [("raw save, 1 thread", results["baseline"]["single"]),
              ("raw save, concurrent", results["baseline"]["concurrent"])]
    http = results.get("http", {})
    for generator in (g for g in GENERATORS if g in http):
        phases += [(f"[{generator}] {label}", http[generator][key]) for label, key in
                   (("GET /health", "health"), ("create-task", "commands"),
                    ("task-list", "queries")) if key in http[generator]]
    rows = []
    for label, summary in phases:
        cpu = summary["cpu"]
        rows.append((label, *(f"{cpu[f'{p}_cpu_ms_per_op']:.2f} ({cpu[f'{p}_cores']:.2f})"
                              for p in PARTIES)))
    return rows


def print_cpu_table(rows: list[tuple[str, ...]]) -> None:
    header = ("CPU ms per op (cores busy)", *PARTIES)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wait_idle(args.wait_idle, log)
    load_before = os.getloadavg()
    phase = durations(args.quick)
    used, fallback_note = generators(args.load_generator)
    if fallback_note:
        log(fallback_note)
    data_dir = Path(tempfile.mkdtemp(prefix="vistone-bench-"))
    jwt_secret = secrets.token_urlsafe(32)
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "settings": {"clients": args.clients, "rate": args.rate, "quick": args.quick,
                     "projections": args.projections, "workers": args.workers,
                     "load_generators": used, "load_generator_note": fallback_note,
                     "durations_s": phase},
    }
    database = open_database(None, data_dir)
    runtime: Runtime | None = None
    server: ServerProcess | None = None
    worker: ServerProcess | None = None
    try:
        log(f"embedded PostgreSQL in {data_dir}")
        runtime = Runtime.open(Settings(data_dir=data_dir, jwt_secret=jwt_secret))
        postmaster = postmaster_pid(data_dir / "pgdata")
        results["baseline"] = measure_baseline(runtime, CpuMeter(None, postmaster),
                                               args.clients, phase["baseline"])
        log("starting uvicorn (bench/server.py)")
        external = args.projections == "worker"
        server = ServerProcess(runtime.database.url, jwt_secret, data_dir / "server",
                               {"VISTONE_PROJECTIONS": "external" if external else "in-process"},
                               workers=args.workers)
        server.wait_ready()
        if external:
            log("starting the projection worker (vistone worker)")
            worker = projection_worker(runtime.database.url, jwt_secret, data_dir / "server")
        meter = CpuMeter(server.process.pid, postmaster, worker and worker.process.pid)
        results["http"] = measure_http(runtime, server, meter, args, phase, used,
                                       data_dir / "wrk")
        if "lag" in results["http"]:
            raw = results["baseline"]["concurrent"]["per_second"]
            results["ratio_http_to_raw"] = {
                g: round(results["http"][g]["commands"]["per_second"] / raw, 3) if raw else 0.0
                for g in used}
    finally:
        for process in (worker, server):
            if process is not None:
                process.stop()
        if runtime is not None:
            runtime.close()
        if database.embedded is not None:
            database.embedded.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    results["machine"]["load_average_before"] = [round(x, 2) for x in load_before]
    results["machine"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]

    rows = table_rows(results, args.clients, args.rate)
    results["table"] = [dict(zip(("metric", "value", "target", "met"), r, strict=True))
                        for r in rows]
    print_table(rows)
    print()
    print_cpu_table(cpu_rows(results))
    print("client = this Python process on [python] rows, the wrk process on [wrk] rows; "
          "server includes its child processes (uvicorn workers, projection worker)")
    print(f"load average (1/5/15 min) before {results['machine']['load_average_before']}, "
          f"after {results['machine']['load_average_after']}; "
          f"{results['machine']['cpus']} CPUs")
    if fallback_note:
        print(fallback_note)
    if "skipped" in results.get("http", {}):
        print(f"task phases skipped: {results['http']['skipped']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, default=str))
        log(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
