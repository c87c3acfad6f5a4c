from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient

from api.contract import Page
from api.routes.tasks import DependencyView, TaskDetail, TaskView
from tests.helpers import (
    Person,
    add_client,
    add_member,
    add_portal_user,
    fresh,
    new_organization,
    new_person,
)


@dataclass
class Team:
    """An organization with one project: ann (Organizer, project Lead) and bob
    (Contributor, project Member)."""

    ann: Person
    bob: Person
    org: str
    project: str

    @property
    def tasks_url(self) -> str:
        return f"/v1/organizations/{self.org}/projects/{self.project}/tasks"

    def task_url(self, task_id: str, suffix: str = "") -> str:
        return f"/v1/organizations/{self.org}/tasks/{task_id}{suffix}"


def new_project(client: TestClient, owner: Person, org: str) -> str:
    r = client.post(f"/v1/organizations/{org}/projects",
                    json={"name": f"Project {uuid.uuid4().hex[:8]}"}, headers=owner.headers)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def add_to_project(client: TestClient, owner: Person, org: str, project: str, person: Person,
                   role: str = "Member") -> dict[str, Any]:
    r = client.post(f"/v1/organizations/{org}/projects/{project}/members",
                    json={"user_id": person.id, "role": role}, headers=owner.headers)
    assert r.status_code == 201, r.text
    return r.json()


def new_team(client: TestClient) -> Team:
    ann, bob = new_person(client, "Ann"), new_person(client, "Bob")
    org = new_organization(client, ann)["id"]
    add_member(client, ann, org, bob, "Contributor")
    project = new_project(client, ann, org)
    joined = add_to_project(client, ann, org, project, bob)
    # Reads that follow (lists, forged cursors) must find the project already projected.
    r = client.get(f"/v1/organizations/{org}/projects/{project}",
                   headers={**ann.headers, **fresh(joined["position"])})
    assert r.headers["x-consistent"] == "true", r.text
    return Team(ann, bob, org, project)


def create_task(client: TestClient, team: Team, who: Person | None = None,
                **body: Any) -> dict[str, Any]:
    r = client.post(team.tasks_url, json={"title": "Task", **body},
                    headers=(who or team.ann).headers)
    assert r.status_code == 201, r.text
    return r.json()


def get_task(client: TestClient, team: Team, task: dict[str, Any], position: int | None = None,
             who: Person | None = None) -> Any:
    return client.get(team.task_url(task["id"]),
                      headers={**(who or team.ann).headers,
                               **fresh(position or task["position"])})


def problem_field(r: Any) -> str | None:
    """The field a problem names: its own, or the first of its validation errors."""
    body = r.json()
    return body.get("field") or (body.get("errors") or [{}])[0].get("field")


def test_create_get_and_subtasks(client: TestClient) -> None:
    team = new_team(client)
    parent = create_task(client, team, title="Launch", description="Go live",
                         priority="HIGH", due_date="2030-04-05")
    child = create_task(client, team, team.bob, title="Write copy", parent_id=parent["id"])
    r = get_task(client, team, parent, child["position"])
    assert r.status_code == 200, r.text
    TaskDetail.model_validate(r.json())
    body = r.json()
    assert body["title"] == "Launch" and body["priority"] == "HIGH"
    assert body["due_date"] == "2030-04-05" and body["status"] == "PENDING"
    assert body["project_id"] == team.project and body["version"] == 1
    assert r.headers["etag"] == '"1"'
    assert body["checklist"] == [] and body["depends_on"] == []
    assert [s["id"] for s in body["subtasks"]] == [child["id"]]
    assert get_task(client, team, child).json()["parent_id"] == parent["id"]

    r = client.patch(team.task_url(parent["id"]), json={"title": "Launch v2", "due_date": None},
                     headers=team.bob.headers)
    assert r.status_code == 200 and r.json()["version"] == 2
    body = get_task(client, team, r.json()).json()
    assert body["title"] == "Launch v2" and body["due_date"] is None

    # A parent of another project is refused; an unknown parent is not found.
    other_project = new_project(client, team.ann, team.org)
    r = client.post(f"/v1/organizations/{team.org}/projects/{other_project}/tasks",
                    json={"title": "x", "parent_id": parent["id"]}, headers=team.ann.headers)
    assert r.status_code == 422 and r.json()["field"] == "parent_id"
    r = client.post(team.tasks_url, json={"title": "x", "parent_id": str(uuid.uuid4())},
                    headers=team.ann.headers)
    assert r.status_code == 404 and r.json()["field"] == "parent_id"


