"""Read models stay up and visible, and change their schema without downtime.

- A read model that cannot apply an event stops there, visibly (status, readiness, 503 on
  reads that wait for it, metrics), while the others keep running.
- A new version (a schema change) is built beside the serving one and swapped in.
- A rebuild killed halfway leaves the old version serving.
- Start-up and ``status`` run no DDL beside a busy writer.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.conninfo import make_conninfo

from api.main import create_app
from domain.base import CommandContext
from projections.organizations import OrganizationsReadModel
from projections.registry import all_read_models
from projections.runner import EventFailed, catch_up, process_pending, record_failure
from projections.users import UsersReadModel
from projections.versions import read_generations, request_rebuild, swap_in
from vistone.app import Command
from vistone.cli import main
from vistone.commands import users
from vistone.config import Settings
from vistone.runtime import Runtime

SYSTEM = CommandContext(actor_id=None)


def register(runtime: Runtime, count: int, prefix: str = "p") -> list[int]:
    return [users.register_user(Command(runtime.app, SYSTEM),
                                email=f"{prefix}{i}-{uuid.uuid4().hex[:6]}"
                                f"@x.test", name=f"Person {i}", password="password-1").position
            or 0 for i in range(count)]


def generations(runtime: Runtime, name: str) -> list[Any]:
    with runtime.pool.connection() as conn:
        return read_generations(conn, [name]) or []


def user_rows(runtime: Runtime) -> list[tuple[Any, ...]]:
    with runtime.pool.connection() as conn:
        return conn.execute("SELECT * FROM auth.users ORDER BY id").fetchall()


@dataclass
class Readers:
    answers: list[Any] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)


@contextmanager
def querying(runtime: Runtime, query: str, answer: Callable[[list[Any]], Any],
             threads: int = 1) -> Iterator[Readers]:
    """Threads running ``query`` back to back while the block runs; every answer (as
    ``answer`` makes it of the rows) and every error is kept."""
    readers = Readers()
    stop = threading.Event()

    def read_continuously() -> None:
        with psycopg.connect(runtime.database.url, autocommit=True) as conn:
            while not stop.is_set():
                try:
                    readers.answers.append(answer(conn.execute(query).fetchall()))
                except BaseException as error:  # noqa: BLE001 - any failure fails the test
                    readers.errors.append(error)

    running = [threading.Thread(target=read_continuously) for _ in range(threads)]
    for thread in running:
        thread.start()
    try:
        yield readers
    finally:
        stop.set()
        for thread in running:
            thread.join()


class PoisonedUsers(UsersReadModel):
    """Cannot apply one person's registration (a bug, as far as the runner knows)."""

    poison = "poison@x.test"

    def apply(self, cursor: Any, event: Any) -> None:
        if getattr(event, "email", None) == self.poison:
            raise ValueError("cannot store this value")
        super().apply(cursor, event)


