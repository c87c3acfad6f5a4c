"""The kill test: `vistone relay` and two `vistone analytics` members run as real
processes against a Tansu broker and PostgreSQL while writers keep appending commands;
they are killed with SIGKILL at random moments over many rounds (once the broker is
replaced by an empty one mid-run) and restarted. Afterwards the analytics tables equal a
recomputation from the log, row for row: no event lost, none counted twice.

A failure prints its seed; ``VISTONE_KILL_SEED=<seed>`` replays the same schedule."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from psycopg.sql import SQL

from analytics.store import AnalyticsStore
from tests.integration.test_analytics import random_work
from vistone.runtime import Runtime
from workers.analytics import differences, events_table, recompute
from workers.broker import EmbeddedBroker, free_port

REPO = Path(__file__).resolve().parents[2]
ROUNDS = 10  # about 7 s each on two shared cores: a restart takes 3-4 s before it runs
BROKER_ROUND = ROUNDS // 2  # the round in which the broker is replaced by an empty one
WRITERS = 3
WRITER_PAUSE = (0.2, 0.8)  # seconds between a writer's bursts of commands
CATCH_UP_SECONDS = 120.0
READY_SECONDS = 20.0  # for a restarted process to get past its start-up
MOVING_SECONDS = 10.0  # for the consumers to apply something after a kill
PROCESSES = ("relay", "m1", "m2")


class Processes:
    """The relay and the two analytics members as `python -m vistone.cli` children; each
    one's output goes to its own file (appended across restarts)."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        self.running: dict[str, subprocess.Popen[bytes]] = {}
        self.starts: dict[str, int] = dict.fromkeys(PROCESSES, 0)

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def start(self, name: str) -> None:
        args = ["relay"] if name == "relay" else ["analytics", "--member", name]
        self.starts[name] += 1
        with self.log(name).open("ab") as out:
            out.write(f"\n===== start {self.starts[name]} at {time.monotonic():.2f}\n"
                      .encode())
            out.flush()
            self.running[name] = subprocess.Popen(
                [sys.executable, "-m", "vistone.cli", *args], cwd=REPO, env=self.env,
                stdout=out, stderr=subprocess.STDOUT)

    def ready(self, name: str) -> bool:
        """Whether the latest start of ``name`` got past its start-up (printed that it
        runs): killing a process still importing its modules tests nothing."""
        text = self.log(name).read_text(errors="replace")
        latest = text.rsplit(f"===== start {self.starts[name]} ", 1)[-1]
        return " running " in latest

    def wait_ready(self, timeout: float) -> list[str]:
        """Wait, bounded, until every process is ready; returns those that are not."""
        deadline = time.monotonic() + timeout
        while (late := [n for n in PROCESSES if not self.ready(n)]) and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        return late

    def kill(self, name: str) -> int | None:
        """SIGKILL; returns the exit code if the process had already ended by itself."""
        process = self.running.pop(name)
        ended = process.poll()
        if ended is None:
            process.send_signal(signal.SIGKILL)
        process.wait(10)
        return ended

    def kill_all(self) -> dict[str, int | None]:
        return {name: self.kill(name) for name in list(self.running)}

    def tails(self, lines: int = 40) -> str:
        parts = []
        for name in PROCESSES:
            path = self.log(name)
            text = path.read_text(errors="replace").splitlines() if path.exists() else []
            parts.append(f"----- {name} ({self.starts[name]} starts), last {lines} lines:\n"
                         + "\n".join(text[-lines:]))
        return "\n".join(parts)


class Writers:
    """Threads appending commands of every kind the KPIs read until stopped."""

    def __init__(self, runtime: Runtime, seed: int, count: int = WRITERS) -> None:
        self.runtime = runtime
        self.stop_event = threading.Event()
        self.errors: list[BaseException] = []
        self.calls = 0
        self._lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(i, seed + i), daemon=True,
                                         name=f"writer-{i}") for i in range(count)]

    def _run(self, index: int, seed: int) -> None:
        rng = random.Random(seed)
        n = 0
        while not self.stop_event.is_set():
            try:
                random_work(self.runtime, f"kill-{index}-{n}-{uuid.uuid4().hex[:6]}",
                            rounds=rng.randint(1, 3), seed=rng.randrange(2**32))
            except BaseException as error:  # noqa: BLE001 - reported by the test
                self.errors.append(error)
                return
            n += 1
            with self._lock:
                self.calls += 1
            # A steady flow, not a flood: the two cores also run the processes killed.
            self.stop_event.wait(rng.uniform(*WRITER_PAUSE))

    def start(self) -> Writers:
        for thread in self.threads:
            thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(60)