def test_bad_input_is_a_named_4xx(client: TestClient) -> None:
    team = new_team(client)
    h = team.ann.headers
    for body, field in [({"title": "x" * 201}, "title"), ({"title": "   "}, "title"),
                        ({"title": "x", "priority": "ASAP"}, "priority"),
                        ({"title": "x", "priority": "high"}, "priority"),
                        ({"title": "x", "priority": None}, "priority"),
                        ({"title": "x", "due_date": "tomorrow"}, "due_date"),
                        ({"title": "x", "colour": "red"}, "colour"), ({}, "title")]:
        r = client.post(team.tasks_url, json=body, headers=h)
        assert r.status_code == 422, (body, r.text)
        assert problem_field(r) == field, (body, r.text)
    r = client.post(team.tasks_url, content=b"{oops", headers={**h, "Content-Type":
                                                               "application/json"})
    assert r.status_code == 400
    task = create_task(client, team)
    for status in ("DONE", "in_progress"):
        r = client.post(team.task_url(task["id"], "/status"), json={"status": status},
                        headers=h)
        assert r.status_code == 422 and problem_field(r) == "status"
    r = client.get(team.task_url("not-a-uuid"), headers=h)
    assert r.status_code == 422
    r = client.get(team.tasks_url, params={"cursor": "garbage"}, headers=h)
    assert r.status_code == 400


def test_assign_only_to_project_members(client: TestClient) -> None:
    team = new_team(client)
    carol = new_person(client, "Carol")  # in the organization, not in the project
    add_member(client, team.ann, team.org, carol, "Contributor")
    task = create_task(client, team)
    url = team.task_url(task["id"], "/assign")

    r = client.post(url, json={"assignee_id": carol.id}, headers=team.ann.headers)
    assert r.status_code == 409 and r.json()["field"] == "assignee_id"
    r = client.post(url, json={"assignee_id": str(uuid.uuid4())}, headers=team.ann.headers)
    assert r.status_code == 409
    r = client.post(url, json={"assignee_id": team.bob.id}, headers=team.ann.headers)
    assert r.status_code == 200, r.text
    assert get_task(client, team, r.json()).json()["assignee_id"] == team.bob.id
    r = client.post(url, json={"assignee_id": None}, headers=team.ann.headers)
    assert r.status_code == 200
    assert get_task(client, team, r.json()).json()["assignee_id"] is None
    r = client.post(url, json={}, headers=team.ann.headers)
    assert r.status_code == 422

    r = client.post(team.tasks_url, json={"title": "x", "assignee_id": carol.id},
                    headers=team.ann.headers)
    assert r.status_code == 409


def test_status_flow_and_illegal_transition(client: TestClient) -> None:
    team = new_team(client)
    task = create_task(client, team)
    url = team.task_url(task["id"], "/status")
    h = team.bob.headers
    r = client.post(url, json={"status": "COMPLETED"}, headers=h)
    assert r.status_code == 409 and r.json()["type"].endswith("illegal-transition")
    for status in ("IN_PROGRESS", "COMPLETED", "PENDING", "IN_PROGRESS", "PENDING"):
        r = client.post(url, json={"status": status}, headers=h)
        assert r.status_code == 200, (status, r.text)
    assert get_task(client, team, r.json()).json()["status"] == "PENDING"


