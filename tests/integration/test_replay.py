"""`vistone replay` against a real database: read models built into a schema of their own
as of a point in the log hold exactly what the live read models held at that point, and
the live read models and their catalogue are not touched."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest

from domain.base import CommandContext
from domain.task import TaskStatus
from domain.user import User
from projections.base import ReadModel, handles
from projections.registry import all_read_models
from projections.replay import (
    ReplayFailed,
    ReplayRefused,
    position_at,
    relation_collisions,
    replay,
    staging_schema,
)
from projections.runner import catch_up
from vistone.app import Command
from vistone.cli import main
from vistone.commands import organizations, projects, tasks, users
from vistone.runtime import Runtime

REPO = Path(__file__).resolve().parents[2]


def as_actor(runtime: Runtime, actor: UUID | None = None) -> Command:
    return Command(runtime.app, CommandContext(actor))


def snapshot(runtime: Runtime, schema_of: Any = None) -> dict[str, list[tuple[Any, ...]]]:
    """Every table of every read model, rows sorted; from the live views, or (with
    ``schema_of``: model → schema) from another schema."""
    tables: dict[str, list[tuple[Any, ...]]] = {}
    with runtime.pool.connection() as conn:
        for model in all_read_models():
            schema = schema_of(model) if schema_of else model.schema
            for table in model.tables:
                rows = conn.execute(f'SELECT * FROM "{schema}"."{table}"').fetchall()
                tables[f"{model.name}.{table}"] = sorted(rows, key=repr)
    return tables


def catalogue(runtime: Runtime) -> list[tuple[Any, ...]]:
    with runtime.pool.connection() as conn:
        return conn.execute("SELECT * FROM public.read_model_versions "
                            "ORDER BY generation").fetchall()


def schema_exists(runtime: Runtime, name: str) -> bool:
    with runtime.pool.connection() as conn:
        return conn.execute("SELECT to_regnamespace(%s)", (name,)).fetchone() != (None,)


def write_history(runtime: Runtime) -> dict[str, Any]:
    """Two stretches of history; the live read models are caught up after the first and
    their rows kept, so the past is known exactly."""
    owner = users.register_user(as_actor(runtime), email="owner@replay.test", name="Owner",
                                password="password-1").id
    org = organizations.create_organization(as_actor(runtime, owner), name="Past Org",
                                            slug="past-org").id
    project = projects.create_project(as_actor(runtime, owner), org, name="Apollo").id
    task = tasks.create_task(as_actor(runtime, owner), org, project, title="First").id
    middle = tasks.change_task_status(as_actor(runtime, owner), org, task,
                                      status=TaskStatus.IN_PROGRESS).position
    assert middle is not None
    catch_up(runtime.app, runtime.pool, runtime.read_models)
    past = snapshot(runtime)
    # What happens after the middle: none of it may show in a replay up to the middle.
    tasks.change_task_status(as_actor(runtime, owner), org, task, status=TaskStatus.COMPLETED)
    tasks.update_task(as_actor(runtime, owner), org, task, changes={"title": "Renamed"})
    tasks.create_task(as_actor(runtime, owner), org, project, title="Second")
    organizations.update_organization(as_actor(runtime, owner), org, name="Present Org")
    users.register_user(as_actor(runtime), email="later@replay.test", name="Later",
                        password="password-1")
    catch_up(runtime.app, runtime.pool, runtime.read_models)
    return {"middle": middle, "past": past, "task": task, "org": org}


def test_replay_builds_every_read_model_as_it_was_at_a_position(
    cli_env: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    history = write_history(cli_env)
    present, live_catalogue = snapshot(cli_env), catalogue(cli_env)
    assert present != history["past"]  # the later commands changed the live rows

    assert main(["replay", "--until", str(history["middle"]), "--into", "past"]) == 0
    assert f"up to log position {history['middle']}" in capsys.readouterr().out

    # Every table of every read model holds the rows the live one held at the middle.
    assert snapshot(cli_env, lambda model: "past") == history["past"]
    with cli_env.pool.connection() as conn:
        assert conn.execute("SELECT title, status FROM past.tasks").fetchall() == [
            ("First", "IN_PROGRESS")]
        assert conn.execute("SELECT name FROM past.organizations").fetchall() == [
            ("Past Org",)]
    # The live read models and their catalogue did not move.
    assert snapshot(cli_env) == present
    assert catalogue(cli_env) == live_catalogue


def test_a_time_picks_the_last_event_stamped_at_or_before_it(
    cli_env: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    history = write_history(cli_env)
    app = cli_env.app
    events = [(n.id, app.mapper.to_domain_event(n).timestamp)
              for n in app.recorder.select_notifications(start=1, limit=10_000)]
    moment = dict(events)[history["middle"]]
    # Written one command after another: the next event is stamped later.
    assert all(stamp > moment for position, stamp in events if position > history["middle"])
    assert position_at(app, moment) == history["middle"]
    # The same instant written in another offset names the same position.
    elsewhere = moment.astimezone(timezone(timedelta(hours=5, minutes=30)))
    assert position_at(app, elsewhere) == history["middle"]
    assert position_at(app, moment - timedelta(microseconds=1)) == history["middle"] - 1
    assert position_at(app, events[0][1] - timedelta(seconds=1)) == 0
    # A small page makes the backward scan cross pages.
    assert position_at(app, moment, page=2) == history["middle"]

    assert main(["replay", "--until", elsewhere.isoformat(), "--into", "as_of_time"]) == 0
    assert f"log position {history['middle']}" in capsys.readouterr().err
    assert snapshot(cli_env, lambda model: "as_of_time") == history["past"]


def test_only_the_named_read_models_are_replayed(cli_env: Runtime) -> None:
    history = write_history(cli_env)
    assert main(["replay", "--until", str(history["middle"]), "--into", "only_tasks",
                 "--read-model", "tasks", "--read-model", "organizations"]) == 0
    with cli_env.pool.connection() as conn:
        tables = {row[0] for row in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'only_tasks'")}
    assert "tasks" in tables and "organizations" in tables
    assert "users" not in tables and "timeline" not in tables
    assert main(["replay", "--until", "1", "--into", "nope", "--read-model", "nosuch"]) == 2
    assert not schema_exists(cli_env, "nope")


def test_an_existing_empty_schema_is_used(cli_env: Runtime) -> None:
    history = write_history(cli_env)
    with cli_env.pool.connection() as conn:
        conn.execute("CREATE SCHEMA made_ahead")
    assert main(["replay", "--until", str(history["middle"]), "--into", "made_ahead"]) == 0
    assert snapshot(cli_env, lambda model: "made_ahead") == history["past"]


@pytest.mark.parametrize("into", [
    "public", "auth", "project", "activity", "information_schema", "pg_catalog",
    "rm_users_g1",  # the read models' generations
])
def test_a_live_schema_is_refused(
    cli_env: Runtime, capsys: pytest.CaptureFixture[str], into: str
) -> None:
    register_one(cli_env)
    before, live_catalogue = snapshot(cli_env), catalogue(cli_env)
    assert main(["replay", "--until", "1", "--into", into]) == 2
    assert into in capsys.readouterr().err
    assert snapshot(cli_env) == before and catalogue(cli_env) == live_catalogue


def test_a_live_generation_schema_is_refused_by_the_api_too(cli_env: Runtime) -> None:
    register_one(cli_env)
    storage = catalogue(cli_env)[0][3]  # rm_<name>_g<N>
    with pytest.raises(ReplayRefused):
        replay(cli_env.app, cli_env.pool, all_read_models(), until=1, into=storage)


@pytest.mark.parametrize("into", ["Past", "1past", "past-time", "past; drop", "", "x" * 64,
                                  '"quoted"'])
def test_a_bad_schema_name_is_refused(
    cli_env: Runtime, capsys: pytest.CaptureFixture[str], into: str
) -> None:
    register_one(cli_env)
    assert main(["replay", "--until", "1", "--into", into]) == 2
    assert "not a plain schema name" in capsys.readouterr().err


def test_an_existing_schema_that_is_not_empty_is_refused_and_kept(
    cli_env: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    register_one(cli_env)
    with cli_env.pool.connection() as conn:
        conn.execute("CREATE SCHEMA occupied")
        conn.execute("CREATE TABLE occupied.notes (body text)")
        conn.execute("INSERT INTO occupied.notes VALUES ('mine')")
    assert main(["replay", "--until", "1", "--into", "occupied"]) == 2
    assert "not empty" in capsys.readouterr().err
    with cli_env.pool.connection() as conn:
        assert conn.execute("SELECT tablename FROM pg_tables "
                            "WHERE schemaname = 'occupied'").fetchall() == [("notes",)]
        assert conn.execute("SELECT body FROM occupied.notes").fetchall() == [("mine",)]


@pytest.mark.parametrize("until", ["2025-03-01T12:00:00", "2025-03-01", "yesterday", "-1",
                                   "999999"])
def test_a_bad_until_is_refused(
    cli_env: Runtime, capsys: pytest.CaptureFixture[str], until: str
) -> None:
    register_one(cli_env)
    assert main(["replay", "--until", until, "--into", "bad_until"]) == 2
    assert "--until" in capsys.readouterr().err
    assert not schema_exists(cli_env, "bad_until")


def register_one(runtime: Runtime) -> None:
    users.register_user(as_actor(runtime), email="one@replay.test", name="One",
                        password="password-1")
    catch_up(runtime.app, runtime.pool, runtime.read_models)


# --- one schema for every read model --------------------------------------------------------

def test_registered_read_models_can_share_one_schema() -> None:
    """Replay builds every read model into one schema; a read model added with a table or
    index named like another's would break that: rename it (or make replay build each
    read model into a schema of its own)."""
    assert relation_collisions(all_read_models()) == {}


class _Colliding(ReadModel):
    name = "colliding"
    schema = "colliding"
    ddl = ("CREATE TABLE users (id uuid PRIMARY KEY)",
           "CREATE INDEX tasks_parent ON users (id)")
    tables = ("users",)


def test_read_models_whose_names_collide_are_refused_before_anything_is_created(
    cli_env: Runtime
) -> None:
    users_model = next(m for m in all_read_models() if m.name == "users")
    tasks_model = next(m for m in all_read_models() if m.name == "tasks")
    models = [users_model, tasks_model, _Colliding()]
    assert relation_collisions(models) == {"tasks_parent": ["colliding", "tasks"],
                                           "users": ["colliding", "users"]}
    with pytest.raises(ReplayRefused, match="tasks_parent"):
        replay(cli_env.app, cli_env.pool, models, until=0, into="collide")
    assert not schema_exists(cli_env, "collide")


# --- failures and progress -----------------------------------------------------------------

class _BrokenAtSecondUser(ReadModel):
    """Stores users, and cannot store the second one (a bug in a handler)."""

    name = "broken"
    schema = "broken"
    ddl = ("CREATE TABLE people (id uuid PRIMARY KEY)",)
    tables = ("people",)

    @handles(User.Registered)
    def _registered(self, cur: psycopg.Cursor[Any], e: Any) -> None:
        cur.execute("SELECT count(*) FROM people")
        row = cur.fetchone()
        if row is not None and row[0] >= 1:
            raise RuntimeError("cannot store a second person")
        cur.execute("INSERT INTO people (id) VALUES (%s)", (e.originator_id,))


def test_a_failed_replay_leaves_nothing_and_names_the_event(cli_env: Runtime) -> None:
    first = users.register_user(as_actor(cli_env), email="a@replay.test", name="A",
                                password="password-1").position
    second = users.register_user(as_actor(cli_env), email="b@replay.test", name="B",
                                 password="password-1").position
    assert first is not None and second is not None
    head = cli_env.app.recorder.max_notification_id()
    assert head is not None
    with pytest.raises(ReplayFailed) as failed:
        replay(cli_env.app, cli_env.pool, [_BrokenAtSecondUser()], until=head, into="broken_past")
    # The second registration's user event (its claim is stored before it, same commit).
    assert failed.value.model == "broken" and first < (failed.value.position or 0) <= second
    assert not schema_exists(cli_env, "broken_past")

    # A schema that existed empty is left empty, not dropped.
    with cli_env.pool.connection() as conn:
        conn.execute("CREATE SCHEMA kept_empty")
    with pytest.raises(ReplayFailed):
        replay(cli_env.app, cli_env.pool, [_BrokenAtSecondUser()], until=head, into="kept_empty")
    with cli_env.pool.connection() as conn:
        assert conn.execute("SELECT count(*) FROM pg_class "
                            "WHERE relnamespace = 'kept_empty'::regnamespace").fetchone() == (0,)


def test_progress_is_reported_batch_by_batch_up_to_the_end(cli_env: Runtime) -> None:
    for i in range(4):
        users.register_user(as_actor(cli_env), email=f"p{i}@replay.test", name=f"P{i}",
                            password="password-1")
    head = cli_env.app.recorder.max_notification_id()
    assert head is not None
    timeline = next(m for m in all_read_models() if m.name == "timeline")
    reported: list[int] = []
    result = replay(cli_env.app, cli_env.pool, [timeline], until=head - 1, into="progress",
                    batch_size=2, progress=lambda model, position, end: reported.append(position))
    # The timeline reads every event: a batch of 2 each time, the last one at the end.
    assert reported == sorted(reported) and len(reported) >= (head - 1) // 2
    assert reported[-1] == head - 1
    assert result.models[0].events == head - 1
    with cli_env.pool.connection() as conn:
        assert conn.execute("SELECT max(position) FROM progress.timeline").fetchone() == (
            head - 1,)


def test_a_replay_killed_at_any_moment_leaves_the_schema_absent_then_completes(
    cli_env: Runtime,
) -> None:
    """SIGKILL while the read models are built: the target schema never exists
    half-built (the build is renamed into it only once complete), the next replay into
    the same name is not refused, and it drops what the killed one left."""
    owner = users.register_user(as_actor(cli_env), email="k@replay.test", name="K",
                                password="password-1").id
    org = organizations.create_organization(as_actor(cli_env, owner), name="Killed",
                                            slug="killed-org").id
    project = projects.create_project(as_actor(cli_env, owner), org, name="Long").id
    for i in range(600):
        tasks.create_task(as_actor(cli_env, owner), org, project, title=f"Task {i}")
    head = cli_env.app.recorder.max_notification_id()
    staging = staging_schema("killed_past")
    command = [sys.executable, "-m", "vistone.cli", "replay", "--until", str(head),
               "--into", "killed_past"]
    killed = 0
    for kill_after_tables in (1, 5, 12, 20):
        child = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while child.poll() is None and time.monotonic() < deadline:
            with cli_env.pool.connection() as conn:
                row = conn.execute("SELECT count(*) FROM pg_class WHERE relkind = 'r' "
                                   "AND relnamespace = to_regnamespace(%s)", (staging,)
                                   ).fetchone()
            if row and row[0] >= kill_after_tables:
                child.send_signal(signal.SIGKILL)
                break
            time.sleep(0.005)
        child.wait(30)
        if child.returncode == 0:  # finished first: complete, as it must be
            assert schema_exists(cli_env, "killed_past")
            with cli_env.pool.connection() as conn:
                conn.execute("DROP SCHEMA killed_past CASCADE")
            continue
        assert child.returncode == -signal.SIGKILL
        assert not schema_exists(cli_env, "killed_past"), kill_after_tables
        killed += 1
    assert killed >= 2, "the replays finished before they could be killed"
    result = replay(cli_env.app, cli_env.pool, all_read_models(), until=head,
                    into="killed_past")
    assert result.schema == "killed_past" and not schema_exists(cli_env, staging)
    catch_up(cli_env.app, cli_env.pool, cli_env.read_models)
    assert snapshot(cli_env, lambda model: "killed_past") == snapshot(cli_env)


def test_an_abandoned_staging_schema_is_dropped_by_the_next_replay(cli_env: Runtime) -> None:
    left = staging_schema("some_other_past")
    with cli_env.pool.connection() as conn:
        conn.execute(f"CREATE SCHEMA {left}")
        conn.execute(f"CREATE TABLE {left}.tasks (id int)")
    head = cli_env.app.recorder.max_notification_id() or 0
    replay(cli_env.app, cli_env.pool, [], until=head, into="a_past")
    assert not schema_exists(cli_env, left) and schema_exists(cli_env, "a_past")