def progress(runtime: Runtime) -> dict[str, int]:
    with runtime.pool.connection() as conn:
        return AnalyticsStore().progress(conn)


def log_figures(runtime: Runtime) -> tuple[int, int]:
    """The log's head and how many events it holds (positions may have gaps)."""
    with runtime.pool.connection() as conn:
        row = conn.execute(SQL("SELECT coalesce(max(notification_id), 0), count(*) "
                               "FROM {}").format(events_table(runtime.app))).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def relay_figures(runtime: Runtime) -> tuple[int, int]:
    with runtime.pool.connection() as conn:
        row = conn.execute("SELECT position, late_events FROM public.kafka_relay "
                           "WHERE name = 'kafka'").fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def evidence(runtime: Runtime) -> str:
    """What a failure needs to be understood: versions that arrived before an earlier
    version of their aggregate (``skipped``), events set aside, the group's offsets."""
    store = AnalyticsStore()
    lines = []
    with runtime.pool.connection() as conn:
        for table, order in (("skipped", "position"), ("rejected", "position"),
                             ("consumer_partitions", "topic, partition")):
            if conn.execute("SELECT to_regclass(%s)",
                            (f"{store.schema}.{table}",)).fetchone() == (None,):
                continue
            rows = conn.execute(store.q(  # type: ignore[call-overload]
                f"SELECT * FROM {{s}}.{table} ORDER BY {order} LIMIT 50")).fetchall()
            lines.append(f"{table}: {len(rows)} row(s)")
            lines += [f"  {row}" for row in rows]
    return "\n".join(lines)


def unapplied(runtime: Runtime, through: int, bootstrap: str) -> str:
    """The first events past ``through`` that no consumer applied, with the partition
    the relay sends them to (by the broker's partition count), and the version applied
    of their aggregate."""
    from kafka import KafkaConsumer
    from kafka.partitioner.default import murmur2

    from workers.relay import aggregate_class_of, topic_of

    with runtime.pool.connection() as conn:
        rows = conn.execute(SQL(AnalyticsStore().q(
            "SELECT e.notification_id, e.originator_id, e.originator_version, a.version, "
            "a.position FROM {events} e LEFT JOIN {s}.applied a "
            "ON a.aggregate_id = e.originator_id WHERE e.notification_id > %s "
            "AND (a.version IS NULL OR a.version < e.originator_version) "
            "ORDER BY e.notification_id LIMIT 10")).format(
                events=events_table(runtime.app)), (through,)).fetchall()
    looker = KafkaConsumer(bootstrap_servers=bootstrap, allow_auto_create_topics=False)
    lines = []
    try:
        for position, aggregate, version, applied, applied_at in rows:
            notification = runtime.app.recorder.select_notifications(
                start=position, limit=1, stop=position)[0]
            event = runtime.app.mapper.to_domain_event(notification)
            topic = topic_of(aggregate_class_of(event))
            count = len(looker.partitions_for_topic(topic) or ()) or 1
            partition = (murmur2(str(aggregate).encode()) & 0x7FFFFFFF) % count
            lines.append(f"  position {position}: {type(event).__qualname__} {aggregate} "
                         f"v{version} on {topic}[{partition} of {count}]; applied of it: "
                         f"v{applied} (position {applied_at})")
    finally:
        looker.close()
    return "unapplied events:\n" + "\n".join(lines)


