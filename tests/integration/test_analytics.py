"""The analytics consumers against a real Kafka-protocol broker (Tansu) and PostgreSQL:
the KPIs they compute, and that each event counts exactly once whatever the broker does
(a republish of everything, a second consumer joining and another leaving mid-stream),
checked against a recomputation from the log, row for row."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from analytics.kpis import week_of
from analytics.store import AnalyticsStore
from domain.base import CommandContext
from domain.channel import ChannelKind
from domain.task import TaskStatus
from vistone.app import Command
from vistone.commands import channels, organizations, projects, tasks, timelogs, users
from vistone.runtime import Runtime
from workers.analytics import AnalyticsConsumer, differences, recompute
from workers.broker import EmbeddedBroker
from workers.kafka import KafkaSender, ensure_topics
from workers.relay import Relay

# Short group timings: Tansu with kafka-python's defaults takes many seconds to join.
FAST_GROUP = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 500,
              "max_poll_interval_ms": 10000}


@pytest.fixture
def broker() -> Iterator[str]:
    with EmbeddedBroker() as embedded:
        ensure_topics(embedded.bootstrap)
        yield embedded.bootstrap


def consumer(runtime: Runtime, bootstrap: str, member: str = "a",
             group: str = "analytics-test") -> AnalyticsConsumer:
    return AnalyticsConsumer(runtime.app, runtime.pool, bootstrap, group_id=group,
                             member=member, **FAST_GROUP)


def relay_all(relay: Relay) -> None:
    while relay.run_once():
        pass


def until_applied(runtime: Runtime, consumers: list[AnalyticsConsumer],
                  timeout: float = 60.0) -> None:
    """Poll ``consumers`` in this thread until every event of the log is applied."""
    head = runtime.app.recorder.max_notification_id() or 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for c in consumers:
            c.run_once(timeout_ms=100)
        if consumers[0].advance() >= head:
            return
    raise AssertionError(f"not applied up to {head} within {timeout} s: "
                         f"{consumers[0].advance()}")


def assert_equals_recomputation(runtime: Runtime) -> None:
    scratch = AnalyticsStore(f"recomputed_{uuid.uuid4().hex[:8]}")
    try:
        recompute(runtime.app, runtime.pool, scratch)
        assert differences(runtime.pool, AnalyticsStore(), scratch) == {}
    finally:
        with runtime.pool.connection() as conn:
            scratch.drop(conn)


class Team:
    """An organization with a budgeted project, a channel and a few people's work."""

    def __init__(self, runtime: Runtime, tag: str) -> None:
        anon = Command(runtime.app, CommandContext(None))
        self.owner = users.register_user(anon, email=f"{tag}@analytics.test",
                                         name=f"Owner {tag}", password="password-1").id
        self.command = Command(runtime.app, CommandContext(self.owner))
        self.org = organizations.create_organization(self.command, name=f"Org {tag}",
                                                     slug=f"org-{tag}").id
        self.project = projects.create_project(self.command, self.org, name=f"P {tag}",
                                               budget=Decimal("1000.00")).id
        self.channel = channels.create_channel(self.command, self.org,
                                               kind=ChannelKind.PROJECT, name="general",
                                               project_id=self.project).id
        self.tasks: list[uuid.UUID] = []

    def task(self, due: date | None = None) -> uuid.UUID:
        task = tasks.create_task(self.command, self.org, self.project, title="t",
                                 due_date=due, assignee_id=self.owner).id
        self.tasks.append(task)
        return task

    def status(self, task: uuid.UUID, status: TaskStatus) -> None:
        tasks.change_task_status(self.command, self.org, task, status=status)

    def log(self, task: uuid.UUID, day: date, hours: str) -> uuid.UUID:
        return timelogs.log_time(self.command, self.org, task_id=task, work_date=day,
                                 hours=Decimal(hours)).id

    def message(self) -> None:
        channels.post_message(self.command, self.org, self.channel, content="hello")

    def spend(self, amount: str) -> None:
        projects.update_project(self.command, self.org, self.project,
                                changes={"spent_budget": Decimal(amount)})


def random_work(runtime: Runtime, tag: str, rounds: int, seed: int) -> None:
    """Commands of every kind the KPIs read, in a random mix."""
    rng = random.Random(seed)
    team = Team(runtime, tag)
    today = datetime.now(UTC).date()  # days and weeks are UTC
    for _ in range(rounds):
        task = team.task(due=today - timedelta(days=rng.randint(-3, 3)))
        if rng.random() < 0.7:
            team.status(task, TaskStatus.IN_PROGRESS)
            if rng.random() < 0.7:
                team.status(task, TaskStatus.COMPLETED)
                if rng.random() < 0.2:
                    team.status(task, TaskStatus.PENDING)
        log = team.log(task, today - timedelta(days=rng.randint(0, 20)), "1.25")
        if rng.random() < 0.3:
            timelogs.edit_time_log(team.command, team.org, log,
                                   changes={"hours": Decimal("2.50")})
        elif rng.random() < 0.2:
            timelogs.delete_time_log(team.command, team.org, log)
        team.message()
        if rng.random() < 0.3:
            team.spend(f"{rng.randint(0, 900)}.00")


