from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient

from api.contract import Page
from api.routes.projects import ProjectDetail, ProjectView
from domain.base import CommandContext
from domain.client_feedback import ClientFeedback
from tests.helpers import (
    Person,
    add_client,
    add_member,
    add_portal_user,
    fresh,
    new_client,
    new_organization,
    new_person,
)
from vistone.runtime import Runtime


def projects_url(org: dict[str, Any]) -> str:
    return f"/v1/organizations/{org['id']}/projects"


def create_project(client: TestClient, who: Person, org: dict[str, Any], name: str,
                   **fields: Any) -> dict[str, Any]:
    r = client.post(projects_url(org), json={"name": name, **fields}, headers=who.headers)
    assert r.status_code == 201, r.text
    return r.json()


def get_project(client: TestClient, who: Person, org: dict[str, Any], project: dict[str, Any],
                position: int | None = None) -> Any:
    return client.get(f"{projects_url(org)}/{project['id']}",
                      headers={**who.headers, **fresh(position or project["position"])})


def problem_field(r: Any) -> str | None:
    """The field a problem names: its own, or the first of its validation errors."""
    body = r.json()
    return body.get("field") or (body.get("errors") or [{}])[0].get("field")


def test_create_and_read_a_project(client: TestClient, runtime: Runtime) -> None:
    ann = new_person(client, "Ann")
    org = new_organization(client, ann)
    client_id = new_client(runtime, org["id"])["id"]
    created = create_project(client, ann, org, "Apollo", description="Moon",
                             client_id=client_id, start_date="2030-01-01",
                             end_date="2030-06-30", budget=1000.5)
    # Created, then ClientLinked: the project's client is one of its linked clients.
    assert created["version"] == 2 and created["position"] > 0

    r = get_project(client, ann, org, created)
    assert r.status_code == 200, r.text
    body = ProjectDetail.model_validate(r.json()).model_dump(mode="json")
    assert r.headers["etag"] == '"2"'
    assert body["name"] == "Apollo" and body["status"] == "PLANNED"
    assert body["client_id"] == client_id and body["client_ids"] == [client_id]
    assert body["start_date"] == "2030-01-01" and body["end_date"] == "2030-06-30"
    assert r.json()["budget"] == "1000.50" and r.json()["spent_budget"] == "0.00"
    assert body["progress"] == 0 and body["archived"] is False
    assert body["average_rating"] is None and body["feedback_count"] == 0
    assert body["my_role"] == "Organizer" and body["my_project_role"] == "Lead"

    r = client.patch(f"{projects_url(org)}/{created['id']}",
                     json={"budget": "2500.25", "spent_budget": 100, "progress": 40,
                           "description": None, "end_date": "2030-12-31"},
                     headers=ann.headers)
    assert r.status_code == 200, r.text
    body = get_project(client, ann, org, created, r.json()["position"]).json()
    assert body["budget"] == "2500.25" and body["spent_budget"] == "100.00"
    assert body["progress"] == 40 and body["description"] is None
    assert body["end_date"] == "2030-12-31"
    assert body["version"] == 3