def test_a_stopped_read_model_is_visible_and_the_others_keep_running(
    fresh_runtime: Runtime, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    register(fresh_runtime, 2)
    poison_at = users.register_user(Command(fresh_runtime.app, SYSTEM), email=PoisonedUsers.poison,
                                    name="P", password="password-1").position or 0
    register(fresh_runtime, 2)
    head = fresh_runtime.app.recorder.max_notification_id() or 0
    models = [PoisonedUsers(), *[m for m in all_read_models() if m.name != "users"]]
    failures: list[Exception] = []

    def stop(target: Any, error: Exception) -> None:
        record_failure(fresh_runtime.pool, target, error)
        failures.append(error)

    while process_pending(fresh_runtime.app, fresh_runtime.pool, models, on_error=stop,
                          ready=lambda t: t.model.name != "users" or not failures):
        pass
    assert len(failures) == 1 and isinstance(failures[0], EventFailed)
    (users_generation,) = generations(fresh_runtime, "users")
    assert users_generation.position == failures[0].position - 1 < poison_at
    assert users_generation.failed_position == failures[0].position
    assert "cannot store this value" in (users_generation.last_error or "")
    assert len(user_rows(fresh_runtime)) == 2  # those before the poison, nothing after
    assert all(g.position == head for g in generations(fresh_runtime, "organizations"))

    with TestClient(create_app(fresh_runtime, run_projections=False),
                    raise_server_exceptions=False) as client:
        r = client.get("/health/ready")
        assert r.status_code == 503, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "users" in r.json()["detail"] and str(failures[0].position) in r.json()["detail"]
        assert r.headers["retry-after"]
        # Unauthenticated: the kind of error, never its message (it may quote values).
        assert "ValueError" in r.text and "cannot store this value" not in r.text

        email = f"late-{uuid.uuid4().hex[:6]}@x.test"
        r = client.post("/v1/auth/register", json={"email": email, "name": "Late",
                                                   "password": "correct horse battery"})
        assert r.status_code == 201, r.text
        token = client.post("/v1/auth/login", json={
            "email": email, "password": "correct horse battery"}).json()["access_token"]
        r = client.get("/v1/me", headers={"Authorization": f"Bearer {token}",
                                          "X-Min-Position": str(r.json()["position"])})
        assert r.status_code == 503, r.text
        assert r.json()["type"].endswith("/read-model-stopped")
        assert "read model users is stopped" in r.json()["detail"]

        metrics = client.get("/metrics").text
        assert 'vistone_read_model_stopped{read_model="users",state="active"} 1.0' in metrics
        assert 'vistone_read_model_stopped{read_model="organizations",state="active"} 0.0' \
            in metrics
        assert "vistone_read_model_lag_seconds" in metrics
        assert 'vistone_http_requests_total{kind="query",method="GET",route="/v1/me",' \
            'status="503"}' in metrics

    monkeypatch.setenv("DATABASE_URL", fresh_runtime.database.url)
    monkeypatch.setenv("VISTONE_JWT_SECRET", "x")
    assert main(["status"]) == 1  # an operator's script sees the stop
    assert f"STOPPED at event {failures[0].position}" in capsys.readouterr().out

    # The bug fixed (the real read model), it resumes at that event and catches up.
    catch_up(fresh_runtime.app, fresh_runtime.pool, all_read_models())
    (users_generation,) = generations(fresh_runtime, "users")
    assert users_generation.last_error is None and users_generation.failed_position is None
    with TestClient(create_app(fresh_runtime, run_projections=False)) as client:
        assert client.get("/health/ready").status_code == 200


class UsersWithNameIndex(UsersReadModel):
    """The next version of the users read model: one more index and one more column."""

    ddl = (*UsersReadModel.ddl, "CREATE INDEX users_name ON users (name)",
           "ALTER TABLE users ADD COLUMN nickname text")


def test_a_schema_change_is_built_beside_and_swapped_in_while_queries_answer(
    fresh_runtime: Runtime,
) -> None:
    register(fresh_runtime, 30)
    catch_up(fresh_runtime.app, fresh_runtime.pool, [UsersReadModel()])
    before = user_rows(fresh_runtime)
    (old,) = generations(fresh_runtime, "users")
    assert len(before) == 30

    with querying(fresh_runtime, "SELECT count(*) FROM auth.users",
                  lambda rows: rows[0][0]) as readers:
        new_model = UsersWithNameIndex()
        assert new_model.digest != UsersReadModel().digest
        steps = 0
        # Small batches: the build takes many passes, and between passes the old
        # version keeps answering with every row.
        while process_pending(fresh_runtime.app, fresh_runtime.pool, [new_model],
                              batch_size=1):
            steps += 1
            if any(g.building for g in generations(fresh_runtime, "users")):
                assert len(user_rows(fresh_runtime)) == 30
        assert steps > 5
    assert not readers.errors, readers.errors[:3]
    assert readers.answers and set(readers.answers) == {30}
    (new,) = generations(fresh_runtime, "users")
    assert new.state == "active" and new.digest == new_model.digest
    assert new.generation > old.generation
    rows = user_rows(fresh_runtime)
    assert [r[:-1] for r in rows] == before and all(r[-1] is None for r in rows)
    with fresh_runtime.pool.connection() as conn:
        assert conn.execute("SELECT to_regnamespace(%s)", (old.storage,)).fetchone() == (None,)
        assert conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = %s "
                            "AND indexname = 'users_name'", (new.storage,)).fetchone()


