"""The activity timeline on a real PostgreSQL and a real HTTP server: a rebuild from the
log equals the rows written live (whatever the batches), no personal data is copied into
it, and the live feed resumes from Last-Event-ID without a gap or a duplicate."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import httpx
import pytest
import uvicorn
from hypothesis import HealthCheck, given, settings
from psycopg.rows import dict_row

from api.main import create_app
from domain.base import CommandContext
from domain.task import TaskStatus
from projections.runner import catch_up, process_pending
from projections.transcoding import state_transcoder
from projections.versions import request_rebuild
from tests.helpers import Person, add_member, new_organization, new_person
from tests.integration.test_every_read_model_stores_every_event import (
    ClientValues,
    Values,
    client_values,
    leaks,
    personal_values,
    run_client_commands,
    run_every_command,
    values,
)
from vistone.app import Command
from vistone.commands import projects, tasks
from vistone.runtime import Runtime


def timeline_rows(runtime: Runtime) -> list[dict[str, Any]]:
    with runtime.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT * FROM activity.timeline ORDER BY position").fetchall()


@settings(max_examples=4, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large, HealthCheck.filter_too_much])
@given(v=values(), cv=client_values())
def test_a_rebuilt_timeline_equals_the_live_one_and_copies_no_personal_data(
    fresh_runtime: Runtime, v: Values, cv: ClientValues,
) -> None:
    runtime = fresh_runtime
    model = next(m for m in runtime.read_models if m.name == "timeline")
    world = run_every_command(runtime, v)
    run_client_commands(runtime, world, cv)
    # Live: in batches of three events, so one aggregate's events span batches.
    while process_pending(runtime.app, runtime.pool, [model], batch_size=3):
        pass
    live = timeline_rows(runtime)
    assert {r["position"] for r in live} >= set(range(live[-1]["position"] - 10,
                                                      live[-1]["position"] + 1))
    request_rebuild(runtime.pool, model)
    catch_up(runtime.app, runtime.pool, [model])
    assert timeline_rows(runtime) == live

    # Neither the rows nor the states kept to diff against hold personal data.
    with runtime.pool.connection() as conn:
        storage = conn.execute("SELECT storage FROM public.read_model_versions "
                               "WHERE name = 'timeline' AND state = 'active'").fetchone()
        assert storage is not None
        kept = conn.execute(f'SELECT state FROM "{storage[0]}".entity_states').fetchall()
    transcoder = state_transcoder()
    written = [live, [transcoder.decode(bytes(row[0])) for row in kept]]
    # Every personal value the world wrote (a password too), as far as it is distinctive:
    # hypothesis draws equal text for public fields ("0" * 64 for a title and a password).
    secrets = personal_values(v, cv, also=[v.password])
    assert not leaks(secrets, written)
    assert "argon2" not in repr(written)  # no password hash either


def test_a_status_change_is_recorded_old_to_new(runtime: Runtime, client: Any) -> None:
    ann = new_person(client, "Ann")
    organization_id = UUID(new_organization(client, ann)["id"])
    ctx = CommandContext(actor_id=UUID(ann.id), correlation_id="corr-1")
    command = Command(runtime.app, ctx)
    project = projects.create_project(command, organization_id, name="Launch").id
    task = tasks.create_task(command, organization_id, project, title="Plan").id
    done = tasks.change_task_status(command, organization_id, task,
                                   status=TaskStatus.IN_PROGRESS)
    catch_up(runtime.app, runtime.pool, runtime.read_models)
    with runtime.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute("SELECT * FROM activity.timeline WHERE position = %s",
                          (done.position,)).fetchone()
    assert row is not None
    assert (row["action"], row["entity_type"], row["entity_id"], row["project_id"],
            row["actor_id"], row["correlation_id"]) == (
        "task.status_changed", "task", task, project, UUID(ann.id), "corr-1")
    assert row["changes"] == [{"field": "status", "old": "PENDING", "new": "IN_PROGRESS"}]


# --- the live feed over a real HTTP server --------------------------------------

@pytest.fixture(scope="module")
def server(runtime: Runtime) -> Iterator[str]:
    """The app behind a real uvicorn on a free port (the runtime already runs the
    projections)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(runtime, run_projections=False), host="127.0.0.1",
                            port=port, log_level="warning")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    uv.should_exit = True
    thread.join(10)