def test_bad_project_input_names_the_field(client: TestClient) -> None:
    ann = new_person(client, "Ann")
    org = new_organization(client, ann)
    url = projects_url(org)
    cases = [
        ({"name": "X", "budget": -1}, "budget"),
        ({"name": "X", "start_date": "not a date"}, "start_date"),
        ({"name": "X", "colour": "red"}, "colour"),
        ({"name": "   "}, "name"),
        ({}, "name"),
    ]
    for body, field in cases:
        r = client.post(url, json=body, headers=ann.headers)
        assert r.status_code == 422, (body, r.text)
        assert problem_field(r) == field, (body, r.text)
    project = create_project(client, ann, org, "Valid")
    for progress in (101, 40.5, "40", True):
        r = client.patch(f"{url}/{project['id']}", json={"progress": progress},
                         headers=ann.headers)
        assert r.status_code == 422 and problem_field(r) == "progress", progress
    # A whole number written with a fraction is the integer JSON Schema says it is.
    r = client.patch(f"{url}/{project['id']}", json={"progress": 40.0}, headers=ann.headers)
    assert r.status_code == 200, r.text
    # Dates valid one by one but not together break a rule (409), on creation or later
    # against the stored start.
    r = client.post(url, json={"name": "Y", "start_date": "2030-02-01",
                               "end_date": "2030-01-01"}, headers=ann.headers)
    assert r.status_code == 409 and r.json()["field"] == "end_date"
    assert r.json()["type"].endswith("dates-out-of-order")
    r = client.patch(f"{url}/{project['id']}", json={"end_date": "1999-01-01",
                                                      "start_date": "2000-01-01"},
                     headers=ann.headers)
    assert r.status_code == 409 and r.json()["field"] == "end_date"
    r = client.patch(f"{url}/{project['id']}", json={"start_date": "2000-01-01"},
                     headers=ann.headers)
    assert r.status_code == 200, r.text
    r = client.patch(f"{url}/{project['id']}", json={"end_date": "1999-12-31"},
                     headers=ann.headers)
    assert r.status_code == 409 and r.json()["type"].endswith("dates-out-of-order")
    # Statuses are exact enum values.
    for status in ("FLYING", "active"):
        r = client.post(f"{url}/{project['id']}/status", json={"status": status},
                        headers=ann.headers)
        assert r.status_code == 422 and problem_field(r) == "status", r.text


def test_names_are_unique_per_organization_ignoring_case(client: TestClient) -> None:
    ann = new_person(client, "Ann")
    org, other_org = new_organization(client, ann), new_organization(client, ann)
    create_project(client, ann, org, "Website Relaunch")
    for duplicate in ("Website Relaunch", "website relaunch", "  WEBSITE   relaunch "):
        r = client.post(projects_url(org), json={"name": duplicate}, headers=ann.headers)
        assert r.status_code == 409, r.text
        assert r.json()["type"].endswith("already-exists") and r.json()["field"] == "name"
    create_project(client, ann, other_org, "Website Relaunch")


def test_rename_frees_the_old_name(client: TestClient) -> None:
    ann = new_person(client, "Ann")
    org = new_organization(client, ann)
    first = create_project(client, ann, org, "Alpha")
    create_project(client, ann, org, "Taken")
    url = f"{projects_url(org)}/{first['id']}"

    r = client.patch(url, json={"name": "taken"}, headers=ann.headers)
    assert r.status_code == 409 and r.json()["field"] == "name"
    r = client.patch(url, json={"name": "ALPHA"}, headers=ann.headers)  # same key: fine
    assert r.status_code == 200, r.text
    r = client.patch(url, json={"name": "Beta"}, headers=ann.headers)
    assert r.status_code == 200, r.text

    create_project(client, ann, org, "alpha")
    r = client.post(projects_url(org), json={"name": "beta"}, headers=ann.headers)
    assert r.status_code == 409


def test_status_lifecycle(client: TestClient) -> None:
    ann = new_person(client, "Ann")
    org = new_organization(client, ann)
    project = create_project(client, ann, org, "Lifecycle")
    url = f"{projects_url(org)}/{project['id']}/status"

    r = client.post(url, json={"status": "COMPLETED"}, headers=ann.headers)
    assert r.status_code == 409 and r.json()["type"].endswith("illegal-transition")
    for status in ("ACTIVE", "ON_HOLD", "ACTIVE", "COMPLETED", "ACTIVE", "CANCELLED"):
        r = client.post(url, json={"status": status}, headers=ann.headers)
        assert r.status_code == 200, (status, r.text)
    last_position = r.json()["position"]
    r = client.post(url, json={"status": "ACTIVE"}, headers=ann.headers)
    assert r.status_code == 409 and r.json()["type"].endswith("illegal-transition")
    body = get_project(client, ann, org, project, last_position).json()
    assert body["status"] == "CANCELLED"