def measurement(runtime: Runtime, org: uuid.UUID, kpi: str, subject: uuid.UUID,
                period: date) -> Decimal | None:
    with runtime.pool.connection() as conn:
        row = conn.execute(
            "SELECT value FROM monitoring.kpi_measurements WHERE organization_id = %s "
            "AND kpi = %s AND subject_id = %s AND period_start = %s",
            (org, kpi, subject, period)).fetchone()
    return None if row is None else Decimal(row[0])


def member(runtime: Runtime, org: uuid.UUID, person: uuid.UUID, metric: str,
           period: date) -> Decimal | None:
    with runtime.pool.connection() as conn:
        row = conn.execute(
            "SELECT value FROM monitoring.member_performance WHERE organization_id = %s "
            "AND person_id = %s AND metric = %s AND period_start = %s",
            (org, person, metric, period)).fetchone()
    return None if row is None else Decimal(row[0])


def test_the_kpis_of_a_known_week(fresh_runtime: Runtime, broker: str) -> None:
    runtime = fresh_runtime
    team = Team(runtime, "known")
    today = datetime.now(UTC).date()  # days and weeks are UTC
    week = week_of(today)
    done, reopened, late = team.task(), team.task(), team.task(due=today - timedelta(days=2))
    for task in (done, reopened):
        team.status(task, TaskStatus.IN_PROGRESS)
        team.status(task, TaskStatus.COMPLETED)
    team.status(reopened, TaskStatus.PENDING)  # counts no more
    kept = team.log(done, today, "3.50")
    edited = team.log(done, today, "1.00")
    timelogs.edit_time_log(team.command, team.org, edited, changes={"hours": Decimal("2.25")})
    deleted = team.log(late, today, "4.00")
    timelogs.delete_time_log(team.command, team.org, deleted)
    for _ in range(3):
        team.message()
    team.spend("250.00")

    relay = Relay(runtime.app, runtime.pool, KafkaSender(broker))
    relay_all(relay)
    until_applied(runtime, [consumer(runtime, broker)])

    assert kept
    assert measurement(runtime, team.org, "hours_logged", team.project, week) == Decimal("5.75")
    assert member(runtime, team.org, team.owner, "hours_logged", week) == Decimal("5.75")
    assert measurement(runtime, team.org, "tasks_completed", team.project, week) == 1
    assert member(runtime, team.org, team.owner, "tasks_completed", week) == 1
    assert measurement(runtime, team.org, "task_lead_time_p50", team.project, week) is not None
    assert measurement(runtime, team.org, "messages_posted", team.channel, today) == 3
    assert measurement(runtime, team.org, "active_people", team.org, today) == 1
    assert measurement(runtime, team.org, "budget_spent", team.project, week) == 250
    assert measurement(runtime, team.org, "budget_burn", team.project, week) == 25
    with runtime.pool.connection() as conn:
        overdue = AnalyticsStore().overdue(conn, team.org, today, None)
    assert overdue == [{"project_id": team.project, "overdue_open_tasks": 1,
                        "oldest_due_date": today - timedelta(days=2)}]
    assert_equals_recomputation(runtime)


def test_everything_published_again_changes_nothing(fresh_runtime: Runtime,
                                                    broker: str) -> None:
    runtime = fresh_runtime
    random_work(runtime, "again", rounds=15, seed=1)
    relay = Relay(runtime.app, runtime.pool, KafkaSender(broker))
    relay_all(relay)
    analytics = consumer(runtime, broker)
    until_applied(runtime, [analytics])
    with runtime.pool.connection() as conn:
        before = AnalyticsStore().progress(conn)
    relay.restart_from(1)
    relay_all(relay)
    head = runtime.app.recorder.max_notification_id() or 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        analytics.run_once(timeout_ms=100)
        with runtime.pool.connection() as conn:
            after = AnalyticsStore().progress(conn)
        if after["repeats_ignored"] >= head:
            break
    assert after["events_applied"] == before["events_applied"] == head
    assert after["repeats_ignored"] == head
    assert after["skipped"] == 0
    assert_equals_recomputation(runtime)


