"""Full rebuild throughput of the read models, against the raw rate of reading and
decoding the log, measured in the same run on a throw-away embedded PostgreSQL.

    .venv/bin/python -m bench.rebuild [--events N] [--threads T] [--profile] [--json PATH]

1. Fills the log through the command functions (vistone/commands/*) from ``--threads``
   threads, one organization at a time per thread, until it holds ``--events`` events:
   users, organizations and members, projects and members, tasks with checklist items,
   dependencies, updates and status changes, channels with members and messages (with
   edits and deletes), time logs (with edits and deletes). Then brings every read model
   to the head (the first build, timed too).
2. **Raw**: reads the whole log in batches of 500 (``select_notifications``) and decodes
   every event (``mapper.to_domain_event``): events/s (median of three passes, after one
   warm-up pass); also the read alone, without decoding.
3. **Rebuild, all read models**: ``request_rebuild`` for every read model, then
   ``catch_up`` until every building generation is swapped in: events/s = events in the
   log / seconds (each event is applied to every read model whose topics include it; the
   count per model is printed). Ratio rebuild / raw (goal >= 0.5x). Row counts of every
   read-model table are compared before and after (same rows expected).
4. **Rebuild, one read model** (``--single``, default tasks) the same way, for comparison.
5. With ``--profile``: one more full rebuild with timers around each stage (log reads,
   decoding, handlers, the rest of each batch transaction, catalogue reads, swaps, DDL),
   then one under cProfile (top functions by own time). Those runs are not the measured
   one: the timers and the profiler slow it down.

Only 127.0.0.1 is used; the data directory is removed at the end. Timings are printed,
never asserted.
"""

from __future__ import annotations

import os

# Cheap argon2id for the users the fill registers (read when vistone.security is imported).
os.environ.setdefault("VISTONE_ARGON2_MEMORY_KIB", "8192")
os.environ.setdefault("VISTONE_ARGON2_TIME_COST", "1")

import argparse  # noqa: E402
import cProfile  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import pstats  # noqa: E402
import random  # noqa: E402
import secrets  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections import Counter, defaultdict  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from datetime import date, timedelta  # noqa: E402
from decimal import Decimal  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402
from uuid import UUID  # noqa: E402

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.cpu import CpuMeter, postmaster_pid, wait_idle  # noqa: E402
from domain.base import CommandContext  # noqa: E402
from domain.channel import ChannelKind  # noqa: E402
from domain.project import ProjectRole, ProjectStatus  # noqa: E402
from domain.roles import Role  # noqa: E402
from domain.task import TaskPriority, TaskStatus  # noqa: E402
from projections import runner  # noqa: E402
from projections.base import ReadModel  # noqa: E402
from projections.registry import all_read_models  # noqa: E402
from projections.runner import catch_up  # noqa: E402
from projections.versions import read_generations, request_rebuild  # noqa: E402
from vistone.app import Command, Vistone  # noqa: E402
from vistone.commands import (  # noqa: E402
    channels,
    organizations,
    projects,
    tasks,
    timelogs,
    users,
)
from vistone.config import Settings  # noqa: E402
from vistone.database import open_database  # noqa: E402
from vistone.runtime import Runtime  # noqa: E402

TARGET_RATIO = 0.5
BATCH = 500
PASSWORD = "bench-password"  # noqa: S105 - throw-away users of a throw-away database


def log(message: str) -> None:
    print(f"[rebuild {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=30_000,
                        help="fill the log until it holds at least this many events "
                        "(default 30000; ~1,000 per organization)")
    parser.add_argument("--threads", type=int, default=4,
                        help="threads issuing commands during the fill (default 4)")
    parser.add_argument("--single", default="tasks",
                        help="the read model rebuilt alone for comparison (default tasks)")
    parser.add_argument("--profile", action="store_true",
                        help="also time each stage of a full rebuild and profile one")
    parser.add_argument("--json", type=Path, help="write the results to this file")
    parser.add_argument("--seed", type=int, default=5, help="random seed of the fill")
    parser.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                        help="first wait up to this long for the 1-minute load average to "
                        "drop below 1 (other work on the machine skews every figure)")
    return parser.parse_args(argv)