def test_archive_makes_the_project_read_only(client: TestClient) -> None:
    ann, bob = new_person(client, "Ann"), new_person(client, "Bob")
    org = new_organization(client, ann)
    add_member(client, ann, org["id"], bob, "Contributor")
    project = create_project(client, ann, org, "Old Work")
    url = f"{projects_url(org)}/{project['id']}"

    r = client.post(f"{url}/archive", headers=ann.headers)
    assert r.status_code == 200
    archived_at = r.json()["position"]
    r = client.post(f"{url}/archive", headers=ann.headers)  # archiving twice changes nothing
    assert r.status_code == 200 and r.json()["version"] == 2

    for method, path, body in (
        ("PATCH", url, {"name": "New"}),
        ("POST", f"{url}/status", {"status": "ACTIVE"}),
        ("POST", f"{url}/members", {"user_id": bob.id, "role": "Member"}),
        ("DELETE", f"{url}/members/{ann.id}", None),
    ):
        r = client.request(method, path, json=body, headers=ann.headers)
        assert r.status_code == 409, (method, path, r.text)
        assert r.json()["type"].endswith("project-archived")

    assert get_project(client, ann, org, project, archived_at).json()["archived"] is True
    names = [p["name"] for p in client.get(projects_url(org), headers=ann.headers).json()["items"]]
    assert "Old Work" not in names
    r = client.get(projects_url(org), params={"archived": "true"}, headers=ann.headers)
    assert [p["name"] for p in r.json()["items"]] == ["Old Work"]
    # The archived project keeps its name.
    r = client.post(projects_url(org), json={"name": "old work"}, headers=ann.headers)
    assert r.status_code == 409


def test_project_members(client: TestClient) -> None:
    ann, bob, cat, dan = (new_person(client, n) for n in ("Ann", "Bob", "Cat", "Dan"))
    org = new_organization(client, ann)
    add_member(client, ann, org["id"], bob, "Contributor")
    add_member(client, ann, org["id"], cat, "Client")
    project = create_project(client, ann, org, "Team Work")
    url = f"{projects_url(org)}/{project['id']}/members"

    r = client.post(url, json={"user_id": bob.id, "role": "Member"}, headers=ann.headers)
    assert r.status_code == 201 and r.json()["version"] == 2
    r = client.post(url, json={"user_id": bob.id, "role": "Member"}, headers=ann.headers)
    assert r.status_code == 409
    r = client.post(url, json={"user_id": dan.id, "role": "Member"}, headers=ann.headers)
    assert r.status_code == 404 and r.json()["field"] == "user_id"  # not in the organization
    r = client.post(url, json={"user_id": cat.id, "role": "Member"}, headers=ann.headers)
    assert r.status_code == 409 and r.json()["type"].endswith("client-must-be-viewer")
    r = client.post(url, json={"user_id": cat.id, "role": "Viewer"}, headers=ann.headers)
    assert r.status_code == 201
    r = client.patch(f"{url}/{cat.id}", json={"role": "Lead"}, headers=ann.headers)
    assert r.status_code == 409
    for role in ("Boss", "member"):
        r = client.post(url, json={"user_id": bob.id, "role": role}, headers=ann.headers)
        assert r.status_code == 422 and problem_field(r) == "role"

    r = client.patch(f"{url}/{bob.id}", json={"role": "Lead"}, headers=ann.headers)
    assert r.status_code == 200
    r = client.get(url, headers={**bob.headers, **fresh(r.json()["position"])})
    assert r.status_code == 200
    assert {m["user_id"]: m["role"] for m in r.json()["items"]} == {
        ann.id: "Lead", bob.id: "Lead", cat.id: "Viewer"}

    r = client.delete(f"{url}/{bob.id}", headers=ann.headers)
    assert r.status_code == 200
    removed_at = r.json()["position"]
    r = client.delete(f"{url}/{bob.id}", headers=ann.headers)
    assert r.status_code == 404
    r = client.get(url, headers={**ann.headers, **fresh(removed_at)})
    assert bob.id not in {m["user_id"] for m in r.json()["items"]}


