"""The activity timeline over HTTP (docs/timeline.md): what a row says (field-level
changes, actor, correlation, entity and project), people by id with their name as it is
now, permissions as they are *now* (a removed project member, a Client portal user, an
outsider, direct channels, time logs, proposals), every filter, newest-first paging,
the communication log, my activity, the Organizers' export, histories per kind, and
hostile input answered with a 4xx problem, never a 500.

The live feed (SSE) is tested against a real server elsewhere."""

from __future__ import annotations

import base64
import functools
import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import TypeAdapter

from api.routes.activity import ActivityEntry
from tests.helpers import (
    Person,
    add_client,
    add_client_project,
    add_member,
    add_portal_user,
    fresh,
    new_channel,
    new_organization,
    post_message,
    race,
)

PASSWORD = "correct horse battery"
ENTRY = TypeAdapter(ActivityEntry)
UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def org_url(org: str) -> str:
    return f"/v1/organizations/{org}"


def ok(r: Any) -> dict[str, Any]:
    assert r.status_code in (200, 201), r.text
    return dict(r.json())


@dataclass
class Named(Person):
    """A person registered with distinctive personal data, to search answers for."""

    name: str = ""
    phone: str = ""


def register(client: TestClient, label: str) -> Named:
    """A person whose name, email and phone are unlike anything else in any answer."""
    tag = uuid.uuid4().hex[:10]
    name = f"{label} Zyxwquorth {tag}"
    email = f"{label.lower()}.vexillum.{tag}@example.test"
    phone = f"+44 {int(tag[:8], 16) % 10**9:09d}"
    r = client.post("/v1/auth/register", json={"email": email, "name": name,
                                                "password": PASSWORD, "phone": phone})
    assert r.status_code == 201, r.text
    position = r.json()["position"]
    r = client.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return Named(r.json()["user_id"], email, r.json()["access_token"], position, name, phone)


def read(client: TestClient, who: Person, url: str, position: int | None = None,
         **params: Any) -> Any:
    return client.get(url, params=params, headers={**who.headers, **fresh(position)})


