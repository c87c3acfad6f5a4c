"""Contention is not a failure: many concurrent commands on one aggregate all succeed
(in one process they queue on a per-aggregate lock, across processes they back off),
and only contention that outlasts the time budget answers 503 with Retry-After."""

from __future__ import annotations

import dataclasses
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from domain.base import CommandContext
from domain.task import Task
from tests.e2e.test_tasks_api import create_task, new_team
from vistone.app import AggregateLocks, Command, Vistone
from vistone.commands import tasks
from vistone.runtime import Runtime

COMMANDS = 50


def stored_task(app: Vistone, task_id: str | UUID) -> Task:
    task: object = app.repository.get(UUID(str(task_id)))
    assert isinstance(task, Task)
    return task


def test_fifty_concurrent_commands_on_one_task_all_succeed(
    client: TestClient, runtime: Runtime,
) -> None:
    team = new_team(client)
    task = create_task(client, team)
    url = team.task_url(task["id"], "/checklist")

    def add(i: int) -> Any:
        return client.post(url, json={"text": f"item {i}"}, headers=team.ann.headers)

    started = time.monotonic()
    with ThreadPoolExecutor(COMMANDS) as pool:
        answers = list(pool.map(add, range(COMMANDS)))
    elapsed = time.monotonic() - started
    print(f"\n{COMMANDS} concurrent commands on one task over HTTP: {elapsed:.2f} s")

    assert [a.status_code for a in answers] == [201] * COMMANDS, [
        a.text for a in answers if a.status_code != 201]
    assert sorted(a.json()["version"] for a in answers) == list(range(2, COMMANDS + 2))
    stored = stored_task(runtime.app, task["id"])
    assert stored.version == COMMANDS + 1
    assert sorted(item["text"] for item in stored.checklist.values()) == sorted(
        f"item {i}" for i in range(COMMANDS))
    last = max(a.json()["position"] for a in answers)
    r = client.get(team.task_url(task["id"]),
                   headers={**team.ann.headers, "X-Min-Position": str(last)})
    assert r.status_code == 200 and len(r.json()["checklist"]) == COMMANDS


def test_two_processes_hammering_one_task_all_succeed(
    client: TestClient, runtime: Runtime,
) -> None:
    """Two application instances stand for two processes: each serializes its own
    threads, and the two back off from each other through the store's conflicts."""
    team = new_team(client)
    task = create_task(client, team)
    ctx = CommandContext(actor_id=UUID(team.ann.id))
    other = Vistone(env=runtime.database.eventsourcing_env())
    apps = [runtime.app, other]
    threads_per_app, commands_per_thread = 12, 4
    total = len(apps) * threads_per_app * commands_per_thread

    def hammer(n: int) -> list[object]:
        app = apps[n % len(apps)]
        outcomes: list[object] = []
        for k in range(commands_per_thread):
            try:
                result, _ = tasks.add_checklist_item(Command(app, ctx),
                                                     UUID(team.org), UUID(task["id"]),
                                                     text=f"t{n}-{k}")
                outcomes.append(result)
            except Exception as error:  # noqa: BLE001 - asserted below
                outcomes.append(error)
        return outcomes

    try:
        started = time.monotonic()
        with ThreadPoolExecutor(len(apps) * threads_per_app) as pool:
            outcomes = [o for batch in pool.map(hammer, range(len(apps) * threads_per_app))
                        for o in batch]
        elapsed = time.monotonic() - started
        print(f"\n{total} commands on one task from two processes: {elapsed:.2f} s")
        assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
        assert len(outcomes) == total
        stored = stored_task(other, task["id"])
        assert stored.version == total + 1 and len(stored.checklist) == total
    finally:
        other.close()


def test_contention_beyond_the_time_budget_answers_503_with_retry_after(
    client: TestClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch,
) -> None:
    team = new_team(client)
    task = create_task(client, team)
    ctx = CommandContext(actor_id=UUID(team.ann.id))
    budget = 0.3
    impatient = Vistone(env={**runtime.database.eventsourcing_env(),
                             "CONTENTION_BUDGET_SECONDS": str(budget)})
    save = impatient.save

    def overtaken_save(*aggregates: Any, **kwargs: Any) -> Any:
        # Another process appends to the task just before every attempt of ours.
        tasks.add_checklist_item(Command(runtime.app, ctx), UUID(team.org), UUID(task["id"]),
                                 text=f"interloper {uuid.uuid4().hex[:6]}")
        return save(*aggregates, **kwargs)

    monkeypatch.setattr(impatient, "save", overtaken_save)
    api = create_app(dataclasses.replace(runtime, app=impatient, runner=None),
                     run_projections=False)
    try:
        with TestClient(api, raise_server_exceptions=False) as impatient_client:
            started = time.monotonic()
            r = impatient_client.post(team.task_url(task["id"], "/checklist"),
                                      json={"text": "mine"}, headers=team.ann.headers)
            elapsed = time.monotonic() - started
    finally:
        impatient.close()
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"].endswith("/contention-timeout")
    assert r.headers["retry-after"].isdigit() and int(r.headers["retry-after"]) >= 1
    assert elapsed < budget + 5
    texts = [item["text"] for item in stored_task(runtime.app, task["id"]).checklist.values()]
    assert "mine" not in texts and texts  # the interlopers got in, our command did not


def test_aggregate_locks_time_out_holding_nothing_and_forget_unused_ids() -> None:
    locks = AggregateLocks()
    first, second = sorted([uuid.uuid4(), uuid.uuid4()])
    assert locks.acquire([second], time.monotonic() + 1)
    with ThreadPoolExecutor(1) as pool:
        # Takes `first`, waits for `second` past its deadline: gives `first` back.
        assert not pool.submit(locks.acquire, [second, first], time.monotonic() + 0.1).result()
    assert locks.acquire([first], time.monotonic())
    locks.release([first])
    locks.release([second])
    assert locks._locks == {}