# --------------------------------------------------------------------------- the fill


class Filler:
    """Fills the log through the command functions, one organization per call."""

    def __init__(self, app: Vistone, seed: int) -> None:
        self.app = app
        self.seed = seed
        self.commands = Counter[str]()
        self._lock = threading.Lock()
        self._next = 0
        self.today = date.today()

    def next_index(self) -> int:
        with self._lock:
            self._next += 1
            return self._next

    def organization(self, n: int) -> None:
        app, rng, today = self.app, random.Random(self.seed * 100_003 + n), self.today
        done = Counter[str]()

        def run(func: Callable[..., Any], ctx: CommandContext, *args: Any,
                **kwargs: Any) -> Any:
            result = func(Command(app, ctx), *args, **kwargs)
            done[func.__name__] += 1
            return result

        def ctx_of(actor: UUID | None) -> CommandContext:
            return CommandContext(actor_id=actor, correlation_id=f"bench-{n}",
                                  causation_id=f"bench-{n}")

        system = ctx_of(None)
        people = [run(users.register_user, system, email=f"person{i}.org{n}@bench.example",
                      name=f"Person {i} of {n}", password=PASSWORD).id for i in range(6)]
        owner, manager, contributors, client = people[0], people[1], people[2:5], people[5]
        octx = ctx_of(owner)
        org = run(organizations.create_organization, octx, name=f"Agency {n}",
                  slug=f"agency-{n}").id
        for user, role in [(manager, Role.MANAGER), *((c, Role.CONTRIBUTOR)
                                                      for c in contributors),
                           (client, Role.CLIENT)]:
            run(organizations.add_member, octx, org, user_id=user, role=role)

        team = run(channels.create_channel, octx, org, kind=ChannelKind.TEAM,
                   name="general").id
        for user in (manager, *contributors):
            run(channels.add_channel_member, octx, org, team, user)
        direct = run(channels.create_channel, octx, org, kind=ChannelKind.DIRECT,
                     user_id=manager).id
        self._messages(run, ctx_of, org, team, [owner, manager, *contributors], rng, 12)
        self._messages(run, ctx_of, org, direct, [owner, manager], rng, 4)

        for p in range(3):
            project = run(projects.create_project, octx, org, name=f"Project {p}",
                          description=f"Client work {p} of {n}",
                          start_date=today - timedelta(days=60),
                          end_date=today + timedelta(days=90),
                          budget=Decimal(rng.randrange(5_000, 90_000))).id
            run(projects.change_project_status, octx, org, project,
                status=ProjectStatus.ACTIVE)
            for user, prole in [(manager, ProjectRole.LEAD),
                                *((c, ProjectRole.MEMBER) for c in contributors),
                                (client, ProjectRole.VIEWER)]:
                run(projects.add_project_member, octx, org, project, user_id=user, role=prole)
            channel = run(channels.create_channel, octx, org, kind=ChannelKind.PROJECT,
                          name=f"project-{p}", project_id=project).id
            for user in (manager, *contributors):
                run(channels.add_channel_member, octx, org, channel, user)
            task_ids = self._tasks(run, octx, org, project, contributors, rng, 20)
            self._messages(run, ctx_of, org, channel, [manager, *contributors], rng, 15)
            self._time_logs(run, ctx_of, org, task_ids, contributors, rng, p)
        with self._lock:
            self.commands.update(done)

    def _tasks(self, run: Callable[..., Any], octx: CommandContext, org: UUID, project: UUID,
               contributors: list[UUID], rng: random.Random, count: int) -> list[UUID]:
        ids: list[UUID] = []
        for t in range(count):
            parent = ids[-1] if ids and rng.random() < 0.15 else None
            task = run(tasks.create_task, octx, org, project, title=f"Task {t}",
                       description="Do the thing well", priority=rng.choice(list(TaskPriority)),
                       due_date=self.today + timedelta(days=rng.randrange(1, 60)),
                       parent_id=parent, assignee_id=rng.choice(contributors)).id
            ids.append(task)
            items = [run(tasks.add_checklist_item, octx, org, task, text=f"Step {i}")[1]
                     for i in range(3)]
            for item in items[:rng.randrange(0, 3)]:
                run(tasks.update_checklist_item, octx, org, task, item, done=True)
            if rng.random() < 0.1:
                run(tasks.remove_checklist_item, octx, org, task, items[-1])
            if rng.random() < 0.3:
                run(tasks.update_task, octx, org, task,
                    changes={"description": "Scope changed", "priority": TaskPriority.HIGH})
            if rng.random() < 0.2:
                run(tasks.assign_task, octx, org, task, assignee_id=rng.choice(contributors))
            if len(ids) > 1 and rng.random() < 0.5:
                run(tasks.add_dependency, octx, org, task, depends_on_id=ids[-2])
            if rng.random() < 0.7:
                run(tasks.change_task_status, octx, org, task, status=TaskStatus.IN_PROGRESS)
                if rng.random() < 0.5:
                    run(tasks.change_task_status, octx, org, task, status=TaskStatus.COMPLETED)
        return ids

    def _messages(self, run: Callable[..., Any], ctx_of: Callable[[UUID | None], CommandContext],
                  org: UUID, channel: UUID, members: list[UUID], rng: random.Random,
                  count: int) -> None:
        for m in range(count):
            sender = ctx_of(rng.choice(members))
            mentions = [rng.choice(members)] if rng.random() < 0.3 else []
            attachments = ([{"url": f"https://files.example/{m}.pdf",
                             "file_type": "application/pdf"}] if rng.random() < 0.1 else [])
            message = run(channels.post_message, sender, org, channel,
                          content=f"Message {m}: status update", mentions=mentions,
                          attachments=attachments).id
            roll = rng.random()
            if roll < 0.2:
                run(channels.edit_message, sender, org, message,
                    content=f"Message {m}, edited")
            elif roll < 0.3:
                run(channels.delete_message, sender, org, message)

    def _time_logs(self, run: Callable[..., Any],
                   ctx_of: Callable[[UUID | None], CommandContext], org: UUID,
                   task_ids: list[UUID], contributors: list[UUID], rng: random.Random,
                   project_index: int) -> None:
        for c, person in enumerate(contributors):
            pctx = ctx_of(person)
            for k in range(10):
                # at most 3 projects x 2 h on a day per person: far below 24 h
                entry = run(timelogs.log_time, pctx, org,
                            task_id=task_ids[(k * 2 + c) % len(task_ids)],
                            work_date=self.today - timedelta(days=(k * 3 + c) % 40),
                            hours=Decimal(rng.choice(("0.5", "1.25", "2"))),
                            description=f"Work {k}").id
                roll = rng.random()
                if roll < 0.15:
                    run(timelogs.edit_time_log, pctx, org, entry,
                        changes={"hours": Decimal("1.75")})
                elif roll < 0.25:
                    moved = self.today - timedelta(days=45 + project_index)
                    run(timelogs.edit_time_log, pctx, org, entry, changes={"work_date": moved})
                elif roll < 0.33:
                    run(timelogs.delete_time_log, pctx, org, entry)