def test_checklist_add_toggle_remove(client: TestClient) -> None:
    team = new_team(client)
    task = create_task(client, team)
    h = team.bob.headers
    r = client.post(team.task_url(task["id"], "/checklist"), json={"text": "Draft"}, headers=h)
    assert r.status_code == 201, r.text
    first = r.json()["item_id"]
    r = client.post(team.task_url(task["id"], "/checklist"), json={"text": "Review"}, headers=h)
    second = r.json()["item_id"]
    r = client.patch(team.task_url(task["id"], f"/checklist/{first}"), json={"done": True},
                     headers=h)
    assert r.status_code == 200
    body = get_task(client, team, r.json()).json()
    assert body["checklist"] == [{"id": first, "text": "Draft", "done": True},
                                 {"id": second, "text": "Review", "done": False}]

    r = client.patch(team.task_url(task["id"], f"/checklist/{first}"),
                     json={"done": False, "text": "Draft 2"}, headers=h)
    assert r.status_code == 200
    r = client.delete(team.task_url(task["id"], f"/checklist/{second}"), headers=h)
    assert r.status_code == 200
    body = get_task(client, team, r.json()).json()
    assert body["checklist"] == [{"id": first, "text": "Draft 2", "done": False}]

    r = client.delete(team.task_url(task["id"], f"/checklist/{second}"), headers=h)
    assert r.status_code == 404 and r.json()["field"] == "item_id"
    r = client.patch(team.task_url(task["id"], "/checklist/nope"), json={"done": True},
                     headers=h)
    assert r.status_code == 404
    r = client.patch(team.task_url(task["id"], f"/checklist/{first}"), json={}, headers=h)
    assert r.status_code == 422
    r = client.post(team.task_url(task["id"], "/checklist"), json={"text": "x" * 501},
                    headers=h)
    assert r.status_code == 422


def test_dependencies_and_cycles(client: TestClient) -> None:
    team = new_team(client)
    a, b, c = (create_task(client, team, title=t) for t in "ABC")
    h = team.bob.headers

    def depend(x: dict[str, Any], y: dict[str, Any]) -> Any:
        return client.post(team.task_url(x["id"], "/dependencies"),
                           json={"depends_on_id": y["id"]}, headers=h)

    assert depend(a, b).status_code == 201
    r = depend(b, c)
    assert r.status_code == 201 and r.json()["id"] == b["id"]
    r = depend(c, a)
    assert r.status_code == 409 and r.json()["type"].endswith("dependency-cycle")
    assert a["id"] in r.json()["detail"]
    assert depend(a, b).status_code == 409  # duplicate
    assert depend(a, a).status_code == 422  # self
    r = client.post(team.task_url(a["id"], "/dependencies"),
                    json={"depends_on_id": str(uuid.uuid4())}, headers=h)
    assert r.status_code == 404 and r.json()["field"] == "depends_on_id"
    other = new_project(client, team.ann, team.org)
    elsewhere = client.post(f"/v1/organizations/{team.org}/projects/{other}/tasks",
                            json={"title": "Elsewhere"}, headers=team.ann.headers).json()
    # Bob cannot see the other project: its task is "not found" to him; Ann sees both
    # projects and is told the rule instead.
    assert depend(a, elsewhere).status_code == 404
    r = client.post(team.task_url(a["id"], "/dependencies"),
                    json={"depends_on_id": elsewhere["id"]}, headers=team.ann.headers)
    assert r.status_code == 422

    r = depend(a, c)
    body = get_task(client, team, a, r.json()["position"]).json()
    assert [d["id"] for d in body["depends_on"]] == [b["id"], c["id"]]
    assert [d["id"] for d in get_task(client, team, c, r.json()["position"]).json()
            ["dependents"]] == [b["id"], a["id"]]

    r = client.delete(team.task_url(b["id"], f"/dependencies/{c['id']}"), headers=h)
    assert r.status_code == 200
    r = client.delete(team.task_url(b["id"], f"/dependencies/{c['id']}"), headers=h)
    assert r.status_code == 404
    assert depend(c, b).status_code == 201  # no longer a cycle: c → b, a → b, a → c
    r = depend(b, a)
    assert r.status_code == 409