def test_a_new_broker_gets_what_the_consumers_need(fresh_runtime: Runtime) -> None:
    """The embedded broker restarts empty: the relay notices and publishes again from
    the consumers' applied-through position; nothing is lost, nothing doubled."""
    runtime = fresh_runtime
    random_work(runtime, "first", rounds=5, seed=2)
    store = AnalyticsStore()
    from workers.pipeline import consumers_resume_point

    with EmbeddedBroker() as first:
        relay = Relay(runtime.app, runtime.pool, KafkaSender(first.bootstrap),
                      resume_point=lambda: consumers_resume_point(runtime.pool, store))
        relay.check_broker()
        relay_all(relay)
        until_applied(runtime, [consumer(runtime, first.bootstrap)])
        random_work(runtime, "lost", rounds=5, seed=3)
        relay_all(relay)  # published to a broker that is about to go away
    applied_before = consumers_resume_point(runtime.pool, store)
    with EmbeddedBroker() as second:
        relay.broker = KafkaSender(second.bootstrap)
        assert relay.check_broker()  # empty: publish again what the consumers need
        assert relay.position() == applied_before - 1
        relay_all(relay)
        until_applied(runtime, [consumer(runtime, second.bootstrap)])
    assert_equals_recomputation(runtime)
    with runtime.pool.connection() as conn:
        assert store.progress(conn)["skipped"] == 0


def test_consumers_join_and_leave_mid_stream(fresh_runtime: Runtime, broker: str) -> None:
    """Four writers, the relay tailing; one consumer, then a second joins (rebalance),
    then the first leaves (rebalance): the tables equal the recomputation."""
    runtime = fresh_runtime
    relay = Relay(runtime.app, runtime.pool, KafkaSender(broker), batch_size=20).start()
    first = consumer(runtime, broker, "first").start()
    writers = [threading.Thread(target=random_work, args=(runtime, f"w{i}", 12, i))
               for i in range(4)]
    for w in writers:
        w.start()
    time.sleep(1.0)
    second = consumer(runtime, broker, "second").start()
    time.sleep(2.0)
    first.stop()
    for w in writers:
        w.join()
    try:
        head = runtime.app.recorder.max_notification_id() or 0
        deadline = time.monotonic() + 90
        while second.advance() < head and time.monotonic() < deadline:
            time.sleep(0.2)
        assert second.advance() >= head
    finally:
        second.stop()
        relay.stop()
    assert_equals_recomputation(runtime)
    with runtime.pool.connection() as conn:
        progress = AnalyticsStore().progress(conn)
    assert progress["events_applied"] == head
    assert progress["skipped"] == 0


def test_a_gap_in_an_aggregates_versions_is_counted(fresh_runtime: Runtime) -> None:
    """An event that never arrives shows in ``skipped`` (which must stay 0 otherwise)."""
    store = AnalyticsStore()
    aggregate = str(uuid.uuid4())

    def envelope(version: int) -> dict[str, Any]:
        return {"envelope_version": 1, "type": "task.assigned", "aggregate_type": "task",
                "aggregate_id": aggregate, "aggregate_version": version,
                "position": version, "occurred_at": "2026-11-23T10:00:00+00:00",
                "metadata": {"actor_id": None, "organization_id": None},
                "data": {"assignee_id": None}, "withheld": []}

    with fresh_runtime.pool.connection() as conn:
        store.setup(conn)
        assert store.apply(conn, [envelope(1)]).skipped == 0
        assert store.apply(conn, [envelope(1)]).repeats == 1
        assert store.apply(conn, [envelope(4)]).skipped == 2
        assert store.progress(conn)["skipped"] == 1


def test_an_event_that_cannot_be_applied_is_set_aside_alone(fresh_runtime: Runtime) -> None:
    """One malformed event must not stop analytics for every organization: it is set
    aside and counted, and the rest of its batch is applied."""
    store = AnalyticsStore()
    org, person, project = (str(uuid.uuid4()) for _ in range(3))

    def logged(position: int, hours: str) -> dict[str, Any]:
        return {"envelope_version": 1, "type": "time_log.logged",
                "aggregate_type": "time_log", "aggregate_id": str(uuid.uuid4()),
                "aggregate_version": 1, "position": position,
                "occurred_at": "2026-11-23T10:00:00+00:00",
                "metadata": {"actor_id": person, "organization_id": org},
                "data": {"organization_id": org, "project_id": project, "person_id": person,
                         "task_id": str(uuid.uuid4()), "work_date": "2026-11-23",
                         "hours": hours}, "withheld": []}

    with fresh_runtime.pool.connection() as conn:
        store.setup(conn)
        poison = logged(2, "NaN-ish")
        outcome = store.apply_or_set_aside(conn, [logged(1, "1.50"), poison, logged(3, "2.00")])
        assert (outcome.applied, outcome.repeats) == (3, 0)
        progress = store.progress(conn)
        assert progress["rejected"] == 1 and progress["events_applied"] == 3
        total = conn.execute("SELECT sum(hours) FROM monitoring.hours_logged").fetchone()
        assert total == (Decimal("3.50"),)
        # Delivered again, the set-aside event is a repeat like any other.
        again = store.apply_or_set_aside(conn, [poison])
        assert (again.applied, again.repeats) == (0, 1)
        assert store.progress(conn)["rejected"] == 1