def latest_first(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The order of a page with a time range: by time, then by position, newest first."""
    return sorted(rows, key=lambda r: (datetime.fromisoformat(r["occurred_at"]),
                                       r["position"]), reverse=True)


def page(client: TestClient, who: Person, url: str, position: int | None = None,
         **params: Any) -> list[dict[str, Any]]:
    """The items of one page (200 asserted)."""
    r = read(client, who, url, position, **params)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def walk(client: TestClient, who: Person, url: str, position: int | None = None,
         limit: int = 200, **params: Any) -> list[dict[str, Any]]:
    """Every item of a paged list, following next_cursor."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(1000):
        extra = {"cursor": cursor} if cursor else {}
        r = read(client, who, url, position, limit=limit, **params, **extra)
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("the cursor never ended")


def activity(client: TestClient, who: Person, org: str, position: int | None = None,
             **params: Any) -> list[dict[str, Any]]:
    return walk(client, who, f"{org_url(org)}/activity", position, **params)


def settled(rows: list[dict[str, Any]], world: World) -> list[dict[str, Any]]:
    """The rows of the shared world as it was built (tests may add rows later)."""
    return [r for r in rows if r["position"] <= world.position]


def changes_of(row: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["field"]: c for c in row["changes"]}


def cursor_of(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


def is_problem(r: Any, status: int) -> bool:
    return bool(r.status_code == status
                and r.headers["content-type"].startswith("application/problem+json"))


# --- one organization with a bit of everything ------------------------------------------------

@dataclass
class World:
    ann: Named  # Organizer
    mia: Named  # Manager
    bob: Named  # Contributor, member of the project
    dan: Named  # Contributor, member of the project
    cid: Named  # Contributor, in no project
    carl: Named  # Client role, portal user of Acme (linked to the project)
    olga: Named  # Organizer of another organization, outsider here
    org: str
    other_org: str  # Olga's
    acme: str
    project: str
    task: str
    item: str  # a checklist item of the task
    team_channel: str
    direct: str  # Ann and Bob's direct channel
    message: str  # posted in the team channel, edited, then deleted
    time_log: str  # Bob's
    proposal: str  # to Acme
    feedback: str  # Carl's
    correlation: str  # sent with the task's status change
    position: int
    olga_task: str  # a task of Olga's organization

    @property
    def o(self) -> str:
        return org_url(self.org)


def build_world(client: TestClient) -> World:
    ann, mia, bob, dan, cid, olga = (register(client, n) for n in
                                     ("Ann", "Mia", "Bob", "Dan", "Cid", "Olga"))
    org = new_organization(client, ann)["id"]
    o = org_url(org)
    add_member(client, ann, org, mia, "Manager")
    for person in (bob, dan, cid):
        add_member(client, ann, org, person, "Contributor")
    acme = add_client(client, ann, org, "Acme", email=f"quillwort.{uuid.uuid4().hex[:8]}"
                      "@example.com", phone="+1 555 0100",
                      address={"line1": "12 Marrowbone Lane"})["id"]
    carl_person, _ = add_portal_user(client, ann, org, acme, "Carl")
    carl = Named(carl_person.id, carl_person.email, carl_person.token,
                 carl_person.registered_at, "Carl", "")
    project = add_client_project(client, ann, org, acme)["id"]
    for person in (bob, dan):
        ok(client.post(f"{o}/projects/{project}/members",
                       json={"user_id": person.id, "role": "Member"}, headers=ann.headers))
    task = ok(client.post(f"{o}/projects/{project}/tasks", json={"title": "Draft plan"},
                          headers=ann.headers))["id"]
    t = f"{o}/tasks/{task}"
    ok(client.post(f"{t}/assign", json={"assignee_id": ann.id}, headers=ann.headers))
    ok(client.post(f"{t}/assign", json={"assignee_id": bob.id}, headers=ann.headers))
    correlation = f"corr-{uuid.uuid4().hex}"
    ok(client.post(f"{t}/status", json={"status": "IN_PROGRESS"},
                   headers={**bob.headers, "X-Correlation-ID": correlation}))
    ok(client.patch(t, json={"title": "Final plan"}, headers=bob.headers))
    item = ok(client.post(f"{t}/checklist", json={"text": "Proofread"},
                          headers=bob.headers))["item_id"]
    ok(client.patch(f"{t}/checklist/{item}", json={"done": True}, headers=bob.headers))

    team = new_channel(client, ann, org, kind="team", name="general")["id"]
    ok(client.post(f"{o}/channels/{team}/members", json={"user_id": bob.id},
                   headers=ann.headers))
    ok(client.post(f"{o}/channels/{team}/members", json={"user_id": dan.id},
                   headers=ann.headers))
    ok(client.delete(f"{o}/channels/{team}/members/{dan.id}", headers=ann.headers))
    message = post_message(client, bob, org, team, "a secret body quixotry")["id"]
    ok(client.patch(f"{o}/messages/{message}", json={"content": "an edited body zorbly"},
                    headers=bob.headers))
    ok(client.delete(f"{o}/messages/{message}", headers=bob.headers))
    direct = new_channel(client, ann, org, kind="direct", user_id=bob.id)["id"]
    post_message(client, ann, org, direct, "just between us")

    time_log = ok(client.post(f"{o}/time-logs", json={"task_id": task, "work_date":
                                                       "2026-05-04", "hours": 2},
                              headers=bob.headers))["id"]
    proposal = ok(client.post(f"{o}/clients/{acme}/proposals",
                              json={"title": "Offer", "amount": 100},
                              headers=ann.headers))["id"]
    ok(client.post(f"{o}/proposals/{proposal}/send", headers=ann.headers))
    feedback = ok(client.post(f"{o}/clients/{acme}/feedback",
                              json={"rating": 4, "project_id": project,
                                    "comment": "a private remark plumbago"},
                              headers=carl.headers))["id"]

    other_org = new_organization(client, olga)["id"]
    other_project = add_client_project(client, olga, other_org, None)["id"]
    last = ok(client.post(f"{org_url(other_org)}/projects/{other_project}/tasks",
                          json={"title": "Olga's"}, headers=olga.headers))
    return World(ann, mia, bob, dan, cid, carl, olga, org, other_org, acme, project, task,
                 item, team, direct, message, time_log, proposal, feedback, correlation,
                 last["position"], last["id"])


@pytest.fixture(scope="module")
def world(client: TestClient) -> World:
    return build_world(client)


@pytest.fixture(scope="module")
def everything(client: TestClient, world: World) -> list[dict[str, Any]]:
    """The organization's whole activity as its Organizer sees it, as built."""
    return settled(activity(client, world.ann, world.org, world.position), world)


# --- what a row says ---------------------------------------------------------------------------

def test_a_tasks_history_holds_each_change_field_by_field(client: TestClient,
                                                          world: World) -> None:
    rows = settled(walk(client, world.ann, f"{world.o}/tasks/{world.task}/history",
                        world.position), world)
    assert [r["action"] for r in rows] == [
        "task.checklist_item_toggled", "task.checklist_item_added", "task.updated",
        "task.status_changed", "task.assigned", "task.assigned", "task.created"]
    # Newest first, one version per event.
    assert [r["entity_version"] for r in rows] == list(range(7, 0, -1))
    toggled, added, updated, status, to_bob, to_ann, created = rows
    assert status["changes"] == [{"field": "status", "old": "PENDING", "new": "IN_PROGRESS"}]
    assert to_ann["changes"] == [{"field": "assignee_id", "old": None, "new": world.ann.id}]
    assert to_bob["changes"] == [{"field": "assignee_id", "old": world.ann.id,
                                  "new": world.bob.id}]
    assert updated["changes"] == [{"field": "title", "old": "Draft plan", "new": "Final plan"}]
    # A nested change by dotted path.
    assert toggled["changes"] == [{"field": f"checklist.{world.item}.done", "old": False,
                                   "new": True}]
    assert added["changes"] == [{"field": f"checklist.{world.item}", "old": None,
                                 "new": {"text": "Proofread", "done": False}}]
    # Creation: every field from nothing.
    assert changes_of(created)["title"]["new"] == "Draft plan"
    assert changes_of(created)["status"] == {"field": "status", "old": None,
                                             "new": "PENDING"}


def test_a_row_names_actor_correlation_entity_and_project(client: TestClient,
                                                          world: World) -> None:
    rows = page(client, world.ann, f"{world.o}/activity", world.position,
                action="task.status_changed", entity_id=world.task)
    assert len(rows) == 1
    row = rows[0]
    assert row["actor_id"] == world.bob.id
    assert row["actor"] == {"id": world.bob.id, "name": world.bob.name}
    assert row["correlation_id"] == world.correlation
    assert row["causation_id"]  # the request's id
    assert (row["entity_type"], row["entity_id"], row["entity_version"]) == (
        "task", world.task, 4)
    assert row["project_id"] == world.project and row["organization_id"] == world.org
    assert row["channel_id"] is None
    # An Organizer sees where the request came from (the test client's host and agent).
    assert row["client_ip"] == "testclient" and row["user_agent"] == "testclient"
    # The time is an instant in UTC.
    assert datetime.fromisoformat(row["occurred_at"]).utcoffset() == timedelta(0)


def test_every_row_matches_the_response_model_and_is_newest_first(
    everything: list[dict[str, Any]],
) -> None:
    for row in everything:
        ENTRY.validate_python(row)
    positions = [r["position"] for r in everything]
    assert positions == sorted(positions, reverse=True)
    assert len(set(positions)) == len(positions)
    # Rules (uniqueness claims, person-day ledgers) and accounts are nobody's activity.
    kinds = {r["entity_type"] for r in everything}
    assert {"organization", "project", "task", "channel", "message", "time_log", "client",
            "proposal", "client_feedback"} <= kinds
    assert not kinds & {"user", "unique_claim", "person_day"}


# --- people by id ------------------------------------------------------------------------------

def personal_texts(world: World) -> list[str]:
    texts = []
    for person in (world.ann, world.mia, world.bob, world.dan, world.cid, world.carl,
                   world.olga):
        texts += [person.email, person.email.split("@")[0]]
        if person.phone:
            texts.append(person.phone)
    return texts


def without_actors(body: Any) -> str:
    """The answer's text with the one place a name may appear (``actor``) taken out."""
    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "actor"}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value
    return json.dumps(strip(body), ensure_ascii=False)


def test_no_email_phone_or_personal_text_appears_in_any_activity_answer(
    client: TestClient, world: World,
) -> None:
    w = world
    answers = [
        read(client, w.ann, f"{w.o}/activity", w.position, limit=200),
        read(client, w.bob, f"{w.o}/activity", w.position, limit=200),
        read(client, w.carl, f"{w.o}/activity", w.position, limit=200),
        read(client, w.bob, "/v1/me/activity", w.position, limit=200),
        read(client, w.ann, "/v1/me/activity", w.position, limit=200),
        read(client, w.ann, f"{w.o}/history", w.position),
        read(client, w.ann, f"{w.o}/clients/{w.acme}/history", w.position),
        read(client, w.ann, f"{w.o}/messages/{w.message}/history", w.position),
        read(client, w.ann, f"{w.o}/feedback/{w.feedback}/history", w.position),
        read(client, w.ann, f"{w.o}/channels/{w.team_channel}/communication-log", w.position),
        read(client, w.ann, f"{w.o}/activity/export", w.position),
    ]
    secrets = [*personal_texts(w), "quixotry", "zorbly", "just between us", "plumbago",
               "quillwort", "555 0100", "Marrowbone"]
    for r in answers:
        assert r.status_code == 200, r.text
        for secret in secrets:
            assert secret.lower() not in r.text.lower(), (r.request.url, secret)
    # The people's names appear only as the actor's name, never inside a row's changes.
    for r in answers[:-1]:
        stripped = without_actors(r.json())
        for person in (w.ann, w.mia, w.bob, w.dan, w.cid, w.olga):
            assert person.name not in stripped, (r.request.url, person.name)
    # A personal field is said to have changed, without its values.
    edited = page(client, w.ann, f"{w.o}/activity", w.position, action="message.edited")
    assert edited[0]["changes"] == [{"field": "content", "withheld": True}]


def test_a_profile_change_is_not_org_activity_and_the_actor_name_is_the_current_one(
    client: TestClient,
) -> None:
    ann = register(client, "Ann")
    org = new_organization(client, ann)["id"]
    project = add_client_project(client, ann, org, None)["id"]
    before = ok(client.post(f"{org_url(org)}/projects/{project}/tasks",
                            json={"title": "Before the rename"}, headers=ann.headers))
    new_name = f"Annette Plovdivsky {uuid.uuid4().hex[:8]}"
    new_phone = "+33 1 23 45 67 89"
    renamed = ok(client.patch("/v1/me", json={"name": new_name, "phone": new_phone},
                              headers=ann.headers))
    rows = activity(client, ann, org, renamed["position"])
    assert rows and all(r["entity_type"] != "user" for r in rows)
    # Rows written before the rename show the name as it is now.
    created = [r for r in rows if r["entity_id"] == before["id"]]
    assert created and all(r["actor"] == {"id": ann.id, "name": new_name} for r in created)
    text = json.dumps(rows)
    for old in (ann.name, ann.email, ann.phone, new_phone):
        assert old not in text
    # The person's own activity holds the change, with the values withheld.
    mine = page(client, ann, "/v1/me/activity", renamed["position"])
    profile = [r for r in mine if r["action"] == "user.profile_updated"]
    assert len(profile) == 1
    assert profile[0]["changes"] == [
        {"field": "name", "withheld": True}, {"field": "phone", "withheld": True}]
    assert ann.name not in json.dumps(mine) and new_phone not in json.dumps(mine)


# --- permissions, now --------------------------------------------------------------------------

def test_a_contributor_outside_a_project_sees_none_of_its_rows(
    client: TestClient, world: World,
) -> None:
    w = world
    rows = activity(client, w.cid, w.org, w.position)
    assert rows, "the organization's own rows are visible"
    assert all(r["project_id"] != w.project for r in rows)
    assert w.project not in json.dumps(rows) and w.task not in json.dumps(rows)
    for url in (f"{w.o}/tasks/{w.task}/history", f"{w.o}/projects/{w.project}/history"):
        assert is_problem(read(client, w.cid, url, w.position), 404)
    assert page(client, w.cid, f"{w.o}/activity", project_id=w.project) == []


def shared_project(client: TestClient) -> tuple[Named, Named, str, str]:
    """Ann's organization and project, with Eve a Contributor and a member of it."""
    ann, eve = register(client, "Ann"), register(client, "Eve")
    org = new_organization(client, ann)["id"]
    add_member(client, ann, org, eve, "Contributor")
    project = add_client_project(client, ann, org, None)["id"]
    ok(client.post(f"{org_url(org)}/projects/{project}/members",
                   json={"user_id": eve.id, "role": "Member"}, headers=ann.headers))
    return ann, eve, org, project


def test_a_removed_project_member_stops_seeing_the_projects_history(
    client: TestClient,
) -> None:
    ann, eve, org, project = shared_project(client)
    o = org_url(org)
    task = ok(client.post(f"{o}/projects/{project}/tasks", json={"title": "Shared"},
                          headers=eve.headers))
    url = f"{o}/tasks/{task['id']}/history"
    assert len(page(client, eve, url, task["position"])) == 1
    assert any(r["project_id"] == project for r in activity(client, eve, org))
    removed = ok(client.delete(f"{o}/projects/{project}/members/{eve.id}",
                               headers=ann.headers))
    # Her own past actions included: what she may not see now, she does not see.
    assert is_problem(read(client, eve, url, removed["position"]), 404)
    assert is_problem(read(client, eve, f"{o}/projects/{project}/history"), 404)
    rows = activity(client, eve, org)
    assert all(r["project_id"] != project for r in rows)
    assert page(client, eve, f"{o}/activity", entity_id=task["id"]) == []
    # My activity follows the same rule.
    assert all(r["project_id"] != project for r in walk(client, eve, "/v1/me/activity"))
    # Removed from the organization: everything there is 404.
    gone = ok(client.delete(f"{o}/members/{eve.id}", headers=ann.headers))
    assert is_problem(read(client, eve, f"{o}/activity", gone["position"]), 404)
    assert all(r["organization_id"] != org for r in walk(client, eve, "/v1/me/activity"))


def test_a_deleted_organization_leaves_my_activity(client: TestClient) -> None:
    ann = register(client, "Ann")
    org = new_organization(client, ann)["id"]
    kept = new_organization(client, ann)["id"]
    o = org_url(org)
    project = add_client_project(client, ann, org, None)
    before = walk(client, ann, "/v1/me/activity", project["position"])
    assert any(r["organization_id"] == org for r in before)
    gone = ok(client.delete(o, headers=ann.headers))
    mine = walk(client, ann, "/v1/me/activity", gone["position"])
    assert all(r["organization_id"] != org for r in mine)
    assert any(r["organization_id"] == kept for r in mine)


def test_my_own_time_log_keeps_its_history_after_i_leave_its_project(
    client: TestClient,
) -> None:
    ann, eve, org, project = shared_project(client)
    o = org_url(org)
    task = ok(client.post(f"{o}/projects/{project}/tasks", json={"title": "Logged"},
                          headers=eve.headers))["id"]
    logged = ok(client.post(f"{o}/time-logs", json={"task_id": task, "work_date":
                                                    "2026-05-04", "hours": 2},
                            headers=eve.headers))
    removed = ok(client.delete(f"{o}/projects/{project}/members/{eve.id}",
                               headers=ann.headers))
    # The time log is still hers to read, and so is its history, as one record.
    assert read(client, eve, f"{o}/time-logs/{logged['id']}", removed["position"]
                ).status_code == 200
    history = page(client, eve, f"{o}/time-logs/{logged['id']}/history")
    assert [r["action"] for r in history] == ["time_log.logged"]
    assert [r["entity_id"] for r in page(client, eve, f"{o}/activity",
                                         entity_type="time_log")] == [logged["id"]]
    assert [r["entity_id"] for r in walk(client, eve, "/v1/me/activity")
            if r["entity_type"] == "time_log"] == [logged["id"]]
    # Not the project's other rows.
    assert is_problem(read(client, eve, f"{o}/tasks/{task}/history"), 404)


def test_a_message_history_is_read_by_those_who_read_the_message(
    client: TestClient,
) -> None:
    """Organizers and Managers oversee a project channel they are not in (its log and
    its activity rows, bodies withheld), but read its messages, and so a message's
    history, only as members."""
    ann, mia, bob = register(client, "Ann"), register(client, "Mia"), register(client, "Bob")
    org = new_organization(client, ann)["id"]
    o = org_url(org)
    add_member(client, ann, org, mia, "Manager")
    add_member(client, ann, org, bob, "Contributor")
    project = add_client_project(client, ann, org, None)["id"]
    ok(client.post(f"{o}/projects/{project}/members", json={"user_id": bob.id,
                                                              "role": "Member"},
                   headers=ann.headers))
    channel = new_channel(client, bob, org, kind="project", name="crew",
                          project_id=project)["id"]
    message = post_message(client, bob, org, channel, "crew only")
    for outsider in (ann, mia):  # not members of the channel
        assert is_problem(read(client, outsider, f"{o}/messages/{message['id']}",
                               message["position"]), 404)
        assert is_problem(read(client, outsider, f"{o}/messages/{message['id']}/history"),
                          404)
        assert [r["entity_id"] for r in page(client, outsider, f"{o}/activity",
                                             entity_type="message")] == [message["id"]]
    assert [r["action"] for r in page(client, bob, f"{o}/messages/{message['id']}/history")
            ] == ["message.posted"]


def test_my_registration_is_in_my_activity(client: TestClient) -> None:
    ann = register(client, "Ann")
    mine = walk(client, ann, "/v1/me/activity")
    registered = [r for r in mine if r["action"] == "user.registered"]
    assert [(r["entity_id"], r["actor_id"]) for r in registered] == [(ann.id, ann.id)]


def every_url(w: World) -> list[str]:
    o = w.o
    return [f"{o}/activity", f"{o}/history", f"{o}/activity/export",
            f"{o}/projects/{w.project}/history", f"{o}/tasks/{w.task}/history",
            f"{o}/channels/{w.team_channel}/history",
            f"{o}/messages/{w.message}/history", f"{o}/time-logs/{w.time_log}/history",
            f"{o}/clients/{w.acme}/history", f"{o}/proposals/{w.proposal}/history",
            f"{o}/feedback/{w.feedback}/history",
            f"{o}/channels/{w.team_channel}/communication-log"]


def test_an_outsider_gets_404_on_everything(client: TestClient, world: World) -> None:
    for url in every_url(world):
        r = read(client, world.olga, url, world.position)
        assert is_problem(r, 404), (url, r.status_code, r.text)
        assert world.org in r.json()["detail"]  # the organization is what is not found
    # ... and her own activity holds nothing of the organization.
    mine = walk(client, world.olga, "/v1/me/activity", world.position)
    assert mine and all(r["organization_id"] == world.other_org
                        or r["entity_type"] == "user" for r in mine)


def test_anonymous_callers_get_401(client: TestClient, world: World) -> None:
    for url in [*every_url(world), "/v1/me/activity"]:
        r = client.get(url)
        assert is_problem(r, 401), (url, r.text)


def test_a_client_portal_user_sees_only_their_projects_and_tasks_without_origin(
    client: TestClient, world: World,
) -> None:
    w = world
    rows = settled(activity(client, w.carl, w.org, w.position), w)
    assert {r["entity_type"] for r in rows} == {"project", "task"}
    assert {r["project_id"] for r in rows} == {w.project}
    assert {r["entity_id"] for r in rows} == {w.project, w.task}
    assert all(r["client_ip"] is None and r["user_agent"] is None for r in rows)
    assert len(settled(page(client, w.carl, f"{w.o}/tasks/{w.task}/history", w.position),
                       w)) == 7
    for url in every_url(w):
        if url.endswith((f"/tasks/{w.task}/history", f"/projects/{w.project}/history",
                         "/activity")):
            continue
        r = read(client, w.carl, url)
        assert r.status_code in (403, 404), (url, r.text)
    # The portal has no export: 404, like every internal read.
    assert is_problem(read(client, w.carl, f"{w.o}/activity/export"), 404)


def test_a_client_portal_user_never_sees_another_clients_id_in_a_shared_project(
    client: TestClient,
) -> None:
    # The portal shows a shared project with its own client only (projects.
    # seen_from_portal): the other client's id must not reach it through the timeline.
    ann = register(client, "Ann")
    org = new_organization(client, ann)["id"]
    acme = add_client(client, ann, org, "Acme")["id"]
    globex = add_client(client, ann, org, "Globex")["id"]
    carl, _ = add_portal_user(client, ann, org, acme, "Carl")
    project = add_client_project(client, ann, org, acme)["id"]
    linked = ok(client.post(f"{org_url(org)}/projects/{project}/clients",
                            json={"client_id": globex}, headers=ann.headers))
    r = read(client, carl, f"{org_url(org)}/activity", linked["position"], limit=200)
    assert r.status_code == 200 and r.json()["items"], r.text
    assert globex not in r.text
    r = read(client, carl, f"{org_url(org)}/projects/{project}/history", limit=200)
    assert r.status_code == 200 and globex not in r.text


def test_client_ip_and_user_agent_are_for_organizers_only(client: TestClient,
                                                          world: World) -> None:
    w = world
    for who in (w.mia, w.bob, w.carl):
        rows = activity(client, who, w.org, w.position)
        assert rows and all(r["client_ip"] is None and r["user_agent"] is None
                            for r in rows), who.name
        mine = walk(client, who, "/v1/me/activity", w.position)
        assert all(r["client_ip"] is None for r in mine)
    rows = activity(client, w.ann, w.org, w.position)
    assert all(r["client_ip"] == "testclient" for r in rows if r["actor_id"] is not None)
    log = page(client, w.mia, f"{w.o}/channels/{w.team_channel}/communication-log")
    assert log and all(r["client_ip"] is None for r in log)


def test_direct_channel_rows_are_for_its_members_only(client: TestClient,
                                                      world: World) -> None:
    w = world
    for who in (w.ann, w.bob):
        assert any(r["channel_id"] == w.direct for r in activity(client, who, w.org,
                                                                  w.position))
        assert page(client, who, f"{w.o}/channels/{w.direct}/history")
    # Not even a Manager, who sees every project, reads other people's direct channels.
    for who in (w.mia, w.dan, w.cid):
        rows = activity(client, who, w.org, w.position)
        assert all(r["channel_id"] != w.direct and r["entity_id"] != w.direct
                   for r in rows), who.name
        for suffix in ("history", "communication-log"):
            r = read(client, who, f"{w.o}/channels/{w.direct}/{suffix}")
            assert is_problem(r, 404), (who.name, r.text)


def test_time_logs_of_others_are_hidden_from_contributors(client: TestClient,
                                                          world: World) -> None:
    w = world
    url = f"{w.o}/time-logs/{w.time_log}/history"
    # Dan works on the same project, but Bob's time is Bob's and the staff's.
    assert not [r for r in activity(client, w.dan, w.org, w.position)
                if r["entity_type"] == "time_log"]
    assert is_problem(read(client, w.dan, url), 404)
    assert page(client, w.dan, f"{w.o}/activity", entity_type="time_log") == []
    for who in (w.bob, w.ann, w.mia):
        assert [r["entity_id"] for r in page(client, who, url)] == [w.time_log]


def test_proposals_are_hidden_from_contributors(client: TestClient, world: World) -> None:
    w = world
    url = f"{w.o}/proposals/{w.proposal}/history"
    for who in (w.bob, w.dan, w.cid):
        assert page(client, who, f"{w.o}/activity", w.position,
                    entity_type="proposal") == []
        assert w.proposal not in json.dumps(activity(client, who, w.org))
        assert is_problem(read(client, who, url), 404)
    for who in (w.ann, w.mia):
        assert [r["action"] for r in page(client, who, url, w.position)] == [
            "proposal.sent", "proposal.created"]


# --- filters and paging ------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["actor_id", "entity_type", "entity_id", "project_id",
                                  "action", "correlation_id"])