def test_list_filters_and_pagination(client: TestClient) -> None:
    team = new_team(client)
    created = [create_task(client, team, title=f"T{i}") for i in range(7)]
    h = team.ann.headers
    for task in created[:3]:
        client.post(team.task_url(task["id"], "/assign"), json={"assignee_id": team.bob.id},
                    headers=h)
    last = client.post(team.task_url(created[0]["id"], "/status"),
                       json={"status": "IN_PROGRESS"}, headers=h).json()

    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        r = client.get(team.tasks_url, params=params,
                       headers={**h, **fresh(last["position"])})
        assert r.status_code == 200, r.text
        seen += [str(t.id) for t in Page[TaskView].model_validate(r.json()).items]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == [t["id"] for t in created]

    r = client.get(team.tasks_url, params={"assignee_id": team.bob.id}, headers=h)
    assert [t["id"] for t in r.json()["items"]] == [t["id"] for t in created[:3]]
    r = client.get(team.tasks_url, params={"status": "IN_PROGRESS"}, headers=h)
    assert [t["id"] for t in r.json()["items"]] == [created[0]["id"]]
    r = client.get(team.tasks_url, params={"status": "PENDING", "assignee_id": team.bob.id},
                   headers=h)
    assert [t["id"] for t in r.json()["items"]] == [t["id"] for t in created[1:3]]
    for status in ("LATE", "in_progress"):
        r = client.get(team.tasks_url, params={"status": status}, headers=h)
        assert r.status_code == 422


def test_visibility_and_tenants(client: TestClient) -> None:
    team = new_team(client)
    task = create_task(client, team)
    outsider = new_person(client, "Olga")  # in the organization, not in the project
    added = add_member(client, team.ann, team.org, outsider, "Contributor")
    position = added["position"]
    r = get_task(client, team, task, position, outsider)
    assert r.status_code == 404
    r = client.get(team.tasks_url, headers={**outsider.headers, **fresh(position)})
    assert r.status_code == 404
    r = client.post(team.tasks_url, json={"title": "x"}, headers=outsider.headers)
    assert r.status_code == 404
    r = client.post(team.task_url(task["id"], "/status"), json={"status": "IN_PROGRESS"},
                    headers=outsider.headers)
    assert r.status_code == 404

    # Another organization: its people see nothing, and a task is not reachable
    # through another organization's URL even for someone in both.
    eve = new_person(client, "Eve")
    r = get_task(client, team, task, position, eve)
    assert r.status_code == 404
    r = client.post(team.task_url(task["id"], "/status"), json={"status": "IN_PROGRESS"},
                    headers=eve.headers)
    assert r.status_code == 404
    org2 = new_organization(client, team.ann)
    r = client.get(f"/v1/organizations/{org2['id']}/tasks/{task['id']}",
                   headers={**team.ann.headers, **fresh(org2["position"])})
    assert r.status_code == 404
    r = client.patch(f"/v1/organizations/{org2['id']}/tasks/{task['id']}",
                     json={"title": "Mine"}, headers=team.ann.headers)
    assert r.status_code == 404


def test_client_reads_but_cannot_write(client: TestClient) -> None:
    team = new_team(client)
    task = create_task(client, team)
    # Cleo, a Client member, sees the project through her client's portal and views it.
    acme = add_client(client, team.ann, team.org)["id"]
    cleo, _ = add_portal_user(client, team.ann, team.org, acme, "Cleo")
    r = client.post(f"/v1/organizations/{team.org}/projects/{team.project}/clients",
                    json={"client_id": acme}, headers=team.ann.headers)
    assert r.status_code == 201, r.text
    joined = add_to_project(client, team.ann, team.org, team.project, cleo, "Viewer")
    r = get_task(client, team, task, joined["position"], cleo)
    assert r.status_code == 200
    r = client.post(team.tasks_url, json={"title": "x"}, headers=cleo.headers)
    assert r.status_code == 403
    r = client.post(team.task_url(task["id"], "/checklist"), json={"text": "x"},
                    headers=cleo.headers)
    assert r.status_code == 403