def read_feed(base: str, who: Person, organization_id: str, *, count: int,
              last_event_id: str | None = None, after: int | None = None,
              seconds: float = 15) -> list[dict[str, str]]:
    """The first ``count`` events of the feed (id, event, data), then disconnect."""
    headers = {"Authorization": f"Bearer {who.token}"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    params = {"after": after} if after is not None else {}
    events: list[dict[str, str]] = []
    current: dict[str, str] = {}
    with httpx.stream("GET", f"{base}/v1/organizations/{organization_id}/activity/stream",
                      headers=headers, params=params, timeout=seconds) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        deadline = time.monotonic() + seconds
        for line in response.iter_lines():
            if line.startswith(("id:", "event:", "data:")):
                key, _, value = line.partition(":")
                current[key] = value.strip()
            elif not line and current:
                if "data" in current:
                    events.append(current)
                current = {}
                if len(events) >= count:
                    break
            assert time.monotonic() < deadline, f"only {len(events)} of {count} events"
    return events


def visible_positions(client: Any, who: Person, organization_id: str) -> list[int]:
    """Every position the reader sees in the organization's activity, oldest first."""
    positions: list[int] = []
    cursor = None
    while True:
        page = client.get(f"/v1/organizations/{organization_id}/activity",
                          params={"limit": 200, **({"cursor": cursor} if cursor else {})},
                          headers={"Authorization": f"Bearer {who.token}"}).json()
        positions += [item["position"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return sorted(positions)


def test_the_feed_resumes_from_last_event_id_without_gap_or_duplicate(
    server: str, client: Any, runtime: Runtime,
) -> None:
    ann = new_person(client, "Ann")
    organization_id = new_organization(client, ann)["id"]
    headers = {"Authorization": f"Bearer {ann.token}"}
    project = client.post(f"/v1/organizations/{organization_id}/projects",
                          json={"name": "Feed"}, headers=headers).json()["id"]
    for index in range(6):
        client.post(f"/v1/organizations/{organization_id}/projects/{project}/tasks",
                    json={"title": f"task {index}"}, headers=headers)
    catch_up(runtime.app, runtime.pool, runtime.read_models)

    first = read_feed(server, ann, organization_id, count=4, after=0)
    # Written while the reader is away: the resumed feed must carry them too.
    for index in range(6, 12):
        client.post(f"/v1/organizations/{organization_id}/projects/{project}/tasks",
                    json={"title": f"task {index}"}, headers=headers)
    catch_up(runtime.app, runtime.pool, runtime.read_models)
    expected = visible_positions(client, ann, organization_id)
    rest = read_feed(server, ann, organization_id, count=len(expected) - 4,
                     last_event_id=first[-1]["id"])

    received = [int(e["id"]) for e in first + rest]
    assert received == expected  # in order, nothing skipped, nothing twice
    assert {e["event"] for e in first + rest} == {"activity"}


def test_the_feed_shows_a_reader_only_what_they_may_see(
    server: str, client: Any, runtime: Runtime,
) -> None:
    ann, cy = new_person(client, "Ann"), new_person(client, "Cy")
    organization_id = new_organization(client, ann)["id"]
    add_member(client, ann, organization_id, cy, "Contributor")
    headers = {"Authorization": f"Bearer {ann.token}"}
    hidden = client.post(f"/v1/organizations/{organization_id}/projects",
                         json={"name": "Not Cy's"}, headers=headers).json()["id"]
    client.post(f"/v1/organizations/{organization_id}/projects/{hidden}/tasks",
                json={"title": "secret"}, headers=headers)
    catch_up(runtime.app, runtime.pool, runtime.read_models)
    expected = visible_positions(client, cy, organization_id)
    assert expected  # the organization's own rows (Cy joining) are visible to Cy
    events = read_feed(server, cy, organization_id, count=len(expected), after=0)
    assert [int(e["id"]) for e in events] == expected
    assert hidden not in repr(events)


def test_the_feed_is_not_found_for_an_outsider(server: str, client: Any) -> None:
    ann, eve = new_person(client, "Ann"), new_person(client, "Eve")
    organization_id = new_organization(client, ann)["id"]
    response = httpx.get(f"{server}/v1/organizations/{organization_id}/activity/stream",
                         headers={"Authorization": f"Bearer {eve.token}"}, timeout=10)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
