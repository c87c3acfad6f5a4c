"""An Idempotency-Key is recorded for every answered command, also one that changes
nothing (a status the record already has): a retry answers the first answer and
appends nothing, the same key with another body answers 422, and concurrent first
attempts with one key all answer what the one recorded row says."""

from __future__ import annotations

import threading
import uuid
from uuid import UUID

from fastapi.testclient import TestClient

from domain.base import CommandContext
from domain.task import Task, TaskStatus
from tests.e2e.test_tasks_api import create_task, new_team
from vistone.app import Command
from vistone.commands import tasks
from vistone.recorder import IdempotencyKey
from vistone.runtime import Runtime


def idempotency_rows(runtime: Runtime, actor: str | UUID, key: str) -> list[tuple[object, ...]]:
    with runtime.pool.connection() as conn:
        return conn.execute(
            "SELECT aggregate_id, version, position FROM command_idempotency"
            " WHERE actor_id = %s AND key = %s", (actor, key)).fetchall()


def test_a_retried_no_op_answers_its_first_answer_after_the_state_moved(
    client: TestClient, runtime: Runtime,
) -> None:
    team = new_team(client)
    task = create_task(client, team)
    url = team.task_url(task["id"], "/status")
    key = {"Idempotency-Key": f"noop-{uuid.uuid4()}"}
    h = {**team.ann.headers, **key}

    first = client.post(url, json={"status": "PENDING"}, headers=h)  # already PENDING
    assert first.status_code == 200, first.text
    assert first.json()["version"] == 1

    moved = client.post(url, json={"status": "IN_PROGRESS"}, headers=team.ann.headers)
    assert moved.status_code == 200 and moved.json()["version"] == 2

    # The retry of the no-op must not run again on the moved state (IN_PROGRESS ->
    # PENDING is allowed and would append): it answers the first answer.
    again = client.post(url, json={"status": "PENDING"}, headers=h)
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert again.headers["etag"] == '"1"'
    stored: object = runtime.app.repository.get(UUID(task["id"]))
    assert isinstance(stored, Task)
    assert stored.version == 2 and stored.status == TaskStatus.IN_PROGRESS
    assert idempotency_rows(runtime, team.ann.id, key["Idempotency-Key"]) == [
        (UUID(task["id"]), 1, first.json()["position"])]


def test_a_no_op_key_reused_with_another_body_answers_422(client: TestClient) -> None:
    team = new_team(client)
    task = create_task(client, team)
    url = team.task_url(task["id"], "/status")
    h = {**team.ann.headers, "Idempotency-Key": f"noop-{uuid.uuid4()}"}
    assert client.post(url, json={"status": "PENDING"}, headers=h).status_code == 200
    r = client.post(url, json={"status": "IN_PROGRESS"}, headers=h)
    assert r.status_code == 422, r.text
    assert r.json()["type"].endswith("/idempotency-key-reused")


def test_a_project_status_no_op_records_its_key(client: TestClient, runtime: Runtime) -> None:
    team = new_team(client)
    url = f"/v1/organizations/{team.org}/projects/{team.project}/status"
    h = {**team.ann.headers, "Idempotency-Key": f"noop-{uuid.uuid4()}"}
    first = client.post(url, json={"status": "ACTIVE"}, headers=team.ann.headers)
    assert first.status_code == 200, first.text
    noop = client.post(url, json={"status": "ACTIVE"}, headers=h)
    assert noop.status_code == 200 and noop.json()["version"] == first.json()["version"]
    r = client.post(url, json={"status": "ON_HOLD"}, headers=h)
    assert r.status_code == 422 and r.json()["type"].endswith("/idempotency-key-reused")


def test_a_refused_command_records_no_key(client: TestClient, runtime: Runtime) -> None:
    """A 4xx is not an answered command: the key stays free for a corrected request."""
    team = new_team(client)
    task = create_task(client, team)
    url = team.task_url(task["id"], "/status")
    key = f"refused-{uuid.uuid4()}"
    h = {**team.ann.headers, "Idempotency-Key": key}
    r = client.post(url, json={"status": "COMPLETED"}, headers=h)  # PENDING -> COMPLETED
    assert r.status_code == 409, r.text
    assert idempotency_rows(runtime, team.ann.id, key) == []
    r = client.post(url, json={"status": "IN_PROGRESS"}, headers=h)
    assert r.status_code == 200 and r.json()["version"] == 2


def test_concurrent_first_attempts_of_a_no_op_record_one_row_and_agree(
    client: TestClient, runtime: Runtime,
) -> None:
    team = new_team(client)
    task_id = UUID(create_task(client, team)["id"])
    ctx = CommandContext(actor_id=UUID(team.ann.id))
    for round_ in range(5):
        key = IdempotencyKey(UUID(team.ann.id), f"noop-race-{round_}-{uuid.uuid4()}", "same")
        barrier = threading.Barrier(6)
        results: list[object] = [None] * 6

        def attempt(i: int, key: IdempotencyKey = key, barrier: threading.Barrier = barrier,
                    results: list[object] = results) -> None:
            barrier.wait()
            try:
                results[i] = tasks.change_task_status(
                    Command(runtime.app, ctx, idempotency=key), UUID(team.org), task_id,
                    status=TaskStatus.PENDING)
            except BaseException as error:  # noqa: BLE001 - asserted below
                results[i] = error

        threads = [threading.Thread(target=attempt, args=(i,)) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not [r for r in results if isinstance(r, BaseException)], results
        rows = idempotency_rows(runtime, team.ann.id, key.key)
        assert len(rows) == 1
        assert {(r.id, r.version, r.position) for r in results} == set(rows)  # type: ignore[attr-defined]
