"""End to end through Kafka: commands sent over HTTP at a fixed pace (open loop, 200/s by
default), and for each answer the time until the analytics consumers have applied every
event up to the position it named (``monitoring.progress.applied_through``): the command,
the log, the relay's poll and send with acks=all, the broker, the consumer's poll, its
PostgreSQL transaction and the applied-through bookkeeping.

    .venv/bin/python -m bench.analytics_lag [--rate 200] [--seconds 20] [--json PATH]

The server runs on an embedded PostgreSQL in a temporary directory with the embedded
broker, as `./dev serve` does: by default `vistone serve --workers 2` (two uvicorn
workers, and the projections, the relay and one analytics consumer in its worker
process); `--workers 1` puts everything in one process (`bench/server.py`). Timings are printed,
never asserted (goal: p99 < 1 s at 200 commands/s)."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import tempfile
import time
from pathlib import Path

import psycopg

from bench.http_load import create_task_request, create_workspace
from bench.lag import ANALYTICS_POSITION, paced_lag
from bench.server_process import ServerProcess
from vistone.database import open_database

GOAL_P99_MS = 1000.0


def caught_up(database_url: str, timeout: float = 120.0) -> None:
    """Wait until the consumers applied the whole log (the workspace's set-up)."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(database_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            head = conn.execute("SELECT max(notification_id) FROM public.vistone_events"
                                ).fetchone()
            row = conn.execute("SELECT applied_through FROM monitoring.progress").fetchone()
            if head and head[0] and row and row[0] >= head[0]:
                return
            time.sleep(0.2)
    raise RuntimeError("the analytics consumers did not catch up with the set-up")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=200.0, help="commands per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2,
                        help="uvicorn workers (> 1: `vistone serve --workers N`, the relay and "
                        "the consumer in its worker process; 1: all in one process)")
    parser.add_argument("--json", type=Path, help="write the results to this file")
    args = parser.parse_args(argv)
    data_dir = Path(tempfile.mkdtemp(prefix="vistone-bench-analytics-"))
    database = open_database(None, data_dir)
    server = None
    try:
        # No KAFKA_BOOTSTRAP_SERVERS: the server starts the embedded broker.
        env = {"VISTONE_KAFKA": "in-process", "KAFKA_BOOTSTRAP_SERVERS": ""}
        server = ServerProcess(database.url, secrets.token_urlsafe(32), data_dir,
                               extra_env=env, workers=args.workers)
        server.wait_ready()
        workspace = create_workspace(server.base_url)
        caught_up(database.url)
        result = paced_lag(server.base_url, create_task_request(workspace), database.url,
                           "analytics", args.rate, args.seconds, clients=args.clients,
                           position_sql=ANALYTICS_POSITION)
        figures = result.summary()
        p99 = figures["lag_p99_ms"]
        summary = {**figures, "goal_p99_ms": GOAL_P99_MS, "workers": args.workers,
                   "goal_met": isinstance(p99, float) and p99 < GOAL_P99_MS
                   and result.unseen == 0 and result.pacing_held,
                   "cpus": os.cpu_count()}
        print(json.dumps(summary, indent=2))
        if args.json:
            args.json.write_text(json.dumps(summary, indent=2))
        return 0
    finally:
        if server is not None:
            server.stop()
        database.release()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