def test_contributor_and_client_cannot_manage_projects(client: TestClient) -> None:
    ann, bob = new_person(client, "Ann"), new_person(client, "Bob")
    org = new_organization(client, ann)
    add_member(client, ann, org["id"], bob, "Contributor")
    acme = add_client(client, ann, org["id"])["id"]
    cat, _ = add_portal_user(client, ann, org["id"], acme, "Cat")  # a Client member
    r = client.post(projects_url(org), json={"name": "Mine"}, headers=bob.headers)
    assert r.status_code == 403
    r = client.post(projects_url(org), json={"name": "Mine"}, headers=cat.headers)
    assert r.status_code == 403

    # Cat sees the project through the portal of its client, and is one of its Viewers.
    project = create_project(client, ann, org, "Shared", client_id=acme)
    url = f"{projects_url(org)}/{project['id']}"
    client.post(f"{url}/members", json={"user_id": bob.id, "role": "Lead"}, headers=ann.headers)
    added = client.post(f"{url}/members", json={"user_id": cat.id, "role": "Viewer"},
                        headers=ann.headers).json()
    assert get_project(client, cat, org, project, added["position"]).status_code == 200
    for who in (bob, cat):
        for method, path, body in (
            ("PATCH", url, {"name": "Hijacked"}),
            ("POST", f"{url}/status", {"status": "ACTIVE"}),
            ("POST", f"{url}/archive", None),
            ("DELETE", f"{url}/members/{ann.id}", None),
            ("DELETE", f"{url}/clients/{acme}", None),
        ):
            r = client.request(method, path, json=body, headers=who.headers)
            assert r.status_code == 403, (who.email, method, path, r.text)


def test_projects_are_invisible_outside_their_reach(client: TestClient) -> None:
    ann, bob, eve = (new_person(client, n) for n in ("Ann", "Bob", "Eve"))
    org, eves_org = new_organization(client, ann), new_organization(client, eve)
    add_member(client, ann, org["id"], bob, "Contributor")
    hidden = create_project(client, ann, org, "Hidden")
    mine = create_project(client, ann, org, "Bob's")
    added = client.post(f"{projects_url(org)}/{mine['id']}/members",
                        json={"user_id": bob.id, "role": "Member"}, headers=ann.headers).json()

    # Another tenant: 404 through its own organization's URL and through ours.
    r = get_project(client, eve, eves_org, hidden)
    assert r.status_code == 404
    r = get_project(client, eve, org, hidden)
    assert r.status_code == 404
    r = client.patch(f"{projects_url(eves_org)}/{hidden['id']}", json={"name": "x"},
                     headers=eve.headers)
    assert r.status_code == 404
    # The project's own organizer through the wrong organization: also 404.
    r = client.get(f"{projects_url(eves_org)}/{hidden['id']}", headers=ann.headers)
    assert r.status_code == 404

    # A Contributor sees only the projects they are a member of.
    r = get_project(client, bob, org, hidden)
    assert r.status_code == 404
    r = client.patch(f"{projects_url(org)}/{hidden['id']}", json={"name": "x"},
                     headers=bob.headers)
    assert r.status_code == 404
    assert get_project(client, bob, org, mine, added["position"]).status_code == 200
    r = client.get(projects_url(org), headers={**bob.headers, **fresh(added["position"])})
    assert [p["name"] for p in r.json()["items"]] == ["Bob's"]
    r = client.get(projects_url(org), headers=ann.headers)
    assert [p["name"] for p in r.json()["items"]] == ["Bob's", "Hidden"]


