"""Every command endpoint, fed generated JSON bodies against real resources: whatever
arrives, the answer is a 2xx or a problem+json 4xx, never a 5xx.

Path ids point at resources that exist (so validation reaches the body instead of stopping
at a 404); bodies mix the endpoint's own field names with stray ones and values of every
JSON type, including huge numbers, unicode, nesting and NaN-like strings."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.main import ROUTERS
from tests.helpers import Person, add_member, new_organization, new_person


def _spec() -> dict[str, Any]:
    app = FastAPI()
    for router in ROUTERS:
        app.include_router(router)
    return app.openapi()


def _operations() -> list[tuple[str, str, list[str]]]:
    """(method, path, body field names) of every operation that takes a JSON body."""
    spec = _spec()
    schemas = spec["components"]["schemas"]
    found = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            content = operation.get("requestBody", {}).get("content", {})
            ref = content.get("application/json", {}).get("schema", {}).get("$ref")
            if ref is None:
                continue
            fields = list(schemas[ref.rsplit("/", 1)[-1]].get("properties", {}))
            found.append((method.upper(), path, fields))
    return sorted(found)


def _queries() -> list[tuple[str, list[str]]]:
    """(path, query parameter names) of every GET that takes query parameters."""
    found = []
    for path, item in _spec()["paths"].items():
        get = item.get("get", {})
        if "text/event-stream" in get.get("responses", {}).get("200", {}).get("content", {}):
            continue  # a live feed never ends: tests/integration/test_timeline.py has it
        names = [p["name"] for p in get.get("parameters", []) if p["in"] == "query"]
        if names:
            found.append((path, names + ["cursor", "min_position"]))
    return sorted(found)


OPERATIONS = _operations()
QUERIES = _queries()
# Forged cursors: [], ["x", 5], [1, 2], {"a": 1}, ["2024-01-01T00:00:00+00:00", 5].
FORGED_CURSORS = ["W10=", "WyJ4IiwgNV0=", "WzEsIDJd", "eyJhIjogMX0=",
                  "WyIyMDI0LTAxLTAxVDAwOjAwOjAwKzAwOjAwIiwgNV0="]
query_values = st.sampled_from(
    ["-1", "0", "99999999999999999999", "\u00b2", "2026-13-01", "true", "Organizer",
     "COMPLETED", *FORGED_CURSORS]) | st.text(max_size=30)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40)
    | st.sampled_from(["", "NaN", "Infinity", "-1", "1e400", "2026-02-30", "00000000-0000-0000-"
                       "0000-000000000000", "Organizer", "ACTIVE", "project", "x" * 300]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=3),
    max_leaves=6,
)


def bodies(fields: list[str]) -> st.SearchStrategy[Any]:
    keys = st.sampled_from(fields) if fields else st.text(max_size=8)
    objects = st.dictionaries(keys | st.text(max_size=8), json_values, max_size=len(fields) + 2)
    return objects | json_values


@pytest.fixture(scope="module")
def world(client: TestClient) -> dict[str, Any]:
    """One of everything, so every path id names something real."""
    ann, bob = new_person(client, "Ann"), new_person(client, "Bob")
    org = new_organization(client, ann)["id"]
    add_member(client, ann, org, bob, "Contributor")
    base = f"/v1/organizations/{org}"

    def made(path: str, body: dict[str, Any]) -> str:
        r = client.post(base + path, json=body, headers=ann.headers)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    project = made("/projects", {"name": "Fuzzed"})
    client.post(f"{base}/projects/{project}/members", json={"user_id": bob.id, "role": "Member"},
                headers=ann.headers)
    task = made(f"/projects/{project}/tasks", {"title": "Fuzzed task"})
    item = client.post(f"{base}/tasks/{task}/checklist", json={"text": "step"},
                       headers=ann.headers).json()["item_id"]
    channel = made("/channels", {"kind": "project", "name": "fuzz", "project_id": project})
    message = made(f"/channels/{channel}/messages", {"content": "hello"})
    time_log = made("/time-logs", {"task_id": task, "work_date": "2026-01-05", "hours": 1})
    acme = made("/clients", {"name": "Fuzz client", "portal_access": True})
    client.post(f"{base}/projects/{project}/clients", json={"client_id": acme},
                headers=ann.headers)
    proposal = made(f"/clients/{acme}/proposals", {"title": "Fuzzed proposal"})
    feedback = made(f"/clients/{acme}/feedback", {"project_id": project, "rating": 4})
    conversation = made("/assistant/conversations", {})
    return {"person": ann, "ids": {
        "conversation_id": conversation, "name": "fuzzed", "content_type": "task",
        "organization_id": org, "project_id": project, "task_id": task, "item_id": item,
        "channel_id": channel, "message_id": message, "time_log_id": time_log,
        "user_id": bob.id, "depends_on_id": task, "client_id": acme, "proposal_id": proposal,
        "feedback_id": feedback,
    }}


@pytest.mark.parametrize(("method", "path", "fields"), OPERATIONS,
                         ids=[f"{m} {p}" for m, p, _ in OPERATIONS])
def test_generated_bodies_never_cause_a_server_error(
    client: TestClient, world: dict[str, Any], method: str, path: str, fields: list[str],
) -> None:
    person: Person = world["person"]
    url = re.sub(r"\{(\w+)\}", lambda m: world["ids"][m.group(1)], path)

    @settings(max_examples=25, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(body=bodies(fields))
    def send(body: Any) -> None:
        r = client.request(method, url, json=body, headers=person.headers)
        assert r.status_code < 500, (method, url, body, r.text)
        if r.status_code >= 400:
            assert r.headers["content-type"] == "application/problem+json", r.text

    send()


@pytest.mark.parametrize(("path", "names"), QUERIES, ids=[p for p, _ in QUERIES])
def test_generated_query_parameters_never_cause_a_server_error(
    client: TestClient, world: dict[str, Any], path: str, names: list[str],
) -> None:
    person: Person = world["person"]
    url = re.sub(r"\{(\w+)\}", lambda m: world["ids"][m.group(1)], path)

    @settings(max_examples=80, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(params=st.fixed_dictionaries({}, optional={name: query_values for name in names}))
    def send(params: dict[str, str]) -> None:
        r = client.get(url, params=params, headers=person.headers)
        assert r.status_code < 500, (url, params, r.text)
        if r.status_code >= 400:
            assert r.headers["content-type"] == "application/problem+json", r.text

    send()
