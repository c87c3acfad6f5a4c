"""Departures against a real database: someone removed from an organization, or made a
Client, leaves its projects, channels and tasks, completed from the log; a join that
commits after the removal is undone; a repeat changes nothing; someone added back keeps
what they have."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from domain.base import CommandContext
from domain.channel import Channel, ChannelKind
from domain.project import Project, ProjectRole
from domain.roles import Role
from domain.task import Task
from projections.runner import catch_up
from vistone.app import Command, UnitOfWork
from vistone.cli import main
from vistone.commands import channels, organizations, projects, tasks, users
from vistone.departures import Departures
from vistone.runtime import Runtime


def as_actor(runtime: Runtime, actor: UUID | None, correlation: str | None = None) -> Command:
    return Command(runtime.app, CommandContext(actor, correlation_id=correlation))


@dataclass
class Team:
    ann: UUID  # Organizer
    bob: UUID  # Contributor: the one who leaves
    org: UUID
    project: UUID
    archived: UUID  # a project Bob was in, archived since
    team_channel: UUID
    direct: UUID  # Ann and Bob's
    task: UUID  # assigned to Bob


def a_team(runtime: Runtime) -> Team:
    def person(name: str) -> UUID:
        return users.register_user(as_actor(runtime, None), email=f"{name}@departures.test",
                                   name=name, password="password-1").id

    ann, bob = person("ann"), person("bob")
    a = as_actor(runtime, ann)
    org = organizations.create_organization(a, name="Leavers", slug="leavers").id
    organizations.add_member(a, org, role=Role.CONTRIBUTOR, user_id=bob)
    project = projects.create_project(a, org, name="Apollo").id
    archived = projects.create_project(a, org, name="Gemini").id
    for p in (project, archived):
        projects.add_project_member(a, org, p, user_id=bob, role=ProjectRole.MEMBER)
    team_channel = channels.create_channel(a, org, kind=ChannelKind.TEAM, name="all").id
    channels.add_channel_member(as_actor(runtime, bob), org, team_channel)
    direct = channels.create_channel(a, org, kind=ChannelKind.DIRECT, user_id=bob).id
    task = tasks.create_task(a, org, project, title="Bob's").id
    tasks.assign_task(a, org, task, assignee_id=bob)
    projects.archive_project(a, org, archived)
    return Team(ann, bob, org, project, archived, team_channel, direct, task)


def complete(runtime: Runtime) -> Departures:
    """Read models caught up, then every departure completed."""
    catch_up(runtime.app, runtime.pool, runtime.read_models)
    departures = Departures(runtime.app, runtime.pool, read_model_wait=0.1)
    while departures.run_once():
        pass
    catch_up(runtime.app, runtime.pool, runtime.read_models)
    return departures


def get(runtime: Runtime, aggregate_id: UUID) -> Any:
    return runtime.app.repository.get(aggregate_id)


def assert_gone(runtime: Runtime, t: Team) -> None:
    assert not get(runtime, t.project).is_member(t.bob)
    assert not get(runtime, t.team_channel).is_member(t.bob)
    assert get(runtime, t.task).assignee_id is None
    # Kept: the archived project as it was, and the direct channel.
    assert get(runtime, t.archived).is_member(t.bob)
    assert get(runtime, t.direct).is_member(t.bob)
    with runtime.pool.connection() as conn:
        assert conn.execute("SELECT count(*) FROM project.project_members "
                            "WHERE user_id = %s", (t.bob,)).fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM project.tasks WHERE assignee_id = %s",
                            (t.bob,)).fetchone() == (0,)


def test_someone_removed_leaves_the_organizations_work(fresh_runtime: Runtime) -> None:
    runtime = fresh_runtime
    t = a_team(runtime)
    removed = organizations.remove_member(as_actor(runtime, t.ann, "offboarding-7"), t.org,
                                          t.bob)
    departures = complete(runtime)
    assert_gone(runtime, t)
    assert departures.position() == runtime.app.recorder.max_notification_id()
    # In the timeline as part of the removal: Ann's, its correlation id, caused by it.
    with runtime.pool.connection() as conn:
        rows = conn.execute(
            "SELECT action, actor_id, causation_id FROM activity.timeline "
            "WHERE correlation_id = 'offboarding-7' AND position > %s ORDER BY position",
            (removed.position,)).fetchall()
    assert sorted(r[0] for r in rows) == [
        "channel.member_left", "project.member_removed", "task.assigned"]
    assert {(r[1], r[2]) for r in rows} == {(t.ann, f"log:{removed.position}")}


def test_someone_made_a_client_only_views_and_has_no_tasks(fresh_runtime: Runtime) -> None:
    runtime = fresh_runtime
    t = a_team(runtime)
    a = as_actor(runtime, t.ann)
    organizations.change_member_role(a, t.org, t.bob, role=Role.CLIENT)
    # A Client may be made a project Viewer: that stays.
    other = projects.create_project(a, t.org, name="Viewed").id
    projects.add_project_member(a, t.org, other, user_id=t.bob, role=ProjectRole.VIEWER)
    complete(runtime)
    assert get(runtime, t.project).role_of(t.bob) is ProjectRole.VIEWER
    assert get(runtime, other).role_of(t.bob) is ProjectRole.VIEWER
    assert get(runtime, t.archived).role_of(t.bob) is ProjectRole.MEMBER  # read-only
    assert get(runtime, t.task).assignee_id is None
    assert get(runtime, t.team_channel).is_member(t.bob)  # as any Client's may be


def test_another_role_change_leaves_the_work_alone(fresh_runtime: Runtime) -> None:
    runtime = fresh_runtime
    t = a_team(runtime)
    organizations.change_member_role(as_actor(runtime, t.ann), t.org, t.bob, role=Role.MANAGER)
    head = runtime.app.recorder.max_notification_id()
    complete(runtime)
    assert runtime.app.recorder.max_notification_id() == head
    assert get(runtime, t.project).is_member(t.bob)


def test_a_join_committed_after_the_removal_is_undone(fresh_runtime: Runtime) -> None:
    """A command that checked Bob's membership just before the removal committed, and
    committed just after it: its join comes later in the log than the removal."""
    runtime = fresh_runtime
    t = a_team(runtime)
    a = as_actor(runtime, t.ann)
    other = projects.create_project(a, t.org, name="Late").id
    late_task = tasks.create_task(a, t.org, other, title="Late").id
    organizations.remove_member(a, t.org, t.bob)
    meta = {**a.in_organization(t.org).ctx.meta}

    def join_project(uow: UnitOfWork) -> Project:
        project: Project = uow.get(Project, other)
        project.add_member(t.bob, ProjectRole.MEMBER, meta)
        return project

    def join_channel(uow: UnitOfWork) -> Channel:
        channel: Channel = uow.get(Channel, t.team_channel)
        channel.join(t.bob, meta)
        return channel

    def assigned(uow: UnitOfWork) -> Task:
        task: Task = uow.get(Task, late_task)
        task.assign(t.bob, True, meta)
        return task

    complete(runtime)  # the removal's sweep first
    for decide in (join_project, join_channel, assigned):
        runtime.app.execute(decide)
    complete(runtime)
    assert not get(runtime, other).is_member(t.bob)
    assert not get(runtime, t.team_channel).is_member(t.bob)
    assert get(runtime, late_task).assignee_id is None


def test_a_repeat_changes_nothing(fresh_runtime: Runtime) -> None:
    runtime = fresh_runtime
    t = a_team(runtime)
    organizations.remove_member(as_actor(runtime, t.ann), t.org, t.bob)
    complete(runtime)
    head = runtime.app.recorder.max_notification_id()
    with runtime.pool.connection() as conn:  # as after a crash before the position
        conn.execute("UPDATE public.log_processes SET position = 0 WHERE name = 'departures'")
    complete(runtime)
    assert runtime.app.recorder.max_notification_id() == head


def test_someone_added_back_before_it_ran_keeps_their_work(fresh_runtime: Runtime) -> None:
    runtime = fresh_runtime
    t = a_team(runtime)
    a = as_actor(runtime, t.ann)
    organizations.remove_member(a, t.org, t.bob)
    organizations.add_member(a, t.org, role=Role.CONTRIBUTOR, user_id=t.bob)
    complete(runtime)
    assert get(runtime, t.project).is_member(t.bob)
    assert get(runtime, t.task).assignee_id == t.bob


def test_it_waits_for_the_read_models_it_asks(fresh_runtime: Runtime) -> None:
    runtime = fresh_runtime
    t = a_team(runtime)
    catch_up(runtime.app, runtime.pool, runtime.read_models)
    removed = organizations.remove_member(as_actor(runtime, t.ann), t.org, t.bob)
    assert removed.position is not None
    departures = Departures(runtime.app, runtime.pool, read_model_wait=0.05)
    assert departures.step() is False  # the read models do not know of the removal yet
    assert departures.position() < removed.position
    assert get(runtime, t.project).is_member(t.bob)
    complete(runtime)
    assert_gone(runtime, t)


def test_status_and_metrics_show_how_far_departures_are_completed(
    cli_env: Runtime, capsys: pytest.CaptureFixture[str],
) -> None:
    runtime = cli_env
    t = a_team(runtime)
    organizations.remove_member(as_actor(runtime, t.ann), t.org, t.bob)
    head = runtime.app.recorder.max_notification_id()
    main(["status"])
    assert f"completed up to position 0 of {head} (lag {head} events)" in \
        capsys.readouterr().out
    complete(runtime)
    head = runtime.app.recorder.max_notification_id()
    main(["status"])
    assert f"completed up to position {head} of {head} (lag 0 events)" in \
        capsys.readouterr().out
    with TestClient(create_app(runtime, run_projections=False)) as client:
        assert "vistone_departures_lag_events 0.0" in client.get("/metrics").text