def test_list_filters_and_cursor_pagination(client: TestClient, runtime: Runtime) -> None:
    ann = new_person(client, "Ann")
    org = new_organization(client, ann)
    acme = new_client(runtime, org["id"], "Acme")["id"]
    names = ["Echo", "alpha", "Delta", "Charlie", "Bravo"]
    last: dict[str, Any] = {}
    for name in names:
        extra = {"client_id": acme} if name in ("Echo", "Bravo") else {}
        last = create_project(client, ann, org, name, **extra)
    active = client.get(projects_url(org), headers={**ann.headers, **fresh(last["position"])})
    by_name = {p["name"]: p["id"] for p in active.json()["items"]}
    r = client.post(f"{projects_url(org)}/{by_name['Delta']}/status", json={"status": "ACTIVE"},
                    headers=ann.headers)
    position = r.json()["position"]

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        r = client.get(projects_url(org), params=params,
                       headers={**ann.headers, **fresh(position)})
        assert r.status_code == 200, r.text
        seen += [p.name for p in Page[ProjectView].model_validate(r.json()).items]
        pages += 1
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and len(seen) == 5 and sorted(seen) == sorted(names)
    r = client.get(projects_url(org), params={"limit": 10}, headers=ann.headers)
    assert seen == [p["name"] for p in r.json()["items"]]  # pages follow the full order

    r = client.get(projects_url(org), params={"status": "ACTIVE"}, headers=ann.headers)
    assert [p["name"] for p in r.json()["items"]] == ["Delta"]
    r = client.get(projects_url(org), params={"client_id": acme}, headers=ann.headers)
    assert sorted(p["name"] for p in r.json()["items"]) == ["Bravo", "Echo"]
    assert all(p["client_ids"] == [acme] for p in r.json()["items"])
    for status in ("nope", "active"):
        r = client.get(projects_url(org), params={"status": status}, headers=ann.headers)
        assert r.status_code == 422
    r = client.get(projects_url(org), params={"cursor": "garbage"}, headers=ann.headers)
    assert r.status_code == 400


def test_if_match_and_idempotency(client: TestClient) -> None:
    ann = new_person(client, "Ann")
    org = new_organization(client, ann)
    project = create_project(client, ann, org, "Guarded")
    url = f"{projects_url(org)}/{project['id']}"
    etag = get_project(client, ann, org, project).headers["etag"]
    r = client.patch(url, json={"progress": 10}, headers={**ann.headers, "If-Match": etag})
    assert r.status_code == 200 and r.headers["etag"] == '"2"'
    r = client.patch(url, json={"progress": 20}, headers={**ann.headers, "If-Match": etag})
    assert r.status_code == 412
    r = client.post(f"{url}/status", json={"status": "ACTIVE"},
                    headers={**ann.headers, "If-Match": '"1"'})
    assert r.status_code == 412

    key = {"Idempotency-Key": f"create-{uuid.uuid4()}"}
    first = client.post(projects_url(org), json={"name": "Once"}, headers={**ann.headers, **key})
    again = client.post(projects_url(org), json={"name": "Once"}, headers={**ann.headers, **key})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()


def clients_url(org: dict[str, Any], project: dict[str, Any]) -> str:
    return f"{projects_url(org)}/{project['id']}/clients"