def head_of(app: Vistone) -> int:
    return app.recorder.max_notification_id() or 0


def fill(app: Vistone, target: int, threads: int, seed: int) -> dict[str, Any]:
    filler = Filler(app, seed)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            while head_of(app) < target and not errors:
                filler.organization(filler.next_index())
        except BaseException as error:  # stop everyone, report once
            errors.append(error)

    started = time.perf_counter()
    workers = [threading.Thread(target=work, name=f"fill-{i}", daemon=True)
               for i in range(threads)]
    for worker in workers:
        worker.start()
    last = started
    while any(w.is_alive() for w in workers):
        for worker in workers:
            worker.join(0.5)
        if time.perf_counter() - last >= 15:
            last = time.perf_counter()
            log(f"fill: {head_of(app):,} events after {last - started:.0f}s")
    if errors:
        raise errors[0]
    seconds = time.perf_counter() - started
    commands = sum(filler.commands.values())
    return {"events": head_of(app), "organizations": filler._next, "commands": commands,
            "seconds": round(seconds, 1), "commands_per_second": round(commands / seconds, 1),
            "commands_by_kind": dict(filler.commands.most_common())}


# --------------------------------------------------------------------------- measurements


def topic_counts(runtime: Runtime) -> Counter[str]:
    recorder = runtime.app.vistone_recorder
    with runtime.pool.connection() as conn:
        rows = conn.execute(
            f'SELECT topic, count(*) FROM "{recorder.datastore.schema}".'
            f'"{recorder.events_table_name}" GROUP BY topic').fetchall()
    return Counter({topic: count for topic, count in rows})