@pytest.mark.timeout(300)
def test_killing_relay_and_consumers_loses_and_doubles_nothing(
        cli_env: Runtime, tmp_path: Path) -> None:
    runtime = cli_env
    seed = int(os.environ.get("VISTONE_KILL_SEED") or random.SystemRandom().randrange(10**9))
    rng = random.Random(seed)
    print(f"kill test seed {seed} (replay: VISTONE_KILL_SEED={seed})", flush=True)
    began = time.monotonic()

    port = free_port()
    broker = EmbeddedBroker(port=port).start()
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
           "VISTONE_DATA_DIR": str(tmp_path / "data"), "VISTONE_DB_POOL_SIZE": "3",
           "PYTHONUNBUFFERED": "1"}
    env.pop("VISTONE_KAFKA", None)
    processes = Processes(env, tmp_path)
    writers = Writers(runtime, seed)
    schedule: list[str] = []
    try:
        for name in PROCESSES:
            processes.start(name)
        # The first start-up without writers competing for the two cores.
        not_ready = processes.wait_ready(READY_SECONDS)
        assert not not_ready, f"{not_ready} did not start\n" + processes.tails()
        writers.start()
        applied_at_kill = 0
        for round_ in range(1, ROUNDS + 1):
            # A kill lands among processes at work: every one past its start-up, and
            # the consumers applying (events applied since the last kill), both bounded.
            waited = time.monotonic()
            not_ready = processes.wait_ready(READY_SECONDS)
            ready_after = time.monotonic() - waited
            deadline = time.monotonic() + MOVING_SECONDS
            while progress(runtime)["events_applied"] <= applied_at_kill and \
                    time.monotonic() < deadline:
                time.sleep(0.05)
            waited = time.monotonic() - waited
            pause = rng.uniform(0.3, 2.5)
            replace_broker = round_ == BROKER_ROUND
            victims = [] if replace_broker else \
                rng.sample(PROCESSES, 2 if rng.random() < 0.25 else 1)
            time.sleep(pause)
            before = progress(runtime)
            relay_at = relay_figures(runtime)[0]
            if replace_broker:
                broker.stop()  # SIGTERM to Tansu: everything it held is gone
                broker = EmbeddedBroker(port=port).start()
                what = "broker replaced by an empty one"
            else:
                exited = {name: processes.kill(name) for name in victims}
                for name in victims:
                    processes.start(name)
                what = f"SIGKILL {'+'.join(victims)}"
                if any(code is not None for code in exited.values()):
                    what += f" (had already exited: {exited})"
            applied_at_kill = before["events_applied"]
            head, _ = log_figures(runtime)
            event = (f"round {round_}: waited {ready_after:.1f}+{waited - ready_after:.1f} s"
                     + (f" (not ready: {not_ready})" if not_ready else "")
                     + f" + {pause:.2f} s, {what}; head {head}, relay at {relay_at}, "
                     f"applied through {before['applied_through']}, "
                     f"applied {before['events_applied']}, "
                     f"repeats {before['repeats_ignored']}")
            schedule.append(event)
            print(f"[{time.monotonic() - began:6.1f} s] {event}", flush=True)
        writers.stop()
        assert not writers.errors, f"a writer failed: {writers.errors[0]!r}"
        head, events = log_figures(runtime)
        print(f"[{time.monotonic() - began:6.1f} s] writers stopped after {writers.calls} "
              f"calls; log head {head}, {events} events", flush=True)

        deadline = time.monotonic() + CATCH_UP_SECONDS
        while (reached := progress(runtime))["applied_through"] < head:
            if time.monotonic() > deadline:
                pytest.fail(f"applied through {reached['applied_through']} of {head} after "
                            f"{CATCH_UP_SECONDS:.0f} s (seed {seed}); relay at "
                            f"{relay_figures(runtime)[0]}; schedule: {schedule}\n"
                            f"{unapplied(runtime, reached['applied_through'], broker.bootstrap)}\n"
                            f"{evidence(runtime)}\n" + processes.tails())
            time.sleep(0.2)
        caught_up = time.monotonic() - began
        exits = processes.kill_all()
        assert all(code is None for code in exits.values()), (
            f"a process ended by itself: {exits}\n" + processes.tails())

        final = progress(runtime)
        relay_position, late = relay_figures(runtime)
        scratch = AnalyticsStore(f"recomputed_{uuid.uuid4().hex[:8]}")
        try:
            recomputed = recompute(runtime.app, runtime.pool, scratch)
            found = differences(runtime.pool, AnalyticsStore(), scratch)
        finally:
            with runtime.pool.connection() as conn:
                scratch.drop(conn)
        print(f"[{time.monotonic() - began:6.1f} s] caught up at {caught_up:.1f} s; "
              f"progress {final}; relay position {relay_position}, late events {late}; "
              f"recomputed {recomputed} events; starts {processes.starts}", flush=True)
        context = (f"(seed {seed}; schedule: {schedule})\n{evidence(runtime)}\n"
                   + processes.tails())
        assert found == {}, f"rows only in monitoring / only recomputed: {found} {context}"
        assert final["skipped"] == 0, f"events never received: {final} {context}"
        assert final["events_applied"] == events == recomputed, (
            f"events applied {final['events_applied']}, in the log {events}, "
            f"recomputed {recomputed} {context}")
        assert final.get("rejected", 0) == 0, f"events set aside: {final} {context}"
        assert late == 0, f"late events {late} {context}"
    finally:
        writers.stop()
        processes.kill_all()
        broker.stop()
