"""HTTP semantics shared by every resource: 404 and 405 problem details (with an Allow
header naming every method of the path), one PATCH rule (absent = unchanged, null clears
an optional field and is a 422 on a required one) and strict JSON types in bodies."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.main import ROUTERS
from tests.helpers import (
    Person,
    add_member,
    fresh,
    log_head,
    new_client,
    new_organization,
    new_person,
)
from vistone.runtime import Runtime

ID = str(uuid.UUID(int=7))


# --- 404 and 405 ----------------------------------------------------------------

def assert_problem(r: Any, status: int, slug: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json", r.headers
    body: dict[str, Any] = r.json()
    assert body["type"].endswith("/" + slug) and body["status"] == status, body
    assert body.get("detail"), body
    return body


@pytest.mark.parametrize("path", ["/nope", "/v1/nope", "/v1/organizations/x/nope",
                                  f"/v1/organizations/{ID}/tasks/{ID}/nope"])
def test_unknown_routes_are_404_problems_with_a_detail(client: TestClient, path: str) -> None:
    for method in ("GET", "POST", "PATCH", "DELETE"):
        body = assert_problem(client.request(method, path), 404, "not-found")
        assert path in body["detail"]


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("DELETE", "/v1/me", "GET, PATCH"),
    ("PUT", "/v1/me", "GET, PATCH"),
    ("POST", "/v1/me", "GET, PATCH"),
    ("GET", "/v1/auth/login", "POST"),
    ("PUT", f"/v1/organizations/{ID}", "GET, PATCH, DELETE"),
    ("POST", f"/v1/organizations/{ID}/tasks/{ID}", "GET, PATCH"),
    ("GET", f"/v1/organizations/{ID}/projects/{ID}/members/{ID}", "PATCH, DELETE"),
    ("PUT", f"/v1/organizations/{ID}/time-logs", "GET, POST"),
    ("POST", "/health", "GET"),
])
def test_405_lists_every_method_of_the_path(client: TestClient, method: str, path: str,
                                            allowed: str) -> None:
    r = client.request(method, path)
    body = assert_problem(r, 405, "method-not-allowed")
    assert r.headers["allow"] == allowed
    assert method in body["detail"] and allowed in body["detail"]


def test_head_and_options_are_listed_only_where_served(client: TestClient) -> None:
    # The API's routes do not serve HEAD or OPTIONS: they are 405 and not in Allow.
    for method in ("HEAD", "OPTIONS"):
        r = client.request(method, "/v1/me")
        assert r.status_code == 405 and r.headers["allow"] == "GET, PATCH"
    # The documentation page does serve HEAD, so its Allow names it.
    assert client.head("/docs").status_code == 200
    r = client.delete("/docs")
    assert_problem(r, 405, "method-not-allowed")
    assert r.headers["allow"] == "GET, HEAD"


def _api_paths() -> dict[str, set[str]]:
    from fastapi import FastAPI

    app = FastAPI()
    for router in ROUTERS:
        app.include_router(router)
    return {path: {m.upper() for m in item} for path, item in app.openapi()["paths"].items()}


def test_every_api_path_answers_405_with_all_its_methods(client: TestClient) -> None:
    """TRACE is served nowhere (and PUT nearly nowhere): on every path of the API it is a
    405 whose Allow names the methods of every route matching that path (computed here
    from OpenAPI)."""
    paths = _api_paths()
    patterns = {p: re.compile("^" + re.sub(r"\{\w+\}", "[^/]+", p) + "$") for p in paths}
    for template in paths:
        url = re.sub(r"\{\w+\}", ID, template)
        expected = set().union(*(paths[p] for p, rx in patterns.items() if rx.match(url)))
        for method in ("TRACE", "PUT") if "PUT" not in expected else ("TRACE",):
            r = client.request(method, url)
            assert_problem(r, 405, "method-not-allowed")
            assert set(r.headers["allow"].split(", ")) == expected, (url, r.headers["allow"])


# --- one PATCH rule ---------------------------------------------------------------

def head(runtime: Runtime) -> int:
    return log_head(runtime)


def refused(client: TestClient, runtime: Runtime, method: str, url: str, body: Any,
            who: Person, field: str) -> None:
    """A 422 validation-error naming ``field``, and nothing appended to the log."""
    before = head(runtime)
    r = client.request(method, url, json=body, headers=who.headers)
    problem = assert_problem(r, 422, "validation-error")
    assert field in [e["field"] for e in problem["errors"]], (body, problem)
    assert head(runtime) == before, (body, "appended events")


def patched(client: TestClient, url: str, body: dict[str, Any], who: Person) -> int:
    r = client.patch(url, json=body, headers=who.headers)
    assert r.status_code == 200, (body, r.text)
    return int(r.json()["position"])


def read(client: TestClient, url: str, who: Person, position: int) -> dict[str, Any]:
    r = client.get(url, headers={**who.headers, **fresh(position)})
    assert r.status_code == 200, r.text
    assert r.headers.get("x-consistent") == "true"
    return dict(r.json())


def test_patch_me(client: TestClient, runtime: Runtime) -> None:
    ann = new_person(client, "Ann")
    position = patched(client, "/v1/me", {"phone": "+33 1 23 45 67"}, ann)
    position = patched(client, "/v1/me", {"name": "Ann B"}, ann)  # phone absent: kept
    me = read(client, "/v1/me", ann, position)
    assert (me["name"], me["phone"]) == ("Ann B", "+33 1 23 45 67")
    position = patched(client, "/v1/me", {"phone": None}, ann)  # null clears
    me = read(client, "/v1/me", ann, position)
    assert (me["name"], me["phone"]) == ("Ann B", None)
    refused(client, runtime, "PATCH", "/v1/me", {"name": None}, ann, "name")
    refused(client, runtime, "PATCH", "/v1/me", {"name": 5}, ann, "name")
    refused(client, runtime, "PATCH", "/v1/me", {"phone": 3312345}, ann, "phone")
    refused(client, runtime, "PATCH", "/v1/me", {"name": "Ann", "age": 3}, ann, "age")


def test_patch_organization(client: TestClient, runtime: Runtime) -> None:
    ann = new_person(client, "Ann")
    org = new_organization(client, ann)
    url = f"/v1/organizations/{org['id']}"
    position = patched(client, url, {"settings": {"theme": "dark"}}, ann)
    body = read(client, url, ann, position)
    assert body["name"].startswith("Org ") and body["settings"] == {"theme": "dark"}
    position = patched(client, url, {"name": "Renamed"}, ann)  # settings absent: kept
    body = read(client, url, ann, position)
    assert body["name"] == "Renamed" and body["settings"] == {"theme": "dark"}
    # No field of an organization may be null (settings: {} empties the settings).
    for field in ("name", "slug", "settings"):
        refused(client, runtime, "PATCH", url, {field: None}, ann, field)
    refused(client, runtime, "PATCH", url, {"name": 5}, ann, "name")
    refused(client, runtime, "PATCH", url, {"slug": True}, ann, "slug")
    refused(client, runtime, "PATCH", url, {"settings": "dark"}, ann, "settings")
    refused(client, runtime, "PATCH", url, {"settings": [1]}, ann, "settings")
    position = patched(client, url, {"settings": {}}, ann)
    assert read(client, url, ann, position)["settings"] == {}


def test_patch_member_roles(client: TestClient, runtime: Runtime) -> None:
    ann, bob = new_person(client, "Ann"), new_person(client, "Bob")
    org = new_organization(client, ann)["id"]
    add_member(client, ann, org, bob, "Contributor")
    r = client.post(f"/v1/organizations/{org}/projects", json={"name": "P"},
                    headers=ann.headers)
    project = r.json()["id"]
    r = client.post(f"/v1/organizations/{org}/projects/{project}/members",
                    json={"user_id": bob.id, "role": "Member"}, headers=ann.headers)
    assert r.status_code == 201, r.text
    for url in (f"/v1/organizations/{org}/members/{bob.id}",
                f"/v1/organizations/{org}/projects/{project}/members/{bob.id}"):
        for bad in (None, 1, True, ["Member"]):
            refused(client, runtime, "PATCH", url, {"role": bad}, ann, "role")


def test_patch_project(client: TestClient, runtime: Runtime) -> None:
    ann = new_person(client, "Ann")
    org = new_organization(client, ann)["id"]
    client_id = new_client(runtime, org)["id"]
    r = client.post(f"/v1/organizations/{org}/projects",
                    json={"name": "Apollo", "description": "Moon", "client_id": client_id,
                          "start_date": "2030-01-01", "end_date": "2030-12-31",
                          "budget": "1000.50"}, headers=ann.headers)
    assert r.status_code == 201, r.text
    url = f"/v1/organizations/{org}/projects/{r.json()['id']}"

    position = patched(client, url, {"progress": 10, "spent_budget": 20.5}, ann)
    body = read(client, url, ann, position)
    assert (body["name"], body["description"], body["client_id"]) == \
        ("Apollo", "Moon", client_id)
    assert (body["start_date"], body["end_date"], Decimal(body["budget"])) == \
        ("2030-01-01", "2030-12-31", Decimal("1000.50"))
    assert (body["progress"], Decimal(body["spent_budget"])) == (10, Decimal("20.5"))

    # Budgets may be JSON numbers or strings.
    position = patched(client, url, {"budget": 2000}, ann)
    assert Decimal(read(client, url, ann, position)["budget"]) == 2000
    position = patched(client, url, {"budget": "2500.25"}, ann)
    assert Decimal(read(client, url, ann, position)["budget"]) == Decimal("2500.25")

    optional = ("description", "client_id", "start_date", "end_date", "budget")
    position = patched(client, url, dict.fromkeys(optional), ann)
    body = read(client, url, ann, position)
    assert [body[f] for f in optional] == [None] * len(optional)
    assert (body["name"], body["progress"]) == ("Apollo", 10)
    assert Decimal(body["spent_budget"]) == Decimal("20.5")

    for field in ("name", "spent_budget", "progress"):
        refused(client, runtime, "PATCH", url, {field: None}, ann, field)
    for bad in (True, "5", 5.5, [5]):
        refused(client, runtime, "PATCH", url, {"progress": bad}, ann, "progress")
    refused(client, runtime, "PATCH", url, {"name": 5}, ann, "name")
    refused(client, runtime, "PATCH", url, {"description": 5}, ann, "description")
    refused(client, runtime, "PATCH", url, {"budget": True}, ann, "budget")
    refused(client, runtime, "PATCH", url, {"client_id": 5}, ann, "client_id")
    refused(client, runtime, "PATCH", url, {"start_date": 20300101}, ann, "start_date")
    # The same types on creation.
    refused(client, runtime, "POST", f"/v1/organizations/{org}/projects",
            {"name": 5}, ann, "name")
    refused(client, runtime, "POST", f"/v1/organizations/{org}/projects",
            {"name": "Z", "budget": False}, ann, "budget")


def _project_with_task(client: TestClient, ann: Person) -> tuple[str, str, str]:
    org = new_organization(client, ann)["id"]
    r = client.post(f"/v1/organizations/{org}/projects", json={"name": "P"},
                    headers=ann.headers)
    project = r.json()["id"]
    r = client.post(f"/v1/organizations/{org}/projects/{project}/tasks",
                    json={"title": "Write", "description": "Words", "priority": "HIGH",
                          "due_date": "2030-04-05"}, headers=ann.headers)
    assert r.status_code == 201, r.text
    return org, project, r.json()["id"]


def test_patch_task_and_checklist(client: TestClient, runtime: Runtime) -> None:
    ann = new_person(client, "Ann")
    org, project, task = _project_with_task(client, ann)
    url = f"/v1/organizations/{org}/tasks/{task}"

    position = patched(client, url, {"title": "Write more"}, ann)
    body = read(client, url, ann, position)
    assert (body["title"], body["description"], body["priority"], body["due_date"]) == \
        ("Write more", "Words", "HIGH", "2030-04-05")
    position = patched(client, url, {"description": None, "due_date": None}, ann)
    body = read(client, url, ann, position)
    assert (body["title"], body["description"], body["priority"], body["due_date"]) == \
        ("Write more", None, "HIGH", None)
    for field in ("title", "priority"):
        refused(client, runtime, "PATCH", url, {field: None}, ann, field)
    refused(client, runtime, "PATCH", url, {"title": 5}, ann, "title")
    refused(client, runtime, "PATCH", url, {"due_date": 20300405}, ann, "due_date")
    refused(client, runtime, "PATCH", url, {"priority": 2}, ann, "priority")
    # Text that is not Unicode (a lone surrogate, escaped in valid JSON) names its field.
    before = head(runtime)
    r = client.patch(url, content=b'{"title": "a\\ud800"}',
                     headers={**ann.headers, "content-type": "application/json"})
    problem = assert_problem(r, 422, "validation-error")
    assert [e["field"] for e in problem["errors"]] == ["title"] and head(runtime) == before
    refused(client, runtime, "POST", f"{url}/assign", {"assignee_id": 5}, ann, "assignee_id")
    refused(client, runtime, "POST", f"/v1/organizations/{org}/projects/{project}/tasks",
            {"title": "x", "due_date": 0}, ann, "due_date")

    r = client.post(f"{url}/checklist", json={"text": "Draft"}, headers=ann.headers)
    item_url = f"{url}/checklist/{r.json()['item_id']}"
    position = patched(client, item_url, {"done": True}, ann)  # text absent: kept
    assert read(client, url, ann, position)["checklist"][0] == \
        {"id": r.json()["item_id"], "text": "Draft", "done": True}
    for field in ("done", "text"):
        refused(client, runtime, "PATCH", item_url, {field: None}, ann, field)
    for bad in (1, "true", "yes"):
        refused(client, runtime, "PATCH", item_url, {"done": bad}, ann, "done")
    refused(client, runtime, "PATCH", item_url, {"text": 5}, ann, "text")


def test_patch_message(client: TestClient, runtime: Runtime) -> None:
    ann = new_person(client, "Ann")
    org = new_organization(client, ann)["id"]
    base = f"/v1/organizations/{org}"
    r = client.post(f"{base}/channels", json={"kind": "team", "name": "general"},
                    headers=ann.headers)
    assert r.status_code == 201, r.text
    channel = r.json()["id"]
    r = client.post(f"{base}/channels/{channel}/messages", json={"content": "hello"},
                    headers=ann.headers)
    assert r.status_code == 201, r.text
    url = f"{base}/messages/{r.json()['id']}"
    refused(client, runtime, "PATCH", url, {"content": None}, ann, "content")
    refused(client, runtime, "PATCH", url, {"content": 5}, ann, "content")
    refused(client, runtime, "POST", f"{base}/channels/{channel}/messages",
            {"content": "hi", "mentions": [5]}, ann, "mentions.0")
    refused(client, runtime, "POST", f"{base}/channels/{channel}/messages",
            {"content": "hi", "attachments": [{"url": 5, "file_type": "x"}]}, ann,
            "attachments.0.url")
    position = patched(client, url, {"content": "edited"}, ann)
    r = client.get(f"{base}/channels/{channel}/messages",
                   headers={**ann.headers, **fresh(position)})
    assert [m["content"] for m in r.json()["items"]] == ["edited"]


def test_patch_time_log(client: TestClient, runtime: Runtime) -> None:
    ann = new_person(client, "Ann")
    org, _, task = _project_with_task(client, ann)
    base = f"/v1/organizations/{org}/time-logs"
    r = client.post(base, json={"task_id": task, "work_date": "2030-01-07", "hours": "2.5",
                                "description": "notes"}, headers=ann.headers)
    assert r.status_code == 201, r.text
    url = f"{base}/{r.json()['id']}"

    def current(position: int) -> tuple[Any, ...]:
        item = read(client, base, ann, position)["items"][0]
        return item["work_date"], item["hours"], item["description"]

    position = patched(client, url, {"hours": 3}, ann)
    assert current(position) == ("2030-01-07", "3.00", "notes")
    position = patched(client, url, {"description": None}, ann)
    assert current(position) == ("2030-01-07", "3.00", None)
    position = patched(client, url, {"hours": "4.25", "work_date": "2030-01-08"}, ann)
    assert current(position) == ("2030-01-08", "4.25", None)
    for field in ("hours", "work_date"):
        refused(client, runtime, "PATCH", url, {field: None}, ann, field)
    refused(client, runtime, "PATCH", url, {"hours": True}, ann, "hours")
    refused(client, runtime, "PATCH", url, {"work_date": 20300107}, ann, "work_date")
    refused(client, runtime, "PATCH", url, {"description": 5}, ann, "description")
    refused(client, runtime, "POST", base,
            {"task_id": task, "work_date": "2030-01-09", "hours": True}, ann, "hours")
    refused(client, runtime, "POST", base,
            {"task_id": 5, "work_date": "2030-01-09", "hours": 1}, ann, "task_id")


def test_a_weak_if_match_never_matches(client: TestClient) -> None:
    """If-Match compares strongly (RFC 9110): W/"1" is a 412 even on version 1."""
    ann = new_person(client, "Ann")
    org = new_organization(client, ann)
    r = client.patch(f"/v1/organizations/{org['id']}", json={"name": "Renamed"},
                     headers={**ann.headers, "If-Match": f'W/"{org["version"]}"'})
    assert_problem(r, 412, "precondition-failed")
    r = client.patch(f"/v1/organizations/{org['id']}", json={"name": "Renamed"},
                     headers={**ann.headers, "If-Match": f'"{org["version"]}"'})
    assert r.status_code == 200, r.text


def test_a_trailing_slash_is_another_path_not_a_redirect(client: TestClient) -> None:
    ann = new_person(client, "Ann")
    org = new_organization(client, ann)["id"]
    r = client.get(f"/v1/organizations/{org}/my-tasks/", headers={**ann.headers,
                                                                   "Host": "evil.example"},
                   follow_redirects=False)
    assert_problem(r, 404, "not-found")
    assert "location" not in r.headers


@pytest.mark.parametrize("body", ["0.5", "-1.1125369292536007e-308", "5", "[]", '"x"', "null"])
def test_a_body_that_is_not_a_json_object_is_refused(client: TestClient, body: str) -> None:
    """Every body is a JSON object: a number with a fraction once passed as a PATCH that
    changed nothing (200), because FastAPI validates bodies from attributes."""
    ann = new_person(client, "Ann")
    org = new_organization(client, ann)["id"]
    r = client.patch(f"/v1/organizations/{org}", content=body,
                     headers={**ann.headers, "content-type": "application/json"})
    assert_problem(r, 422, "validation-error")