def test_linking_clients(client: TestClient, runtime: Runtime) -> None:
    ann = new_person(client, "Ann")
    org = new_organization(client, ann)
    acme, globex = (new_client(runtime, org["id"], n)["id"] for n in ("Acme", "Globex"))
    project = create_project(client, ann, org, "Linked")
    url = clients_url(org, project)

    r = client.post(url, json={"client_id": acme}, headers=ann.headers)
    assert r.status_code == 201 and r.json()["version"] == 2, r.text
    r = client.post(url, json={"client_id": acme}, headers=ann.headers)
    assert r.status_code == 409 and r.json()["type"].endswith("client-already-linked")
    r = client.post(url, json={"client_id": globex}, headers=ann.headers)
    assert r.status_code == 201
    body = get_project(client, ann, org, project, r.json()["position"]).json()
    assert body["client_ids"] == [acme, globex] and body["client_id"] is None
    r = client.get(projects_url(org), params={"client_id": globex},
                   headers={**ann.headers, **fresh(r.json()["position"])})
    assert [p["id"] for p in r.json()["items"]] == [project["id"]]

    # Setting client_id links the client if it is not yet; unlinking it clears client_id.
    third = new_client(runtime, org["id"], "Initech")["id"]
    r = client.patch(f"{projects_url(org)}/{project['id']}", json={"client_id": third},
                     headers=ann.headers)
    assert r.status_code == 200 and r.json()["version"] == 5, r.text
    body = get_project(client, ann, org, project, r.json()["position"]).json()
    assert body["client_id"] == third and body["client_ids"] == [acme, globex, third]
    r = client.patch(f"{projects_url(org)}/{project['id']}", json={"client_id": acme},
                     headers=ann.headers)
    # acme is already linked (no new link); third, the client it replaces, is unlinked.
    assert r.status_code == 200 and r.json()["version"] == 7
    r = client.delete(f"{url}/{acme}", headers=ann.headers)
    assert r.status_code == 200, r.text
    body = get_project(client, ann, org, project, r.json()["position"]).json()
    assert body["client_id"] is None and body["client_ids"] == [globex]
    r = client.delete(f"{url}/{acme}", headers=ann.headers)
    assert r.status_code == 404 and r.json()["type"].endswith("client-not-linked")
    assert r.json()["field"] == "client_id"


def test_a_project_links_only_live_clients_of_its_organization(
    client: TestClient, runtime: Runtime,
) -> None:
    ann, eve = new_person(client, "Ann"), new_person(client, "Eve")
    org, eves_org = new_organization(client, ann), new_organization(client, eve)
    theirs = new_client(runtime, eves_org["id"], "Theirs")["id"]
    archived = new_client(runtime, org["id"], "Gone", archived=True)["id"]
    project = create_project(client, ann, org, "Careful")
    url = clients_url(org, project)

    # No such client, or another organization's: not found, naming the field.
    for unknown in (str(uuid.uuid4()), theirs):
        for method, path, body in (
            ("POST", url, {"client_id": unknown}),
            ("POST", projects_url(org), {"name": f"P {uuid.uuid4().hex[:6]}",
                                         "client_id": unknown}),
            ("PATCH", f"{projects_url(org)}/{project['id']}", {"client_id": unknown}),
        ):
            r = client.request(method, path, json=body, headers=ann.headers)
            assert r.status_code == 404, (method, path, r.text)
            assert r.json()["field"] == "client_id"
    # An archived client is not linked.
    for method, path, body in (
        ("POST", url, {"client_id": archived}),
        ("POST", projects_url(org), {"name": "Archived client", "client_id": archived}),
        ("PATCH", f"{projects_url(org)}/{project['id']}", {"client_id": archived}),
    ):
        r = client.request(method, path, json=body, headers=ann.headers)
        assert r.status_code == 409, (method, path, r.text)
        assert r.json()["type"].endswith("client-archived") and r.json()["field"] == "client_id"
    body = get_project(client, ann, org, project).json()
    assert body["client_ids"] == [] and body["version"] == 1