def test_if_match_and_idempotency(client: TestClient) -> None:
    team = new_team(client)
    task = create_task(client, team)
    url = team.task_url(task["id"])
    h = team.ann.headers
    r = client.patch(url, json={"title": "One"}, headers={**h, "If-Match": '"1"'})
    assert r.status_code == 200 and r.headers["etag"] == '"2"'
    r = client.patch(url, json={"title": "Two"}, headers={**h, "If-Match": '"1"'})
    assert r.status_code == 412
    r = client.post(url + "/status", json={"status": "IN_PROGRESS"},
                    headers={**h, "If-Match": '"1"'})
    assert r.status_code == 412

    key = {"Idempotency-Key": f"create-{uuid.uuid4()}"}
    first = client.post(team.tasks_url, json={"title": "Once"}, headers={**h, **key})
    again = client.post(team.tasks_url, json={"title": "Once"}, headers={**h, **key})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    r = client.get(team.tasks_url, headers={**h, **fresh(again.json()["position"])})
    assert [t["title"] for t in r.json()["items"]].count("Once") == 1

    key = {"Idempotency-Key": f"item-{uuid.uuid4()}"}
    first = client.post(url + "/checklist", json={"text": "Step"}, headers={**h, **key})
    again = client.post(url + "/checklist", json={"text": "Step"}, headers={**h, **key})
    assert first.json() == again.json()
    body = get_task(client, team, again.json()).json()
    assert [i["id"] for i in body["checklist"]] == [first.json()["item_id"]]


def test_archived_project_is_read_only(client: TestClient) -> None:
    team = new_team(client)
    task = create_task(client, team)
    r = client.post(f"/v1/organizations/{team.org}/projects/{team.project}/archive",
                    headers=team.ann.headers)
    assert r.status_code == 200, r.text
    r = client.post(team.tasks_url, json={"title": "Late"}, headers=team.ann.headers)
    assert r.status_code == 409 and r.json()["type"].endswith("project-archived")
    r = client.post(team.task_url(task["id"], "/status"), json={"status": "IN_PROGRESS"},
                    headers=team.bob.headers)
    assert r.status_code == 409
    assert get_task(client, team, task).json()["status"] == "PENDING"


def my_tasks(client: TestClient, who: Person, org: str, position: int | None = None,
             **params: Any) -> list[str]:
    """The ids of every task of ``who``'s my-tasks, walking the pages."""
    seen: list[str] = []
    cursor = None
    while True:
        r = client.get(f"/v1/organizations/{org}/my-tasks",
                       params={**params, **({"cursor": cursor} if cursor else {})},
                       headers={**who.headers, **fresh(position)})
        assert r.status_code == 200, r.text
        page = Page[TaskView].model_validate(r.json())
        seen += [str(t.id) for t in page.items]
        cursor = page.next_cursor
        if cursor is None:
            return seen


def test_my_tasks_by_due_date_across_the_projects_i_see(client: TestClient) -> None:
    team = new_team(client)
    bob = team.bob
    second = new_project(client, team.ann, team.org)
    add_to_project(client, team.ann, team.org, second, bob)
    mine = {name: create_task(client, team, title=name, assignee_id=bob.id, **due)
            for name, due in (("march", {"due_date": "2030-03-01"}), ("undated", {}),
                              ("january", {"due_date": "2030-01-15"}),
                              ("march too", {"due_date": "2030-03-01"}),
                              ("undated too", {}))}
    create_task(client, team, title="Ann's", assignee_id=team.ann.id)
    create_task(client, team, title="Nobody's")
    elsewhere = client.post(f"/v1/organizations/{team.org}/projects/{second}/tasks",
                            json={"title": "Elsewhere", "assignee_id": bob.id,
                                  "due_date": "2029-12-31"},
                            headers=team.ann.headers).json()
    # Bob's tasks in another organization stay there.
    other_org = new_organization(client, bob)["id"]
    other_project = new_project(client, bob, other_org)
    client.post(f"/v1/organizations/{other_org}/projects/{other_project}/tasks",
                json={"title": "Other org", "assignee_id": bob.id}, headers=bob.headers)
    started = client.post(team.task_url(mine["march too"]["id"], "/status"),
                          json={"status": "IN_PROGRESS"}, headers=bob.headers).json()

    ids = {name: task["id"] for name, task in mine.items()}
    order = [elsewhere["id"], ids["january"], ids["march"], ids["march too"], ids["undated"],
             ids["undated too"]]
    assert my_tasks(client, bob, team.org, started["position"]) == order
    assert my_tasks(client, bob, team.org, limit=2) == order  # pages follow the same order
    assert my_tasks(client, bob, team.org, status="IN_PROGRESS") == [ids["march too"]]
    assert my_tasks(client, bob, team.org, due_before="2030-03-01") == order[:4]
    assert my_tasks(client, bob, team.org, due_after="2030-01-15",
                    due_before="2030-02-28") == [ids["january"]]
    assert my_tasks(client, bob, team.org, due_after="2031-01-01") == []
    assert len(my_tasks(client, team.ann, team.org)) == 1

    # Out of the second project, its task is no longer Bob's to see.
    r = client.delete(f"/v1/organizations/{team.org}/projects/{second}/members/{bob.id}",
                      headers=team.ann.headers)
    assert my_tasks(client, bob, team.org, r.json()["position"]) == order[1:]

    url = f"/v1/organizations/{team.org}/my-tasks"
    for params in ({"status": "in_progress"}, {"due_before": "tomorrow"},
                   {"due_after": "2030-1-1"}, {"limit": 0}):
        r = client.get(url, params=params, headers=bob.headers)
        assert r.status_code == 422, (params, r.text)
    r = client.get(url, params={"cursor": "garbage"}, headers=bob.headers)
    assert r.status_code == 400
    eve = new_person(client, "Eve")
    r = client.get(url, headers=eve.headers)
    assert r.status_code == 404