def applied_per_model(models: list[ReadModel], counts: Counter[str]) -> dict[str, int]:
    return {m.name: sum(counts[t] for t in m.topics) for m in models}


def row_counts(runtime: Runtime, models: list[ReadModel]) -> dict[str, int]:
    counts: dict[str, int] = {}
    with runtime.pool.connection() as conn:
        for model in models:
            for table in model.tables:
                row = conn.execute(f'SELECT count(*) FROM "{model.schema}"."{table}"').fetchone()
                counts[f"{model.schema}.{table}"] = row[0] if row else -1
    return counts


def raw_pass(app: Vistone, head: int, decode: bool) -> float:
    """Seconds to read (and decode) the whole log in batches of 500."""
    started = time.perf_counter()
    position, seen = 0, 0
    to_domain_event = app.mapper.to_domain_event
    while position < head:
        batch = app.recorder.select_notifications(start=position + 1, limit=BATCH, stop=head)
        if not batch:
            break
        if decode:
            for notification in batch:
                to_domain_event(notification)
        seen += len(batch)
        position = batch[-1].id
    seconds = time.perf_counter() - started
    if seen != head:
        raise RuntimeError(f"read {seen} events of {head}")
    return seconds


def measure_raw(runtime: Runtime, meter: CpuMeter, head: int) -> dict[str, Any]:
    app = runtime.app
    raw_pass(app, head, decode=True)  # warm-up: buffers, topic resolution, code paths
    before = meter.sample()
    decoded = [raw_pass(app, head, decode=True) for _ in range(3)]
    after = meter.sample()
    read_only = [raw_pass(app, head, decode=False) for _ in range(3)]
    seconds = statistics.median(decoded)
    read_seconds = statistics.median(read_only)
    return {"seconds": round(seconds, 3), "events_per_second": round(head / seconds),
            "passes_s": [round(s, 3) for s in decoded],
            "read_only_seconds": round(read_seconds, 3),
            "read_only_events_per_second": round(head / read_seconds),
            "cpu": meter.usage(before, after, head * 3)}


def active_generations(runtime: Runtime, models: list[ReadModel]) -> dict[str, int]:
    with runtime.pool.connection() as conn:
        generations = read_generations(conn, [m.name for m in models]) or []
    return {g.name: g.generation for g in generations if not g.building}