def test_only_organizers_and_managers_link_clients(client: TestClient, runtime: Runtime) -> None:
    ann, max_, bob = (new_person(client, n) for n in ("Ann", "Max", "Bob"))
    org = new_organization(client, ann)
    add_member(client, ann, org["id"], max_, "Manager")
    add_member(client, ann, org["id"], bob, "Contributor")
    acme = new_client(runtime, org["id"], "Acme")["id"]
    project = create_project(client, ann, org, "Permissions")
    url = clients_url(org, project)
    client.post(f"{projects_url(org)}/{project['id']}/members",
                json={"user_id": bob.id, "role": "Lead"}, headers=ann.headers)

    r = client.post(url, json={"client_id": acme}, headers=bob.headers)
    assert r.status_code == 403
    r = client.post(url, json={"client_id": acme}, headers=max_.headers)
    assert r.status_code == 201
    r = client.delete(f"{url}/{acme}", headers=bob.headers)
    assert r.status_code == 403
    r = client.delete(f"{url}/{acme}", headers=max_.headers)
    assert r.status_code == 200

    client.post(f"{projects_url(org)}/{project['id']}/archive", headers=ann.headers)
    r = client.post(url, json={"client_id": acme}, headers=ann.headers)
    assert r.status_code == 409 and r.json()["type"].endswith("project-archived")
    # Another tenant's organizer cannot reach the project at all.
    eve = new_person(client, "Eve")
    eves_org = new_organization(client, eve)
    for path in (url, f"{projects_url(eves_org)}/{project['id']}/clients"):
        r = client.post(path, json={"client_id": acme}, headers=eve.headers)
        assert r.status_code == 404


def give_feedback(runtime: Runtime, org: dict[str, Any], client_id: str,
                  project_id: str | None, author: Person, rating: int) -> tuple[Any, int]:
    """Feedback saved straight through the application (its command and rules are the
    client context's): the aggregate and the log position."""
    feedback = ClientFeedback.create(
        id=uuid.uuid4(), organization_id=uuid.UUID(org["id"]),
        client_id=uuid.UUID(client_id),
        project_id=uuid.UUID(project_id) if project_id else None,
        author_id=uuid.UUID(author.id), rating=rating, meta=feedback_meta(author))
    return feedback, max(r.notification.id for r in runtime.app.save(feedback))


def feedback_meta(author: Person) -> dict[str, Any]:
    return CommandContext(actor_id=uuid.UUID(author.id)).meta


def test_average_rating_of_the_clients_feedback(client: TestClient, runtime: Runtime) -> None:
    ann = new_person(client, "Ann")
    org = new_organization(client, ann)
    acme = new_client(runtime, org["id"], "Acme")["id"]
    rated = create_project(client, ann, org, "Rated", client_id=acme)
    other = create_project(client, ann, org, "Other", client_id=acme)

    first, _ = give_feedback(runtime, org, acme, rated["id"], ann, 5)
    give_feedback(runtime, org, acme, rated["id"], ann, 4)
    give_feedback(runtime, org, acme, other["id"], ann, 1)
    _, position = give_feedback(runtime, org, acme, None, ann, 1)  # on no project
    body = get_project(client, ann, org, rated, position).json()
    assert (body["average_rating"], body["feedback_count"]) == ("4.50", 2)
    assert body["version"] == rated["version"]  # feedback is not a change of the project

    _, position = give_feedback(runtime, org, acme, rated["id"], ann, 2)
    body = get_project(client, ann, org, rated, position).json()
    assert (body["average_rating"], body["feedback_count"]) == ("3.67", 3)  # 11 / 3

    # An edited rating moves the average by the difference; a comment alone does not.
    first.edit(uuid.UUID(ann.id), feedback_meta(ann), rating=2)
    first.edit(uuid.UUID(ann.id), feedback_meta(ann), comment="Fine")
    position = max(r.notification.id for r in runtime.app.save(first))
    body = get_project(client, ann, org, rated, position).json()
    assert (body["average_rating"], body["feedback_count"]) == ("2.67", 3)  # 8 / 3
    body = get_project(client, ann, org, other, position).json()
    assert (body["average_rating"], body["feedback_count"]) == ("1.00", 1)
    r = client.get(projects_url(org), headers={**ann.headers, **fresh(position)})
    assert {p["name"]: p["average_rating"] for p in r.json()["items"]} == {
        "Other": "1.00", "Rated": "2.67"}
