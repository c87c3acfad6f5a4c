"""Time travel's promise, as a property: for any sequence of commands on a task or a
project, the state ``vistone.as_of`` answers as of version N is the state folding the
first N events gives (each event's ``mutate`` in order), for every N; and as of the
moment version N was recorded it answers the last version recorded by then.

The events are the ones the commands produced in memory, before they were stored; the
answers come through the application (stored events, transcoding, snapshots), on the
library's in-memory store: the same code path as PostgreSQL's, minus the database, so
hypothesis can try many sequences. An application taking a snapshot every 4 events makes
most versions load from a snapshot plus a few events, and some (before the first snapshot)
from events alone.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from datetime import date
from decimal import Decimal
from typing import Any, ClassVar
from uuid import UUID, uuid4

import pytest
from eventsourcing.domain import Aggregate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.base import DomainError
from domain.client import Client
from domain.project import Project, ProjectRole, ProjectStatus
from domain.state import public_state
from domain.task import Task, TaskPriority, TaskStatus
from vistone import as_of
from vistone.app import Vistone

META: dict[str, Any] = {"actor_id": None}
ORGANIZATION = uuid4()
PEOPLE = [uuid4() for _ in range(3)]
ITEMS = ["a", "b", "c"]
IN_MEMORY = {"PERSISTENCE_MODULE": "eventsourcing.popo"}


class OftenSnapshotted(Vistone):
    snapshotting_intervals: ClassVar[dict[Any, int]] = {
        **Vistone.snapshotting_intervals, Task: 4, Project: 4}


APPLICATIONS = [Vistone, OftenSnapshotted]

texts = st.text(alphabet="abcdefghij XYZ", min_size=1, max_size=12).filter(str.strip)
days = st.none() | st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31))
people = st.sampled_from(PEOPLE)
items = st.sampled_from(ITEMS)

# A step is (name, arguments); a step a rule refuses changes nothing and is skipped.
task_steps = st.one_of(
    st.tuples(st.just("title"), texts),
    st.tuples(st.just("description"), st.none() | texts),
    st.tuples(st.just("priority"), st.sampled_from(TaskPriority)),
    st.tuples(st.just("due_date"), days),
    st.tuples(st.just("assign"), st.none() | people),
    st.tuples(st.just("status"), st.sampled_from(TaskStatus)),
    st.tuples(st.just("add_item"), st.tuples(items, texts)),
    st.tuples(st.just("toggle_item"), st.tuples(items, st.booleans())),
    st.tuples(st.just("edit_item"), st.tuples(items, texts)),
    st.tuples(st.just("remove_item"), items),
)

project_steps = st.one_of(
    st.tuples(st.just("name"), texts),
    st.tuples(st.just("description"), st.none() | texts),
    st.tuples(st.just("budget"), st.none() | st.decimals(
        min_value=0, max_value=10**6, places=2, allow_nan=False, allow_infinity=False)),
    st.tuples(st.just("progress"), st.integers(min_value=0, max_value=100)),
    st.tuples(st.just("dates"), st.tuples(days, days)),
    st.tuples(st.just("status"), st.sampled_from(ProjectStatus)),
    st.tuples(st.just("add_member"), st.tuples(people, st.sampled_from(ProjectRole))),
    st.tuples(st.just("member_role"), st.tuples(people, st.sampled_from(ProjectRole))),
    st.tuples(st.just("remove_member"), people),
    st.tuples(st.just("link_client"), st.integers(min_value=0, max_value=1)),
    st.tuples(st.just("unlink_client"), st.integers(min_value=0, max_value=1)),
    # Rare: an archived project refuses every later change.
    st.tuples(st.just("archive"), st.integers(min_value=0, max_value=19)),
)


def run_task_step(task: Task, step: tuple[str, Any], _: list[Client]) -> None:
    name, value = step
    if name in ("title", "description", "priority", "due_date"):
        task.update(META, **{name: value})
    elif name == "assign":
        task.assign(value, True, META)
    elif name == "status":
        task.change_status(value, META)
    elif name == "add_item":
        task.add_checklist_item(value[0], value[1], META)
    elif name == "toggle_item":
        task.set_checklist_item_done(value[0], value[1], META)
    elif name == "edit_item":
        task.edit_checklist_item(value[0], value[1], META)
    else:
        task.remove_checklist_item(value, META)


def run_project_step(project: Project, step: tuple[str, Any], clients: list[Client]) -> None:
    name, value = step
    if name in ("name", "description", "budget", "progress"):
        project.update(META, **{name: value})
    elif name == "dates":
        project.update(META, start_date=value[0], end_date=value[1])
    elif name == "status":
        project.change_status(value, META)
    elif name == "add_member":
        project.add_member(value[0], value[1], META)
    elif name == "member_role":
        project.change_member_role(value[0], value[1], META)
    elif name == "remove_member":
        project.remove_member(value, META)
    elif name == "link_client":
        project.link_client(clients[value], META)
    elif name == "unlink_client":
        project.unlink_client(clients[value], META)
    elif value == 0:
        project.archive(META)


def new_task() -> Task:
    return Task.create(id=uuid4(), project_id=uuid4(), organization_id=ORGANIZATION,
                       title="Start", creator_id=PEOPLE[0], meta=META)


def new_project() -> Project:
    return Project.create(id=uuid4(), organization_id=ORGANIZATION, name="Start",
                          creator_id=PEOPLE[0], meta=META)


def recorded(app: Vistone, aggregate: Aggregate, steps: list[tuple[str, Any]],
             run: Callable[[Any, tuple[str, Any], list[Client]], None]) -> list[Any]:
    """Run the steps, saving after each one as a command does, and return every event
    the aggregate produced, in order, as produced (before anything was stored)."""
    clients = [Client.create(id=uuid4(), organization_id=ORGANIZATION, name=f"Client {i}",
                             meta=META) for i in range(2)]
    events = list(aggregate.pending_events)
    app.save(aggregate, *clients)
    for step in steps:
        with suppress(DomainError):  # refused by a rule: nothing happened
            run(aggregate, step, clients)
        events += aggregate.pending_events
        app.save(aggregate, *clients)
    return events


def folded(events: list[Any]) -> Any:
    aggregate = None
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


def assert_every_version_is_the_fold(app: Vistone, aggregate_id: UUID,
                                     events: list[Any]) -> None:
    times = [event.timestamp for event in events]
    for n in range(1, len(events) + 1):
        expected = folded(events[:n])
        answer = as_of.at_version(app, aggregate_id, n)
        assert answer.version == expected.version == n
        assert answer.latest == len(events)
        assert answer.recorded_at == expected.modified_on == times[n - 1]
        assert answer.answer()["state"] == public_state(expected), f"version {n}"
        # As of the moment version n was recorded: the last version recorded by then
        # (n itself, or a later one recorded in the same microsecond).
        by_then = max(k for k in range(1, len(events) + 1) if times[k - 1] <= times[n - 1])
        at_moment = as_of.at_time(app, aggregate_id, times[n - 1])
        assert at_moment.version == by_then
        assert at_moment.answer()["state"] == public_state(folded(events[:by_then]))
    with pytest.raises(as_of.VersionNotRecorded):
        as_of.at_version(app, aggregate_id, len(events) + 1)


SETTINGS = settings(max_examples=75, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("application", APPLICATIONS, ids=lambda a: a.__name__)
def test_a_task_as_of_version_n_is_its_first_n_events_folded(application: type) -> None:
    @SETTINGS
    @given(steps=st.lists(task_steps, min_size=8, max_size=40))
    def check(steps: list[tuple[str, Any]]) -> None:
        app = application(env=IN_MEMORY)
        task = new_task()
        events = recorded(app, task, steps, run_task_step)
        assert_every_version_is_the_fold(app, task.id, events)

    check()


@pytest.mark.parametrize("application", APPLICATIONS, ids=lambda a: a.__name__)
def test_a_project_as_of_version_n_is_its_first_n_events_folded(application: type) -> None:
    @SETTINGS
    @given(steps=st.lists(project_steps, min_size=8, max_size=40))
    def check(steps: list[tuple[str, Any]]) -> None:
        app = application(env=IN_MEMORY)
        project = new_project()
        events = recorded(app, project, steps, run_project_step)
        assert_every_version_is_the_fold(app, project.id, events)

    check()


def test_the_often_snapshotted_application_really_loads_from_snapshots() -> None:
    # Without this the property above could pass on events alone.
    app = OftenSnapshotted(env=IN_MEMORY)
    task = new_task()
    events = recorded(app, task, [("title", f"t{i}") for i in range(9)], run_task_step)
    assert len(events) == 10
    assert app.snapshots is not None
    snapshots = [s.originator_version for s in app.snapshots.get(task.id)]
    assert snapshots == [4, 8]
    assert as_of.at_version(app, task.id, 9).answer()["state"]["title"] == "t7"


def test_a_money_value_survives_exactly() -> None:
    # Decimals travel as text through the store and come back exact, never as floats.
    app = Vistone(env=IN_MEMORY)
    project = new_project()
    recorded(app, project, [("budget", Decimal("1234.50"))], run_project_step)
    assert as_of.at_version(app, project.id, 2).answer()["state"]["budget"] == "1234.50"