def rebuild(runtime: Runtime, meter: CpuMeter, models: list[ReadModel],
            head: int) -> dict[str, Any]:
    """request_rebuild for ``models``, then catch_up until every one is swapped in."""
    app, pool = runtime.app, runtime.pool
    before = meter.sample()
    started = time.perf_counter()
    requested = {m.name: request_rebuild(pool, m).generation for m in models}
    requested_at = time.perf_counter()
    catch_up(app, pool, models)
    seconds = time.perf_counter() - started
    after = meter.sample()
    active = active_generations(runtime, models)
    missing = [name for name, generation in requested.items() if active.get(name) != generation]
    if missing:
        raise RuntimeError(f"not swapped in: {missing}")
    if head_of(app) != head:
        raise RuntimeError("the log moved during the rebuild")
    return {"seconds": round(seconds, 3), "events_per_second": round(head / seconds),
            "request_rebuild_s": round(requested_at - started, 3),
            "cpu": meter.usage(before, after, head)}


# --------------------------------------------------------------------------- profiling


class Stages:
    """Wall time spent in each stage of a rebuild (timers wrapped around the functions
    the runner calls; the rebuild runs in one thread, so the stages add up)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls = Counter[str]()
        self.rows = Counter[str]()

    def wrap(self, name: str, func: Callable[..., Any],
             rows: Callable[[Any], int] | None = None) -> Callable[..., Any]:
        seconds, calls, counted = self.seconds, self.calls, self.rows

        def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                result = func(*args, **kwargs)
            finally:
                seconds[name] += time.perf_counter() - began
                calls[name] += 1
            if rows is not None:
                counted[name] += rows(result)
            return result

        return timed


class CountingCursor:
    """Passes everything to the real cursor, counting statements (and rows asked for,
    each of which makes the pipeline wait for the server) under ``name``."""

    def __init__(self, cursor: Any, counter: Counter[str], name: str) -> None:
        self._cursor = cursor
        self._counter = counter
        self._name = name

    def execute(self, *args: Any, **kwargs: Any) -> CountingCursor:
        self._counter[self._name] += 1
        self._cursor.execute(*args, **kwargs)
        return self

    def executemany(self, query: Any, params_seq: Any, **kwargs: Any) -> Any:
        params = list(params_seq)
        self._counter[self._name] += len(params)
        return self._cursor.executemany(query, params, **kwargs)

    def fetchone(self) -> Any:
        self._counter[f"{self._name} fetches"] += 1
        return self._cursor.fetchone()

    def fetchall(self) -> Any:
        self._counter[f"{self._name} fetches"] += 1
        return self._cursor.fetchall()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


@contextmanager
def instrumented(runtime: Runtime, models: list[ReadModel], stages: Stages,
                 statements: Counter[str]) -> Iterator[None]:
    app = runtime.app
    patches: list[tuple[Any, str, Any]] = []

    def patch(owner: Any, attr: str, replacement: Any) -> None:
        patches.append((owner, attr, owner.__dict__.get(attr, _ABSENT)))
        setattr(owner, attr, replacement)

    patch(app.recorder, "select_notifications",
          stages.wrap("read the log (select_notifications)", app.recorder.select_notifications,
                      rows=len))
    patch(app.mapper, "to_domain_event",
          stages.wrap("decode (to_domain_event)", app.mapper.to_domain_event))
    patch(runner, "_catalogue", stages.wrap("head + catalogue (_catalogue)", runner._catalogue))
    patch(runner, "_apply_batch", stages.wrap("batch transaction (_apply_batch)",
                                              runner._apply_batch))
    patch(runner, "swap_in", stages.wrap("swap in (swap_in)", runner.swap_in))
    patch(runner, "reconcile", stages.wrap("reconcile", runner.reconcile))
    for model in models:
        original = model.apply

        def apply(cursor: Any, event: Any, _original: Callable[..., Any] = original,
                  _name: str = model.name) -> None:
            _original(CountingCursor(cursor, statements, _name), event)

        patch(model, "apply", stages.wrap(f"    handlers: {model.name}", apply))
    try:
        yield
    finally:
        for owner, attr, previous in reversed(patches):
            if previous is _ABSENT:
                delattr(owner, attr)
            else:
                setattr(owner, attr, previous)


_ABSENT = object()


class NullCursor:
    """Takes statements and sends nothing: what the handlers cost without psycopg and
    PostgreSQL. A row asked for (the time-log edits look up the log's keys) is Nones."""

    statements = 0

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> NullCursor:
        self.statements += 1
        return self

    def executemany(self, query: Any, params_seq: Any, **kwargs: Any) -> None:
        self.statements += len(list(params_seq))

    def fetchone(self) -> tuple[None, ...]:
        return (None, None, None, None)


def handlers_alone(runtime: Runtime, models: list[ReadModel], head: int) -> dict[str, Any]:
    """Every model's handlers over the decoded log, with a cursor that sends nothing."""
    app, events = runtime.app, []
    position = 0
    while position < head:
        batch = app.recorder.select_notifications(start=position + 1, limit=BATCH, stop=head)
        events += [(n.topic, app.mapper.to_domain_event(n)) for n in batch]
        position = batch[-1].id
    cursor, failed, applied = NullCursor(), 0, 0
    started = time.perf_counter()
    for model in models:
        topics = set(model.topics)
        for topic, event in events:
            if topic in topics:
                applied += 1
                try:
                    model.apply(cursor, event)  # type: ignore[arg-type]
                except Exception:  # a handler that needs a real row: counted, not fatal
                    failed += 1
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 3), "applied": applied, "failed": failed,
            "statements": cursor.statements,
            "us_per_applied_event": round(seconds * 1e6 / applied, 1) if applied else 0.0}