def test_each_filter_keeps_exactly_the_matching_rows(
    client: TestClient, world: World, everything: list[dict[str, Any]], name: str,
) -> None:
    values: dict[str, Any] = {
        "actor_id": world.bob.id, "entity_type": "channel", "entity_id": world.task,
        "project_id": world.project, "action": "task.assigned",
        "correlation_id": world.correlation}
    value = values[name]
    expected = [r for r in everything if r[name] == value]
    assert expected and len(expected) < len(everything)
    single: dict[str, Any] = {name: value}
    assert settled(activity(client, world.ann, world.org, **single), world) == expected
    # Filters combine (AND).
    other, other_value = (("entity_type", "task") if name == "actor_id"
                          else ("actor_id", world.ann.id))
    combined: dict[str, Any] = {name: value, other: other_value}
    both = settled(activity(client, world.ann, world.org, **combined), world)
    assert both == [r for r in expected if r[other] == other_value]
    # A value that matches nothing answers an empty page, not an error.
    nothing: Any = {"entity_type": "spaceship", "action": "task.launched",
               "correlation_id": "no such correlation"}.get(name, str(uuid.uuid4()))
    none_match: dict[str, Any] = {name: nothing}
    assert page(client, world.ann, f"{world.o}/activity", **none_match) == []