def dependency_ids(client: TestClient, team: Team, task: dict[str, Any], direction: str,
                   position: int | None = None, who: Person | None = None,
                   limit: int = 50) -> list[str]:
    seen: list[str] = []
    cursor = None
    while True:
        r = client.get(team.task_url(task["id"], f"/{direction}"),
                       params={"limit": limit, **({"cursor": cursor} if cursor else {})},
                       headers={**(who or team.ann).headers, **fresh(position)})
        assert r.status_code == 200, r.text
        page = Page[DependencyView].model_validate(r.json())
        assert all(str(d.project_id) == team.project for d in page.items)
        seen += [str(d.id) for d in page.items]
        cursor = page.next_cursor
        if cursor is None:
            return seen


def test_dependencies_and_dependents_reads(client: TestClient) -> None:
    team = new_team(client)
    a, b, c, d = (create_task(client, team, title=t) for t in "ABCD")
    for x, y in ((a, c), (a, b), (a, d), (c, b)):
        r = client.post(team.task_url(x["id"], "/dependencies"),
                        json={"depends_on_id": y["id"]}, headers=team.bob.headers)
        assert r.status_code == 201, r.text
    position = r.json()["position"]

    # In the order they were recorded, over as many pages as it takes.
    assert dependency_ids(client, team, a, "dependencies", position) == [c["id"], b["id"],
                                                                         d["id"]]
    assert dependency_ids(client, team, a, "dependencies", limit=1) == [c["id"], b["id"],
                                                                        d["id"]]
    assert dependency_ids(client, team, b, "dependents", who=team.bob) == [a["id"], c["id"]]
    assert dependency_ids(client, team, b, "dependencies") == []
    r = client.get(team.task_url(a["id"], "/dependencies"), headers=team.ann.headers)
    assert r.json()["items"][0] == {"id": c["id"], "title": "C", "status": "PENDING",
                                    "project_id": team.project}

    r = client.delete(team.task_url(a["id"], f"/dependencies/{b['id']}"),
                      headers=team.bob.headers)
    assert dependency_ids(client, team, b, "dependents", r.json()["position"]) == [c["id"]]

    # The task's project decides who sees them: an outsider of the project, another
    # tenant, or the right task through another organization's URL: not found.
    olga, eve = new_person(client, "Olga"), new_person(client, "Eve")
    joined = add_member(client, team.ann, team.org, olga, "Contributor")
    org2 = new_organization(client, team.ann)["id"]
    for direction in ("dependencies", "dependents"):
        for who, url in ((olga, team.task_url(a["id"], f"/{direction}")),
                         (eve, team.task_url(a["id"], f"/{direction}")),
                         (team.ann, f"/v1/organizations/{org2}/tasks/{a['id']}/{direction}"),
                         (team.ann, team.task_url(str(uuid.uuid4()), f"/{direction}"))):
            r = client.get(url, headers={**who.headers, **fresh(joined["position"])})
            assert r.status_code == 404, (direction, url, r.text)
    r = client.get(team.task_url(a["id"], "/dependents"), params={"cursor": "garbage"},
                   headers=team.ann.headers)
    assert r.status_code == 400