def profile_rebuild(runtime: Runtime, meter: CpuMeter, models: list[ReadModel],
                    head: int) -> dict[str, Any]:
    stages, statements = Stages(), Counter[str]()
    with instrumented(runtime, models, stages, statements):
        timed = rebuild(runtime, meter, models, head)
    total = timed["seconds"]
    accounted = timed["request_rebuild_s"] + sum(
        s for name, s in stages.seconds.items() if not name.startswith(" "))
    breakdown = [{"stage": "request_rebuild (DDL, before the feed)",
                  "seconds": timed["request_rebuild_s"], "calls": len(models)}]

    def row(name: str, **extra: Any) -> dict[str, Any]:
        return {"stage": name, "seconds": round(stages.seconds[name], 3),
                "calls": stages.calls[name],
                **({"rows": stages.rows[name]} if stages.rows[name] else {}), **extra}

    breakdown += [row("read the log (select_notifications)"), row("decode (to_domain_event)"),
                  row("batch transaction (_apply_batch)")]
    handlers = [f"    handlers: {m.name}" for m in models]
    breakdown.append({"stage": "  of which handlers (model.apply)",
                      "seconds": round(sum(stages.seconds[h] for h in handlers), 3),
                      "calls": sum(stages.calls[h] for h in handlers),
                      "statements": sum(statements[m.name] for m in models),
                      "fetches": sum(statements[f"{m.name} fetches"] for m in models)})
    breakdown += [row(f"    handlers: {m.name}", statements=statements[m.name],
                      fetches=statements[f"{m.name} fetches"]) for m in models]
    breakdown += [row(name) for name in ("head + catalogue (_catalogue)", "swap in (swap_in)",
                                         "reconcile") if stages.calls[name]]
    breakdown.append({"stage": "other (runner bookkeeping, plans)",
                      "seconds": round(total - accounted, 3), "calls": 0})
    for entry in breakdown:
        entry["percent"] = round(100 * entry["seconds"] / total, 1)
    timed.update(breakdown=breakdown, statements=sum(statements[m.name] for m in models),
                 handlers_alone=handlers_alone(runtime, models, head))

    profiler = cProfile.Profile()
    profiler.enable()
    profiled = rebuild(runtime, meter, models, head)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
    timed["cprofile_seconds"] = profiled["seconds"]
    timed["cprofile_top"] = out.getvalue()
    return timed


# --------------------------------------------------------------------------- output