def test_a_rebuild_interrupted_halfway_leaves_the_old_version_serving(
    fresh_runtime: Runtime,
) -> None:
    register(fresh_runtime, 20)
    model = UsersReadModel()
    catch_up(fresh_runtime.app, fresh_runtime.pool, [model])
    before = user_rows(fresh_runtime)
    build = request_rebuild(fresh_runtime.pool, model)
    for _ in range(3):  # some of the build, then the process "dies"
        process_pending(fresh_runtime.app, fresh_runtime.pool, [model], batch_size=1)
    state = {g.generation: g for g in generations(fresh_runtime, "users")}
    assert state[build.generation].building and state[build.generation].position > 0
    assert user_rows(fresh_runtime) == before  # the old version answers, whole
    # Any runner later finishes the build and swaps it in.
    catch_up(fresh_runtime.app, fresh_runtime.pool, [model])
    (active,) = generations(fresh_runtime, "users")
    assert active.generation == build.generation and active.state == "active"
    assert user_rows(fresh_runtime) == before


def test_a_rebuild_killed_with_sigkill_leaves_the_old_version_serving(
    fresh_runtime: Runtime,
) -> None:
    register(fresh_runtime, 150)
    model = UsersReadModel()
    catch_up(fresh_runtime.app, fresh_runtime.pool, [model])
    before = user_rows(fresh_runtime)
    (old,) = generations(fresh_runtime, "users")
    env = {**os.environ, "DATABASE_URL": fresh_runtime.database.url, "VISTONE_JWT_SECRET": "x"}
    process = subprocess.Popen([sys.executable, "-m", "vistone.cli", "rebuild", "users"],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(
            g.building and g.position > 0 for g in generations(fresh_runtime, "users")):
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    now = generations(fresh_runtime, "users")
    active = next(g for g in now if g.state == "active")
    assert user_rows(fresh_runtime) == before
    if active.generation == old.generation:  # killed before the swap (the usual case)
        assert any(g.building for g in now)
        catch_up(fresh_runtime.app, fresh_runtime.pool, [model])
        assert user_rows(fresh_runtime) == before


def test_startup_and_status_run_no_ddl_beside_a_busy_writer(
    fresh_runtime: Runtime, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """A writer holds the log's table lock and every read model's tables: opening a
    runtime (serve, worker, rebuild) and ``status`` must not wait for them, since nothing
    needs creating."""
    register(fresh_runtime, 2)
    catch_up(fresh_runtime.app, fresh_runtime.pool, all_read_models())
    with psycopg.connect(fresh_runtime.database.url) as writer:
        writer.execute("LOCK TABLE public.vistone_events IN EXCLUSIVE MODE")
        for model in all_read_models():
            for generation in generations(fresh_runtime, model.name):
                tables = ", ".join(f'"{generation.storage}".{t}' for t in model.tables)
                writer.execute(f"LOCK TABLE {tables} IN EXCLUSIVE MODE")
        settings = Settings(database_url=fresh_runtime.database.url, jwt_secret="x",
                            data_dir=fresh_runtime.settings.data_dir, db_pool_size=2)
        monkeypatch.setenv("DATABASE_URL", fresh_runtime.database.url)
        monkeypatch.setenv("VISTONE_JWT_SECRET", "x")
        outcome: dict[str, Any] = {}

        def start_and_status() -> None:
            Runtime.open(settings).close()
            outcome["status"] = main(["status"])

        thread = threading.Thread(target=start_and_status, daemon=True)
        thread.start()
        thread.join(20)
        assert not thread.is_alive(), "start-up or status waited for the writer's locks"
        writer.rollback()
    assert outcome["status"] == 0


def test_a_newer_deployment_is_not_undone_by_an_older_process(fresh_runtime: Runtime) -> None:
    """An older process still running after a new version was swapped in stands down for
    that read model instead of building its own version back."""
    register(fresh_runtime, 3)
    with fresh_runtime.pool.connection() as conn:
        started_at = conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
    catch_up(fresh_runtime.app, fresh_runtime.pool, [UsersReadModel()])
    catch_up(fresh_runtime.app, fresh_runtime.pool, [UsersWithNameIndex()])  # newer deploy
    (active,) = generations(fresh_runtime, "users")
    assert active.digest == UsersWithNameIndex().digest
    register(fresh_runtime, 1)
    while process_pending(fresh_runtime.app, fresh_runtime.pool,
                          [UsersReadModel(), OrganizationsReadModel()], started_at=started_at):
        pass
    assert [g.generation for g in generations(fresh_runtime, "users")] == [active.generation]


def test_the_first_release_layout_is_replaced_without_a_gap(runtime: Runtime) -> None:
    """A database of the first release (tables in place, one tracking table) keeps
    answering from its tables until the first versioned build replaces them."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(runtime.database.url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_conninfo(runtime.database.url, dbname=name)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE SCHEMA auth")
            conn.execute("CREATE TABLE auth.users (id uuid PRIMARY KEY, email text, name text)")
            conn.execute("INSERT INTO auth.users VALUES (gen_random_uuid(), 'old@x.test', 'Old')")
            conn.execute("CREATE TABLE public.projection_tracking (name text PRIMARY KEY, "
                         "position bigint NOT NULL DEFAULT 0)")
            conn.execute("INSERT INTO public.projection_tracking VALUES ('users', 0)")
        legacy = Runtime.open(Settings(database_url=url, jwt_secret="x",
                                       data_dir=runtime.settings.data_dir, db_pool_size=2))
        try:
            assert [r[1] for r in user_rows(legacy)] == ["old@x.test"]  # still serving
            register(legacy, 2)
            catch_up(legacy.app, legacy.pool, legacy.read_models)
            assert len(user_rows(legacy)) == 2  # rebuilt from the log, swapped in
            with legacy.pool.connection() as conn:
                assert conn.execute("SELECT to_regclass('public.projection_tracking')"
                                    ).fetchone() == (None,)
        finally:
            legacy.close()
    finally:
        with psycopg.connect(runtime.database.url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_swaps_under_continuous_queries_never_fail_a_query(fresh_runtime: Runtime) -> None:
    """Queries take their views and tables one by one; a swap that waited behind one while
    holding others could deadlock it. Queries must never be the ones that fail."""
    owner = users.register_user(Command(fresh_runtime.app, SYSTEM), email="owner@x.test", name="O",
                                password="password-1").id
    from vistone.commands import organizations

    for i in range(5):
        organizations.create_organization(
            Command(fresh_runtime.app, CommandContext(actor_id=owner)),
            name=f"Org {i}", slug=f"org-swap-{i}")
    models = [OrganizationsReadModel(), UsersReadModel()]
    catch_up(fresh_runtime.app, fresh_runtime.pool, models)
    query = ("SELECT o.name, u.name FROM auth.organization_members m "
             "JOIN auth.users u ON u.id = m.user_id "
             "JOIN auth.organizations o ON o.id = m.organization_id")
    with querying(fresh_runtime, query, len, threads=4) as readers:
        for _ in range(15):
            for model in models:
                request_rebuild(fresh_runtime.pool, model)
            catch_up(fresh_runtime.app, fresh_runtime.pool, models)
    assert not readers.errors, readers.errors[:3]
    assert readers.answers and set(readers.answers) == {5}
    assert all(g.state == "active" for m in models for g in generations(fresh_runtime, m.name))


def test_a_swap_never_moves_what_queries_see_backwards(fresh_runtime: Runtime) -> None:
    """A building generation behind the active one is not swapped in, even when it has
    reached the position it was asked to: a read that waited for a position keeps it."""
    register(fresh_runtime, 3)
    model = UsersReadModel()
    catch_up(fresh_runtime.app, fresh_runtime.pool, [model])
    build = request_rebuild(fresh_runtime.pool, model)
    (active,) = [g for g in generations(fresh_runtime, "users") if g.state == "active"]
    assert active.position > 0
    assert not swap_in(fresh_runtime.pool, model, build.generation, reached=0)
    catch_up(fresh_runtime.app, fresh_runtime.pool, [model])
    (now,) = generations(fresh_runtime, "users")
    assert now.generation == build.generation and now.position >= active.position
