"""Requests built to break things: NUL characters, forged cursors, odd digits, reaching
into projects or channels the caller cannot see. Each answers a clear 4xx and writes
nothing that could hurt."""

from __future__ import annotations

import base64
import json
from typing import Any

from fastapi.testclient import TestClient

from tests.e2e.test_tasks_api import create_task, new_project, new_team
from tests.helpers import add_member, fresh, log_head, new_organization, new_person
from vistone.runtime import Runtime


def forged(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode()


def test_nul_characters_are_refused_before_anything_is_written(
    client: TestClient, runtime: Runtime
) -> None:
    head = log_head(runtime)
    r = client.post("/v1/auth/register", json={"email": "nul@x.test", "name": "a\u0000b",
                                                "password": "password-1"})
    assert r.status_code == 422 and r.json()["type"].endswith("nul-character")
    assert r.json()["field"] == "name"  # the 422 names the field
    assert log_head(runtime) == head

    team = new_team(client)
    r = client.post(team.tasks_url, json={"title": "x\u0000"}, headers=team.ann.headers)
    assert r.status_code == 422
    r = client.patch(f"/v1/organizations/{team.org}", json={"settings": {"k": ["v\u0000"]}},
                     headers=team.ann.headers)
    assert r.status_code == 422 and r.json()["field"] == "settings.k[0]"
    r = client.get(team.tasks_url, params={"status": "\u0000"}, headers=team.ann.headers)
    assert r.status_code == 422 and r.json()["field"] == "status"
    # The text "\u0000" itself (an escaped backslash) is ordinary text.
    r = client.post(team.tasks_url, json={"title": "literally \\u0000"},
                    headers=team.ann.headers)
    assert r.status_code == 201
    r = client.get(team.tasks_url, headers={**team.ann.headers, **fresh(r.json()["position"])})
    assert r.headers["x-consistent"] == "true"
    assert "literally \\u0000" in [t["title"] for t in r.json()["items"]]


def test_forged_cursors_and_odd_digits_are_400(client: TestClient) -> None:
    team = new_team(client)
    members = f"/v1/organizations/{team.org}/members"
    for values in ([1, 2], [{"a": 1}, {"b": 2}], ["x", 5]):
        r = client.get(members, params={"cursor": forged(values)}, headers=team.ann.headers)
        assert r.status_code == 400, (values, r.text)
    r = client.get(team.tasks_url, params={"cursor": forged(["2024-01-01T00:00:00+00:00", 5])},
                   headers=team.ann.headers)
    assert r.status_code == 400
    r = client.get(team.tasks_url, params={"min_position": "\u00b2"}, headers=team.ann.headers)
    assert r.status_code == 400


def test_tasks_of_a_hidden_project_are_not_found(client: TestClient) -> None:
    team = new_team(client)
    hidden_project = new_project(client, team.ann, team.org)  # Bob is not a member
    hidden_task = create_task(client, team.__class__(team.ann, team.bob, team.org,
                                                     hidden_project))
    mine = create_task(client, team, who=team.bob)
    r = client.post(team.tasks_url, json={"title": "Sub", "parent_id": hidden_task["id"]},
                    headers=team.bob.headers)
    assert r.status_code == 404
    r = client.post(team.task_url(mine["id"], "/dependencies"),
                    json={"depends_on_id": hidden_task["id"]}, headers=team.bob.headers)
    assert r.status_code == 404


def test_a_sender_who_lost_the_channel_cannot_touch_the_message(client: TestClient) -> None:
    team = new_team(client)
    base = f"/v1/organizations/{team.org}"
    r = client.post(f"{base}/channels", json={"kind": "project", "name": "general",
                                              "project_id": team.project},
                    headers=team.ann.headers)
    channel = r.json()["id"]
    assert client.post(f"{base}/channels/{channel}/members", json={},
                       headers=team.bob.headers).status_code == 201
    message = client.post(f"{base}/channels/{channel}/messages", json={"content": "hi"},
                          headers=team.bob.headers).json()["id"]
    r = client.delete(f"/v1/organizations/{team.org}/projects/{team.project}/members/{team.bob.id}",
                      headers=team.ann.headers)
    assert r.status_code == 200
    r = client.patch(f"{base}/messages/{message}", json={"content": "edited"},
                     headers=team.bob.headers)
    assert r.status_code == 404
    assert client.delete(f"{base}/messages/{message}", headers=team.bob.headers).status_code == 404


def test_a_client_cannot_even_leave_a_channel(client: TestClient) -> None:
    ann, carl = new_person(client, "Ann"), new_person(client, "Carl")
    org = new_organization(client, ann)["id"]
    add_member(client, ann, org, carl, "Client")
    base = f"/v1/organizations/{org}"
    channel = client.post(f"{base}/channels", json={"kind": "team", "name": "portal"},
                          headers=ann.headers).json()["id"]
    r = client.post(f"{base}/channels/{channel}/members", json={"user_id": carl.id},
                    headers=ann.headers)
    assert r.status_code == 201, r.text
    r = client.delete(f"{base}/channels/{channel}/members/{carl.id}", headers=carl.headers)
    assert r.status_code == 403


