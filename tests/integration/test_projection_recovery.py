"""Read models survive crashes and concurrent workers: whatever happens, they end with
exactly the rows a rebuild from an empty read model produces."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
import uuid
from typing import Any

import pytest

from domain.base import CommandContext
from domain.roles import Role
from projections.organizations import OrganizationsReadModel
from projections.runner import EventFailed, catch_up
from projections.users import UsersReadModel
from projections.versions import request_rebuild
from vistone.app import Command
from vistone.commands import organizations, users
from vistone.runtime import Runtime

MODELS = ["organizations", "users"]


def append_commands(runtime: Runtime, count: int) -> None:
    """Users, organizations and member churn: a realistic mix of events."""
    rng = random.Random()
    system = CommandContext(actor_id=None)
    for _ in range(count):
        owner = users.register_user(Command(runtime.app, system),
                                    email=f"o-{uuid.uuid4().hex}@x.test",
                                    name="Owner", password="password-1").id
        member = users.register_user(Command(runtime.app, system),
                                     email=f"m-{uuid.uuid4().hex}@x.test",
                                     name="Member", password="password-1").id
        ctx = CommandContext(actor_id=owner)
        org = organizations.create_organization(Command(runtime.app, ctx), name="Org",
                                                slug=f"org-{uuid.uuid4().hex[:16]}").id
        organizations.add_member(Command(runtime.app, ctx),
                                 org, user_id=member, role=Role.CONTRIBUTOR)
        organizations.change_member_role(Command(runtime.app, ctx), org, member, role=Role.MANAGER)
        if rng.random() < 0.5:
            organizations.remove_member(Command(runtime.app, ctx), org, member)
        organizations.update_organization(Command(runtime.app, ctx),
                                          org, name=f"Org {rng.random()}")


def snapshot(runtime: Runtime) -> dict[str, list[tuple[Any, ...]]]:
    tables = ["auth.organizations", "auth.organization_members", "auth.users"]
    with runtime.pool.connection() as conn:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall() for t in tables}


def rebuilt(runtime: Runtime) -> dict[str, list[tuple[Any, ...]]]:
    """The rows a fresh build from the log produces (swapped in when complete)."""
    models = [OrganizationsReadModel(), UsersReadModel()]
    before = generations(runtime)
    for model in models:
        request_rebuild(runtime.pool, model)
    catch_up(runtime.app, runtime.pool, models)
    assert generations(runtime).isdisjoint(before), "the rebuild was not swapped in"
    return snapshot(runtime)


def generations(runtime: Runtime) -> set[int]:
    with runtime.pool.connection() as conn:
        return {row[0] for row in conn.execute(
            "SELECT generation FROM public.read_model_versions WHERE name = ANY(%s)",
            (MODELS,))}


def start_worker(runtime: Runtime) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": runtime.database.url, "VISTONE_JWT_SECRET": "x"}
    return subprocess.Popen(
        [sys.executable, "-m", "vistone.cli", "worker", "--only", *MODELS],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def wait_caught_up(runtime: Runtime, timeout: float = 60.0) -> None:
    head = runtime.app.recorder.max_notification_id() or 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with runtime.pool.connection() as conn:
            row = conn.execute("SELECT min(position) FROM public.read_model_versions "
                               "WHERE name = ANY(%s) AND state = 'active'",
                               (MODELS,)).fetchone()
        if row and row[0] is not None and row[0] >= head:
            return
        time.sleep(0.05)
    pytest.fail("the workers did not catch up with the log")


@pytest.mark.timeout(240)
def test_killed_worker_restarts_without_losing_or_doubling(fresh_runtime: Runtime) -> None:
    append_commands(fresh_runtime, 40)
    rng = random.Random(7)
    for _ in range(8):
        worker = start_worker(fresh_runtime)
        append_commands(fresh_runtime, 5)
        time.sleep(rng.uniform(0.3, 1.5))
        worker.kill()  # SIGKILL: no clean shutdown, possibly mid-batch
        worker.wait()
    worker = start_worker(fresh_runtime)
    try:
        wait_caught_up(fresh_runtime)
    finally:
        worker.terminate()
        worker.wait()
    after_crashes = snapshot(fresh_runtime)
    assert after_crashes["auth.users"], "the workers projected nothing"
    assert after_crashes == rebuilt(fresh_runtime)


@pytest.mark.timeout(240)
def test_two_workers_for_the_same_read_models_do_not_corrupt_them(
    fresh_runtime: Runtime,
) -> None:
    workers = [start_worker(fresh_runtime), start_worker(fresh_runtime)]
    try:
        append_commands(fresh_runtime, 60)
        wait_caught_up(fresh_runtime)
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait()
    concurrent = snapshot(fresh_runtime)
    assert len(concurrent["auth.organizations"]) == 60
    assert concurrent == rebuilt(fresh_runtime)


class ExplodingUsers(UsersReadModel):
    """Cannot apply the registration of one person (a bug, as far as the runner knows)."""

    def apply(self, cursor: Any, event: Any) -> None:
        if getattr(event, "email", None) == "u2@x.test":
            raise RuntimeError("this read model cannot store this event")
        super().apply(cursor, event)


def test_a_failing_event_stops_its_model_just_before_it(fresh_runtime: Runtime) -> None:
    """The events before the one at fault are kept, nothing after it is applied, and the
    position stays just before it: a fixed model resumes exactly there."""
    system = CommandContext(actor_id=None)
    positions = [users.register_user(Command(fresh_runtime.app, system),
                                     email=f"u{i}@x.test", name="U",
                                     password="password-1").position for i in range(5)]
    with pytest.raises(EventFailed) as failed:
        catch_up(fresh_runtime.app, fresh_runtime.pool, [ExplodingUsers()])
    assert positions[1] < failed.value.position <= positions[2]  # u2's registration
    with fresh_runtime.pool.connection() as conn:
        assert conn.execute("SELECT count(*) FROM auth.users").fetchone() == (2,)
        assert conn.execute("SELECT position FROM public.read_model_versions "
                            "WHERE name = 'users'").fetchone() == (failed.value.position - 1,)
    catch_up(fresh_runtime.app, fresh_runtime.pool, [UsersReadModel()])
    with fresh_runtime.pool.connection() as conn:
        assert conn.execute("SELECT count(*) FROM auth.users").fetchone() == (5,)