def print_table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for index, row in enumerate(rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
        if index == 0:
            print("  ".join("-" * w for w in widths))


def cpu_cell(cpu: dict[str, float], party: str) -> str:
    return f"{cpu[f'{party}_cpu_ms_per_op'] * 1000:.0f} us/event ({cpu[f'{party}_cores']:.2f})"


def report(results: dict[str, Any], single: str) -> None:
    head = results["log"]["events"]
    raw, full, one = results["raw"], results["rebuild_all"], results["rebuild_single"]
    ratio = results["ratio_rebuild_to_raw"]
    print()
    print(f"log: {head:,} events from {results['fill']['commands']:,} commands "
          f"({results['fill']['organizations']} organizations, filled in "
          f"{results['fill']['seconds']}s, {results['fill']['commands_per_second']} cmd/s)")
    print_table([
        ("phase", "seconds", "events/s", "ratio to raw", "client CPU (cores)",
         "PostgreSQL CPU (cores)"),
        ("raw: read + decode, batches of 500 (median of 3)", f"{raw['seconds']:.2f}",
         f"{raw['events_per_second']:,}", "1.00x", cpu_cell(raw["cpu"], "client"),
         cpu_cell(raw["cpu"], "postgres")),
        ("  raw read alone, no decoding (median of 3)", f"{raw['read_only_seconds']:.2f}",
         f"{raw['read_only_events_per_second']:,}", "-", "-", "-"),
        ("first build of every read model (catch_up)", f"{results['first_build_s']:.2f}",
         f"{round(head / results['first_build_s']):,}",
         f"{head / results['first_build_s'] / raw['events_per_second']:.2f}x", "-", "-"),
        (f"rebuild all {len(results['models'])} read models (goal >= {TARGET_RATIO}x)",
         f"{full['seconds']:.2f}", f"{full['events_per_second']:,}", f"{ratio:.2f}x "
         f"({'met' if ratio >= TARGET_RATIO else 'NOT met'})",
         cpu_cell(full["cpu"], "client"), cpu_cell(full["cpu"], "postgres")),
        (f"rebuild {single} alone", f"{one['seconds']:.2f}", f"{one['events_per_second']:,}",
         f"{one['events_per_second'] / raw['events_per_second']:.2f}x",
         cpu_cell(one["cpu"], "client"), cpu_cell(one["cpu"], "postgres")),
    ])
    print()
    applied = results["applied_per_model"]
    print("events applied per read model (of the log's "
          f"{head:,}): " + ", ".join(f"{k} {v:,}" for k, v in applied.items())
          + f"; total {sum(applied.values()):,}; in no model's topics "
          f"{results['log']['events_in_no_model']:,}")
    print(f"rebuild of all: {full['request_rebuild_s']:.2f}s of it request_rebuild (DDL); "
          f"{sum(applied.values()) / full['seconds']:,.0f} model-events applied/s; "
          f"{single} alone: {applied.get(single, 0) / one['seconds']:,.0f} of its events/s")
    print("row counts of every read-model table equal before and after the rebuilds: "
          f"{results['row_counts_equal']}")
    if "profile" in results:
        profile = results["profile"]
        print()
        print(f"stages of an instrumented full rebuild ({profile['seconds']:.2f}s with the "
              f"timers; {profile['statements']:,} SQL statements from the handlers, "
              f"{profile['statements'] / head:.2f} per log event):")
        def cell(entry: dict[str, Any], key: str) -> str:
            return f"{entry[key]:,}" if entry.get(key) else ""

        print_table([("stage", "seconds", "% of wall", "calls", "log rows read",
                      "statements", "rows fetched (pipeline waits)"),
                     *((r["stage"], f"{r['seconds']:.3f}", f"{r['percent']:.1f}",
                        f"{r['calls']:,}", cell(r, "rows"), cell(r, "statements"),
                        cell(r, "fetches")) for r in profile["breakdown"])])
        alone = profile["handlers_alone"]
        apply_s = next(r["seconds"] for r in profile["breakdown"]
                       if r["stage"].strip().startswith("of which handlers"))
        print(f"the handlers alone with a cursor that sends nothing: {alone['seconds']:.3f}s "
              f"for {alone['applied']:,} applied events ({alone['us_per_applied_event']} us "
              f"each, {alone['statements']:,} statements, {alone['failed']} failed); with "
              f"psycopg's pipeline: {apply_s:.3f}s, "
              f"{apply_s * 1e6 / max(profile['statements'], 1):.0f} us per statement")
        print()
        print(f"cProfile of another full rebuild ({profile['cprofile_seconds']:.2f}s under "
              "the profiler), top 25 by own time:")
        print(profile["cprofile_top"])
    machine = results["machine"]
    print(f"load average (1/5/15 min) before {machine['load_average_before']}, after "
          f"{machine['load_average_after']}; {machine['cpus']} CPUs; Python "
          f"{machine['python']}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wait_idle(args.wait_idle, log)
    load_before = os.getloadavg()
    data_dir = Path(tempfile.mkdtemp(prefix="vistone-bench-rebuild-"))
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(),
                    "load_average_before": [round(x, 2) for x in load_before]},
        "settings": {"events": args.events, "threads": args.threads, "single": args.single,
                     "batch": runner.BATCH_SIZE, "seed": args.seed},
    }
    database = open_database(None, data_dir)
    runtime: Runtime | None = None
    try:
        log(f"embedded PostgreSQL in {data_dir}")
        runtime = Runtime.open(Settings(data_dir=data_dir, jwt_secret=secrets.token_urlsafe(32),
                                        db_pool_size=max(args.threads, 4)))
        meter = CpuMeter(None, postmaster_pid(data_dir / "pgdata"))
        models = all_read_models()
        known = {m.name: m for m in models}
        if args.single not in known:
            raise SystemExit(f"unknown read model {args.single!r}; known: {', '.join(known)}")
        results["models"] = list(known)

        log(f"fill: {args.threads} threads until the log holds {args.events:,} events")
        results["fill"] = fill(runtime.app, args.events, args.threads, args.seed)
        head = head_of(runtime.app)
        log(f"fill: {head:,} events in {results['fill']['seconds']}s; first build of the "
            "read models")
        started = time.perf_counter()
        catch_up(runtime.app, runtime.pool, models)
        results["first_build_s"] = round(time.perf_counter() - started, 3)
        with runtime.pool.connection() as conn:
            conn.execute("VACUUM ANALYZE")
            conn.execute("CHECKPOINT")
        counts = topic_counts(runtime)
        handled = {t for m in models for t in m.topics}
        results["log"] = {"events": head, "events_by_topic": dict(counts.most_common()),
                          "events_in_no_model": sum(c for t, c in counts.items()
                                                    if t not in handled)}
        results["applied_per_model"] = applied_per_model(models, counts)
        rows_before = row_counts(runtime, models)

        log("raw: read + decode the whole log (1 warm-up, 3 measured), then read alone")
        results["raw"] = measure_raw(runtime, meter, head)
        log(f"raw: {results['raw']['events_per_second']:,} events/s; rebuilding all "
            f"{len(models)} read models")
        results["rebuild_all"] = rebuild(runtime, meter, models, head)
        results["ratio_rebuild_to_raw"] = round(
            results["rebuild_all"]["events_per_second"] / results["raw"]["events_per_second"],
            3)
        log(f"rebuild all: {results['rebuild_all']['seconds']}s; rebuilding {args.single} "
            "alone")
        results["rebuild_single"] = rebuild(runtime, meter, [known[args.single]], head)
        results["row_counts_equal"] = row_counts(runtime, models) == rows_before
        results["rows"] = rows_before
        if args.profile:
            log("profile: an instrumented full rebuild, then one under cProfile")
            results["profile"] = profile_rebuild(runtime, meter, models, head)
    finally:
        if runtime is not None:
            runtime.close()
        if database.embedded is not None:
            database.embedded.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    results["machine"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    report(results, args.single)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, default=str))
        log(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
