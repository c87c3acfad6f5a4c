"""Search over HTTP: hybrid ranking, permissions at read time, content types switched
off, and what a removed member stops finding at once."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.e2e.test_tasks_api import create_task, new_team
from tests.helpers import fresh
from vistone.runtime import Runtime
from workers.embedding import wait_until_idle


def embedded(runtime: Runtime) -> None:
    """Every pending chunk embedded (the in-process worker would get there too)."""
    assert runtime.embedding is not None
    wait_until_idle(runtime.embedding)


def search(client: TestClient, org: str, who: Any, q: str, position: int | None = None,
           **params: Any) -> dict[str, Any]:
    r = client.get(f"/v1/organizations/{org}/search", params={"q": q, **params},
                   headers={**who.headers, **fresh(position)})
    assert r.status_code == 200, r.text
    return r.json()


def test_a_task_is_found_by_its_words_and_by_its_meaning(client: TestClient,
                                                         runtime: Runtime) -> None:
    team = new_team(client)
    task = create_task(client, team, title="Renew the TLS certificate",
                       description="The web server's certificate expires next month.")
    create_task(client, team, title="Design the logo", description="Colours and fonts.")
    embedded(runtime)
    found = search(client, team.org, team.ann, "certificate", task["position"])
    assert found["mode"] == "hybrid"
    assert found["items"][0]["source"]["id"] == task["id"]
    assert found["items"][0]["source"]["content_type"] == "task"
    assert "vector" in found["items"][0]["matched_by"]
    assert found["items"][0]["source"]["link"].endswith(f"/tasks/{task['id']}")