def test_since_and_until_mean_the_same_instant_whatever_the_offset(
    client: TestClient, world: World, everything: list[dict[str, Any]],
) -> None:
    times = sorted({datetime.fromisoformat(r["occurred_at"]) for r in everything})
    middle, later = times[len(times) // 3], times[2 * len(times) // 3]
    # With a time range, pages are latest first by time (docs/timeline.md).
    expected = latest_first([r for r in everything
                             if middle <= datetime.fromisoformat(r["occurred_at"]) < later])
    assert expected and len(expected) < len(everything)
    for offset in (timedelta(0), timedelta(hours=5, minutes=30), timedelta(hours=-9, minutes=-30)):
        zone = timezone(offset)
        since, until = middle.astimezone(zone).isoformat(), later.astimezone(zone).isoformat()
        assert activity(client, world.ann, world.org, since=since, until=until) == expected, \
            since
    # "Z" is UTC; a lower-case t and z are RFC 3339 too.
    z = middle.strftime("%Y-%m-%dt%H:%M:%S.%fz")
    assert settled(activity(client, world.ann, world.org, since=z), world) == latest_first([
        r for r in everything if datetime.fromisoformat(r["occurred_at"]) >= middle])
    # since is inclusive, until exclusive: the same instant for both is empty.
    assert activity(client, world.ann, world.org, since=middle.isoformat(),
                    until=middle.isoformat()) == []


def test_a_moment_with_more_than_microsecond_precision_is_not_truncated(
    client: TestClient, world: World, everything: list[dict[str, Any]],
) -> None:
    # An event recorded at t (microseconds) is before t + 0.9 µs: "since t+0.9µs" must
    # leave it out and "until t+0.9µs" must keep it.
    row = everything[len(everything) // 2]
    at = datetime.fromisoformat(row["occurred_at"])
    just_after = at.strftime("%Y-%m-%dT%H:%M:%S.%f") + "9Z"
    since = page(client, world.ann, f"{world.o}/activity", entity_id=row["entity_id"],
                 since=just_after, limit=200)
    assert row["position"] not in [r["position"] for r in since]
    until = page(client, world.ann, f"{world.o}/activity", entity_id=row["entity_id"],
                 until=just_after, limit=200)
    assert row["position"] in [r["position"] for r in until]


def test_pages_walk_newest_first_without_skips_or_duplicates(
    client: TestClient, world: World, everything: list[dict[str, Any]],
) -> None:
    url = f"{world.o}/activity"
    for limit in (1, 3, 7):
        assert settled(walk(client, world.ann, url, limit=limit), world) == everything
    # A page, then a new event, then the next pages: the new one is not on them and
    # nothing repeats or is skipped (the cursor is a position, not an offset).
    before = walk(client, world.ann, url)
    first = read(client, world.ann, url, limit=5).json()
    added = ok(client.patch(f"{world.o}/tasks/{world.task}", json={"priority": "HIGH"},
                            headers=world.ann.headers))
    items, cursor = list(first["items"]), first["next_cursor"]
    while cursor:
        r = read(client, world.ann, url, added["position"], limit=5, cursor=cursor)
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        cursor = r.json()["next_cursor"]
    assert [r["position"] for r in items] == [r["position"] for r in before]
    newest = page(client, world.ann, url, limit=1)[0]
    assert newest["position"] == added["position"] and newest["action"] == "task.updated"


@pytest.mark.parametrize("cursor", [
    "garbage", cursor_of([]), cursor_of([1, 2]), cursor_of({"position": 1}),
    cursor_of(["abc"]), cursor_of([None]), cursor_of([[1]]),
    base64.urlsafe_b64encode(b"[1e400]").decode(),
    base64.urlsafe_b64encode(b"[-1e400]").decode(),
    base64.urlsafe_b64encode(b"[Infinity]").decode(),
    base64.urlsafe_b64encode(b"[NaN]").decode(),
    base64.urlsafe_b64encode(b"\xff\xfe").decode(),
])
def test_a_forged_cursor_is_a_400(client: TestClient, world: World, cursor: str) -> None:
    for url in (f"{world.o}/activity", "/v1/me/activity",
                f"{world.o}/tasks/{world.task}/history"):
        r = read(client, world.ann, url, cursor=cursor)
        assert is_problem(r, 400), (url, cursor, r.status_code, r.text)
        assert r.json()["field"] == "cursor"


@pytest.mark.parametrize("value", [[10**30], [1e30], [-1], [2**63], [-(2**63) - 1], [0]])
def test_a_cursor_with_an_out_of_range_position_is_no_server_error(
    client: TestClient, world: World, everything: list[dict[str, Any]], value: list[Any],
) -> None:
    # Never issued, but harmless: either refused as a forged cursor or answered as the
    # position it names, and never with rows the caller may not see.
    r = read(client, world.cid, f"{world.o}/activity", cursor=cursor_of(value))
    assert r.status_code in (200, 400), r.text
    if r.status_code == 200:
        assert all(row["project_id"] != world.project for row in r.json()["items"])
        assert all(row["position"] < value[0] for row in r.json()["items"])


@pytest.mark.parametrize("params", [
    {"since": "2026-01-05T09:30:00"},  # naive: names no instant
    {"until": "2026-01-05"},
    {"since": "2026-01-05 09:30:00Z"},
    {"since": "NaN"}, {"until": "Infinity"}, {"since": "1736070600"},
    {"since": "2026-02-30T00:00:00Z"}, {"since": "2026-01-05T24:00:00Z"},
    {"since": "2026-01-05T09:30:00+24:00"}, {"since": "0000-01-01T00:00:00Z"},
    {"since": "10000-01-01T00:00:00Z"}, {"since": "2026-01-05T09:30:00\x00Z"},
    # Rounded up to the next microsecond: past the last one a time can hold.
    {"since": "9999-12-31T23:59:59.999999999999Z"},
    {"until": "9999-12-31T23:59:59.9999999Z"}, {"since": "9999-12-31T23:59:60Z"},
    {"action": "task"}, {"action": "Task.Status_Changed"}, {"action": "task.status-changed"},
    {"action": "task.status_changed.x"}, {"action": "task.%"}, {"action": "a" * 65 + ".b"},
    {"action": "task.status_changed\n"}, {"action": ""},
    {"entity_type": "Task"}, {"entity_type": "task'--"}, {"entity_type": "NaN"},
    {"entity_type": "x" * 65}, {"entity_type": "tas\x00k"},
    {"actor_id": "NaN"}, {"actor_id": "1e30"}, {"entity_id": "123"},
    {"project_id": "00000000-0000-0000-0000-00000000000g"},
    {"correlation_id": "x" * 201}, {"correlation_id": "a\x00b"}, {"correlation_id": "é"},
    {"correlation_id": "\ud800"}, {"correlation_id": ""},
    {"limit": 0}, {"limit": 201}, {"limit": "NaN"}, {"limit": 10**30}, {"limit": "1e3"},
    {"limit": -1}, {"limit": "2.5"}, {"cursor": "x" * 5000}, {"cursor": "a b"},
])
def test_bad_filter_values_are_a_422_problem(client: TestClient, world: World,
                                             params: dict[str, Any]) -> None:
    r = client.get(f"{world.o}/activity", params={k: _wire(v) for k, v in params.items()},
                   headers=world.ann.headers)
    # A NUL anywhere in a query is refused before validation (400); anything else is a
    # validation error naming the parameter.
    if any("\x00" in str(v) for v in params.values()):
        assert is_problem(r, 400) or is_problem(r, 422), (params, r.status_code, r.text)
        return
    assert is_problem(r, 422), (params, r.status_code, r.text)
    assert r.json()["errors"][0]["field"] == next(iter(params)), r.text


def _wire(value: Any) -> Any:
    """Lone surrogates cannot be encoded by the client: send their UTF-8-like bytes."""
    if isinstance(value, str) and any(0xD800 <= ord(c) <= 0xDFFF for c in value):
        return value.encode("utf-8", "surrogatepass").decode("latin-1")
    return value


def test_extreme_but_valid_moments_are_answered(client: TestClient, world: World) -> None:
    for since, until in (("0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59"),
                         ("9999-12-31T23:59:59-23:59", None),
                         ("2026-12-31T23:59:60Z", None)):  # a leap second
        params: dict[str, Any] = {"since": since, **({"until": until} if until else {})}
        r = read(client, world.ann, f"{world.o}/activity", **params)
        assert r.status_code == 200, (params, r.text)
    # The widest range there is holds everything.
    widest = activity(client, world.ann, world.org, since="0001-01-01T00:00:00+23:59",
                      until="9999-12-31T23:59:59-23:59")
    assert settled(widest, world) == latest_first(
        settled(activity(client, world.ann, world.org), world))


# --- communication log -------------------------------------------------------------------------

def test_the_communication_log_holds_lifecycle_membership_and_moderation(
    client: TestClient, world: World,
) -> None:
    w = world
    rows = walk(client, w.ann, f"{w.o}/channels/{w.team_channel}/communication-log",
                w.position)
    assert [r["action"] for r in rows] == [
        "message.deleted", "message.edited", "channel.member_left", "channel.member_joined",
        "channel.member_joined", "channel.created"]
    assert all(r["channel_id"] == w.team_channel for r in rows)
    assert {r["entity_id"] for r in rows[:2]} == {w.message}
    deleted = changes_of(rows[0])
    assert deleted["deleted"] == {"field": "deleted", "old": False, "new": True}
    assert deleted["content"]["withheld"] is True
    assert [set(changes_of(r)) for r in rows[3:5]] == [{f"members.{w.dan.id}"},
                                                       {f"members.{w.bob.id}"}]
    left = changes_of(rows[2])
    assert set(left) == {f"members.{w.dan.id}"} and left[f"members.{w.dan.id}"]["new"] is None
    # Posting is the conversation, not the log; it is in the activity.
    assert page(client, w.ann, f"{w.o}/activity", action="message.posted",
                entity_id=w.message)
    # Every member of the organization who sees the channel reads its log.
    assert walk(client, w.cid, f"{w.o}/channels/{w.team_channel}/communication-log") == [
        {**r, "client_ip": None, "user_agent": None} for r in rows]


def test_the_communication_log_is_404_for_a_client_and_those_who_cannot_see_the_channel(
    client: TestClient, world: World,
) -> None:
    w = world
    assert is_problem(read(client, w.carl, f"{w.o}/channels/{w.team_channel}/communication-log",
                           w.position), 404)
    assert is_problem(read(client, w.cid, f"{w.o}/channels/{w.direct}/communication-log"), 404)
    # A project channel, for a Contributor outside the project.
    channel = new_channel(client, w.ann, w.org, kind="project", name="plan",
                          project_id=w.project)
    url = f"{w.o}/channels/{channel['id']}/communication-log"
    assert [r["action"] for r in page(client, w.bob, url, channel["position"])] == [
        "channel.created"]
    assert is_problem(read(client, w.cid, url), 404)
    # Ids of another kind or organization.
    for wrong in (w.task, w.message, str(uuid.uuid4())):
        assert is_problem(read(client, w.ann, f"{w.o}/channels/{wrong}/communication-log"),
                          404)
    assert is_problem(read(client, w.olga, f"{org_url(w.other_org)}/channels/"
                                          f"{w.team_channel}/communication-log"), 404)


# --- my activity -------------------------------------------------------------------------------

def test_my_activity_is_my_own_across_organizations(client: TestClient) -> None:
    ann, bob = register(client, "Ann"), register(client, "Bob")
    first, second = (new_organization(client, ann)["id"] for _ in range(2))
    for org in (first, second):
        add_member(client, ann, org, bob, "Manager")
    made = [add_client_project(client, who, org, None) for who, org in
            ((bob, first), (bob, second), (ann, first), (ann, second))]
    renamed = ok(client.patch("/v1/me", json={"name": "Bob Renamed"}, headers=bob.headers))
    mine = walk(client, bob, "/v1/me/activity", renamed["position"], limit=2)
    assert all(r["actor_id"] == bob.id for r in mine)
    assert {r["organization_id"] for r in mine} == {first, second, None}
    assert {made[0]["id"], made[1]["id"]} <= {r["entity_id"] for r in mine}
    assert not {made[2]["id"], made[3]["id"]} & {r["entity_id"] for r in mine}
    assert mine[0]["action"] == "user.profile_updated"
    positions = [r["position"] for r in mine]
    assert positions == sorted(positions, reverse=True) and len(set(positions)) == len(mine)
    # Ann's activity is hers.
    assert all(r["actor_id"] == ann.id for r in walk(client, ann, "/v1/me/activity"))
    # Someone new has done nothing but register.
    assert [r["action"] for r in page(client, register(client, "New"), "/v1/me/activity")
            ] == ["user.registered"]


# --- export ------------------------------------------------------------------------------------

def export(client: TestClient, who: Person, org: str, position: int | None = None,
           **params: Any) -> Any:
    return read(client, who, f"{org_url(org)}/activity/export", position, **params)


def test_the_export_is_json_lines_for_organizers(
    client: TestClient, world: World, everything: list[dict[str, Any]],
) -> None:
    r = export(client, world.ann, world.org, world.position)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/x-ndjson")
    assert "attachment" in r.headers["content-disposition"]
    assert r.text.endswith("\n")
    rows = [json.loads(line) for line in r.text.splitlines()]
    for row in rows:
        ENTRY.validate_python(row, strict=False)
        assert set(row) == set(ActivityEntry.model_fields)
    # Oldest first; what the Organizer sees in the organization's activity (at least:
    # later tests of this module may add rows).
    positions = [row["position"] for row in rows]
    assert positions == sorted(positions)
    by_position = {row["position"]: row for row in rows}
    for row in everything:
        assert by_position[row["position"]] == row
    assert all(row["organization_id"] == world.org for row in rows)


def test_the_export_filters_by_time(client: TestClient, world: World,
                                    everything: list[dict[str, Any]]) -> None:
    times = sorted({datetime.fromisoformat(r["occurred_at"]) for r in everything})
    since, until = times[2], times[-3]
    expected = sorted(r["position"] for r in everything
                      if since <= datetime.fromisoformat(r["occurred_at"]) < until)
    zone = timezone(timedelta(hours=5, minutes=30))
    r = export(client, world.ann, world.org, since=since.astimezone(zone).isoformat(),
               until=until.isoformat())
    assert r.status_code == 200, r.text
    assert [json.loads(line)["position"] for line in r.text.splitlines()] == expected
    assert is_problem(export(client, world.ann, world.org, since="2026-01-05T09:30:00"), 422)
    r = export(client, world.ann, world.org, since=until.isoformat(), until=since.isoformat())
    assert r.status_code == 200 and r.text == ""


def test_the_export_is_forbidden_to_other_roles_and_404_to_outsiders(
    client: TestClient, world: World,
) -> None:
    for who in (world.mia, world.bob, world.cid):
        r = export(client, who, world.org, world.position)
        assert is_problem(r, 403), (who.name, r.status_code, r.text)
    # A portal user and an outsider: not found, like every internal read.
    assert is_problem(export(client, world.carl, world.org, world.position), 404)
    assert is_problem(export(client, world.olga, world.org), 404)
    assert is_problem(client.get(f"{world.o}/activity/export"), 401)


# --- histories per kind ------------------------------------------------------------------------

KINDS = {"projects": "project", "tasks": "task", "channels": "team_channel",
         "messages": "message", "time-logs": "time_log", "clients": "acme",
         "proposals": "proposal", "feedback": "feedback"}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_history_is_404_for_an_id_of_another_kind_or_organization(
    client: TestClient, world: World, kind: str,
) -> None:
    w = world
    own = getattr(w, KINDS[kind])
    rows = walk(client, w.ann, f"{w.o}/{kind}/{own}/history", w.position, limit=2)
    assert rows and all(r["entity_id"] == own for r in rows)
    assert [r["entity_version"] for r in rows] == list(range(len(rows), 0, -1))
    for other_kind, attribute in KINDS.items():
        if other_kind == kind:
            continue
        r = read(client, w.ann, f"{w.o}/{kind}/{getattr(w, attribute)}/history")
        assert is_problem(r, 404), (kind, other_kind, r.text)
    assert is_problem(read(client, w.ann, f"{w.o}/{kind}/{uuid.uuid4()}/history"), 404)
    assert is_problem(read(client, w.ann, f"{w.o}/{kind}/not-a-uuid/history"), 422)
    # Another organization's record, asked for under an organization the caller is in.
    assert is_problem(read(client, w.olga, f"{org_url(w.other_org)}/{kind}/{own}/history"),
                      404)


def test_a_record_is_not_found_under_another_organization_of_the_same_organizer(
    client: TestClient, world: World,
) -> None:
    # Olga organizes her own organization; Ann's records are not there.
    r = read(client, world.olga, f"{org_url(world.other_org)}/tasks/{world.olga_task}/history",
             world.position)
    assert r.status_code == 200 and len(r.json()["items"]) == 1
    ann_second = new_organization(client, world.ann)["id"]
    for url in (f"{org_url(ann_second)}/tasks/{world.task}/history",
                f"{org_url(ann_second)}/projects/{world.project}/history"):
        assert is_problem(read(client, world.ann, url), 404)
    assert page(client, world.ann, f"{org_url(ann_second)}/activity",
                entity_id=world.task) == []
    assert [r["action"] for r in page(client, world.ann, f"{world.o}/history")][-1] == \
        "organization.created"


# --- hostile --------------------------------------------------------------------------------

def test_huge_and_odd_query_strings_are_no_server_error(client: TestClient,
                                                        world: World) -> None:
    o = world.o
    raw = [
        f"{o}/activity?limit=99999999999999999999999999999999",
        f"{o}/activity?correlation_id=%ED%A0%80",  # a lone surrogate, as WTF-8
        f"{o}/activity?correlation_id=%00",
        f"{o}/activity?entity_type=%00",
        f"{o}/activity?action=task.status_changed%00",
        f"{o}/activity?since=2026-01-05T09:30:00%2B05:30%00",
        f"{o}/activity?since=2026-01-05T09:30:00+05:30",  # "+" is a space in a query
        f"{o}/activity?cursor=%FF%FE",
        f"{o}/activity?entity_id=%F0%9F%98%80",
        f"{o}/activity?since=" + "9" * 5000,
        f"{o}/activity?correlation_id=" + "a" * 20000,
        "/v1/me/activity?limit=0",
        f"{o}/tasks/{world.task}/history?limit=1000",
        f"{o}/activity/export?since=%00",
    ]
    for url in raw:
        r = client.get(url, headers=world.ann.headers)
        assert 400 <= r.status_code < 500, (url, r.status_code, r.text[:300])
        assert r.headers["content-type"].startswith("application/problem+json"), url
    # Repeated parameters: one of them wins (or a 422), never a mix of both answers.
    r = client.get(f"{o}/activity?limit=1&limit=2", headers=world.ann.headers)
    assert r.status_code in (200, 422) and len(r.json().get("items", [])) <= 2
    r = client.get(f"{o}/activity?actor_id={world.ann.id}&actor_id={world.bob.id}&limit=200",
                   headers=world.ann.headers)
    assert r.status_code == 422 or len({row["actor_id"] for row in r.json()["items"]}) == 1
    r = client.get(f"{o}/activity?correlation_id={world.correlation}&correlation_id=x",
                   headers=world.ann.headers)
    assert r.status_code == 200 and all(
        row["correlation_id"] in (world.correlation, "x") for row in r.json()["items"])


def test_an_unreachable_min_position_is_a_problem_or_an_inconsistent_answer(
    client: TestClient, world: World,
) -> None:
    for value in ("99999999999999999999999999", "-1", "1e3", "NaN"):
        r = client.get(f"{world.o}/activity", params={"limit": 1},
                       headers={**world.ann.headers, "X-Min-Position": value})
        assert r.status_code < 500, (value, r.status_code, r.text)
        if r.status_code == 200:
            assert r.headers.get("x-consistent") == "false", value


def test_fifty_concurrent_readers_get_the_same_answers(
    client: TestClient, world: World, everything: list[dict[str, Any]],
) -> None:
    who = [world.ann, world.bob, world.cid, world.carl, world.mia]
    expected = {p.id: page(client, p, f"{world.o}/activity", limit=200) for p in who}

    def reader(index: int) -> tuple[str, int, Any]:
        person = who[index % len(who)]
        r = client.get(f"{world.o}/activity", params={"limit": 200},
                       headers=person.headers)
        return person.id, r.status_code, r.json()

    outcomes = race([functools.partial(reader, i) for i in range(50)])
    for outcome in outcomes:
        assert isinstance(outcome, tuple), outcome
        person_id, status, body = outcome
        assert status == 200, body
        # Rows written by this module's later tests are newer: compare the common part.
        seen = [r for r in body["items"] if r["position"] <= world.position]
        assert seen == [r for r in expected[person_id] if r["position"] <= world.position]


def test_no_activity_answer_mentions_an_id_the_reader_may_not_know(
    client: TestClient, world: World,
) -> None:
    # Dan (Contributor on the project) never meets the direct channel, Bob's time log,
    # the proposal, or Olga's organization.
    w = world
    for url in (f"{w.o}/activity", "/v1/me/activity"):
        r = read(client, w.dan, url, w.position, limit=200)
        found = set(UUID_TEXT.findall(r.text))
        assert not found & {w.direct, w.time_log, w.proposal, w.other_org, w.olga.id,
                            w.olga_task}, url


# --- what the record's own routes hide, the timeline hides too ---------------------------------

def test_a_client_portal_user_never_sees_the_projects_member_list(client: TestClient) -> None:
    # The portal does not list a project's members (GET .../members is 404 for it):
    # someone added to the project who did nothing the portal shows stays unknown to it.
    ann, quiet = register(client, "Ann"), register(client, "Quiet")
    org = new_organization(client, ann)["id"]
    add_member(client, ann, org, quiet, "Contributor")
    acme = add_client(client, ann, org, "Acme")["id"]
    carl, _ = add_portal_user(client, ann, org, acme, "Carl")
    project = add_client_project(client, ann, org, acme)["id"]
    joined = ok(client.post(f"{org_url(org)}/projects/{project}/members",
                            json={"user_id": quiet.id, "role": "Member"}, headers=ann.headers))
    assert is_problem(read(client, carl, f"{org_url(org)}/projects/{project}/members",
                           joined["position"]), 404)
    r = read(client, carl, f"{org_url(org)}/activity", joined["position"], limit=200)
    assert r.status_code == 200 and r.json()["items"], r.text
    assert quiet.id not in r.text


def test_feedback_on_no_project_is_hidden_from_contributors(client: TestClient,
                                                            world: World) -> None:
    # GET .../feedback/{id} answers 404 to a Contributor for feedback on no project
    # (api/routes/client_feedback.py _may_see); its history must too.
    w = world
    made = ok(client.post(f"{w.o}/clients/{w.acme}/feedback",
                          json={"rating": 1, "comment": "no project"}, headers=w.carl.headers))
    assert is_problem(read(client, w.bob, f"{w.o}/feedback/{made['id']}", made["position"]),
                      404)
    assert is_problem(read(client, w.bob, f"{w.o}/feedback/{made['id']}/history"), 404)
    rows = activity(client, w.bob, w.org)
    assert made["id"] not in json.dumps(rows)
    assert [r["action"] for r in page(client, w.ann, f"{w.o}/feedback/{made['id']}/history")
            ] == ["client_feedback.created"]


def test_contributors_see_no_trace_of_proposals(client: TestClient, world: World) -> None:
    # Proposals are for those who manage clients; the client's own rows about them
    # (client.proposal_opened, client.proposal_sent) tell when a proposal was made, by
    # whom, under which correlation: as hidden as the proposal itself.
    w = world
    for who in (w.bob, w.dan, w.cid):
        actions = {r["action"] for r in activity(client, who, w.org, w.position)}
        assert not {a for a in actions if "proposal" in a}, (who.name, actions)
    staff = {r["action"] for r in activity(client, w.mia, w.org, w.position)}
    assert {"client.proposal_opened", "client.proposal_sent"} <= staff


def test_every_correlation_id_the_api_stores_can_be_filtered_by(client: TestClient,
                                                                 world: World) -> None:
    # A correlation id is taken from the X-Correlation-ID header as sent (cut to 200
    # characters); whatever is stored must be findable with the correlation_id filter.
    w = world
    for sent in (b"  spaced out  ", b"x" * 300):
        made = ok(client.post(f"{w.o}/projects/{w.project}/tasks", json={"title": "Corr"},
                              headers={**w.ann.headers, "X-Correlation-ID": sent}))
        row = page(client, w.ann, f"{w.o}/tasks/{made['id']}/history", made["position"])[0]
        stored = row["correlation_id"]
        assert stored, sent
        r = read(client, w.ann, f"{w.o}/activity", correlation_id=stored)
        assert r.status_code == 200, (sent, stored, r.text)
        assert [x["entity_id"] for x in r.json()["items"]] == [made["id"]]


def test_a_correlation_id_that_is_not_printable_ascii_is_refused(client: TestClient,
                                                                  world: World) -> None:
    # Headers arrive as Latin-1: "café" would be stored garbled and never found again.
    w = world
    r = client.post(f"{w.o}/projects/{w.project}/tasks", json={"title": "Corr"},
                    headers={**w.ann.headers, "X-Correlation-ID": "caf\u00e9".encode()})
    assert r.status_code == 400
    assert r.json()["type"].endswith("invalid-correlation-id")
    assert "X-Log-Position" not in r.headers  # nothing was appended


def test_account_rows_are_never_organization_activity(client: TestClient,
                                                      world: World) -> None:
    for who in (world.ann, world.bob):
        assert page(client, who, f"{world.o}/activity", world.position,
                    entity_type="user") == []
        assert page(client, who, f"{world.o}/activity",
                    action="user.profile_updated") == []


def test_a_portal_user_loses_the_projects_activity_when_the_link_or_access_ends(
    client: TestClient,
) -> None:
    ann = register(client, "Ann")
    org = new_organization(client, ann)["id"]
    o = org_url(org)
    acme = add_client(client, ann, org, "Acme")["id"]
    carl, _ = add_portal_user(client, ann, org, acme, "Carl")
    kept = add_client_project(client, ann, org, acme)
    unlinked = add_client_project(client, ann, org, acme)
    seen = {r["project_id"] for r in activity(client, carl, org, unlinked["position"])}
    assert seen == {kept["id"], unlinked["id"]}
    gone = ok(client.delete(f"{o}/projects/{unlinked['id']}/clients/{acme}",
                            headers=ann.headers))
    seen = {r["project_id"] for r in activity(client, carl, org, gone["position"])}
    assert seen == {kept["id"]}
    assert is_problem(read(client, carl, f"{o}/projects/{unlinked['id']}/history"), 404)
    # The client's portal closed: nothing at all.
    closed = ok(client.post(f"{o}/clients/{acme}/archive", headers=ann.headers))
    assert activity(client, carl, org, closed["position"]) == []
    assert is_problem(read(client, carl, f"{o}/projects/{kept['id']}/history"), 404)
