"""Time travel over HTTP: ``GET .../{kind}/{id}/state?as_of_version=N`` or ``?as_of=<time>``
for the six kinds of record, read with the caller's permissions now (a removed project
member, a Client portal user and an outsider get 404), and every malformed question
answered with a 4xx problem."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import (
    Person,
    add_client,
    add_client_project,
    add_member,
    add_portal_user,
    fresh,
    new_channel,
    new_organization,
    new_person,
)

# Commands a little apart, so the moment between two versions is a real instant apart
# from both (timestamps hold microseconds; this is far above the clock's resolution).
GAP_SECONDS = 0.02


@dataclass
class Record:
    """One record changed once: its state path, and the value of ``field`` at
    version ``first`` and at version ``second``."""

    kind: str
    entity_type: str
    id: str
    path: str
    field: str
    before: Any
    after: Any
    first: int
    second: int


@dataclass
class World:
    ann: Person  # Organizer
    bob: Person  # Contributor, member of the project
    carl: Person  # Client role, portal user of the client linked to the project
    olga: Person  # another organization's Organizer
    organization_id: str
    project_id: str
    task_id: str
    records: dict[str, Record] = field(default_factory=dict)
    position: int = 0

    def base(self) -> str:
        return f"/v1/organizations/{self.organization_id}"


def ok(r: Any) -> dict[str, Any]:
    assert r.status_code in (200, 201), r.text
    return dict(r.json())


def pause() -> None:
    time.sleep(GAP_SECONDS)


def state(client: TestClient, who: Person, path: str, position: int | None = None,
          **params: Any) -> Any:
    return client.get(f"{path}/state", params=params,
                      headers={**who.headers, **fresh(position)})


@pytest.fixture(scope="module")
def world(client: TestClient) -> World:
    """One record of each kind, each changed once after its creation."""
    ann, bob = new_person(client, "Ann"), new_person(client, "Bob")
    olga = new_person(client, "Olga")
    new_organization(client, olga)
    org = new_organization(client, ann)["id"]
    add_member(client, ann, org, bob, "Contributor")
    o = f"/v1/organizations/{org}"
    acme = add_client(client, ann, org, name=f"Acme {uuid.uuid4().hex[:6]}")
    carl, _ = add_portal_user(client, ann, org, acme["id"], "Carl")
    project = add_client_project(client, ann, org, acme["id"], name="Before")
    ok(client.post(f"{o}/projects/{project['id']}/members",
                   json={"user_id": bob.id, "role": "Member"}, headers=ann.headers))
    task = ok(client.post(f"{o}/projects/{project['id']}/tasks", json={"title": "Before"},
                          headers=ann.headers))
    channel = new_channel(client, ann, org, kind="team", name="before")
    time_log = ok(client.post(f"{o}/time-logs", json={
        "task_id": task["id"], "work_date": "2026-01-05", "hours": "2.50"},
        headers=bob.headers))
    org_before = ok(client.get(o, headers=ann.headers))
    world = World(ann, bob, carl, olga, org, project["id"], task["id"])

    def changed(kind: str, entity_type: str, ident: str, path: str, field_name: str,
                before: Any, after: Any, first: int, method: str, url: str,
                body: dict[str, Any], who: Person = ann) -> None:
        pause()
        answer = ok(client.request(method, url, json=body, headers=who.headers))
        world.position = max(world.position, answer["position"])
        world.records[kind] = Record(kind, entity_type, ident, path, field_name, before,
                                     after, first, answer["version"])

    changed("organizations", "organization", org, o, "name", org_before["name"], "After",
            org_before["version"], "PATCH", o, {"name": "After"})
    p = f"{o}/projects/{project['id']}"
    changed("projects", "project", project["id"], p, "name", "Before", "After",
            project["version"], "PATCH", p, {"name": "After"})
    t = f"{o}/tasks/{task['id']}"
    changed("tasks", "task", task["id"], t, "title", "Before", "After", task["version"],
            "PATCH", t, {"title": "After"})
    c = f"{o}/channels/{channel['id']}"
    changed("channels", "channel", channel["id"], c, "members",
            {ann.id: "owner"}, {ann.id: "owner", bob.id: "member"}, channel["version"],
            "POST", f"{c}/members", {"user_id": bob.id})
    tl = f"{o}/time-logs/{time_log['id']}"
    changed("time-logs", "time_log", time_log["id"], tl, "hours", "2.50", "3.25",
            time_log["version"], "PATCH", tl, {"hours": "3.25"}, who=bob)
    cl = f"{o}/clients/{acme['id']}"
    changed("clients", "client", acme["id"], cl, "name", acme_name(client, ann, cl),
            "Acme renamed", acme["version"], "PATCH", cl, {"name": "Acme renamed"})
    return world


def acme_name(client: TestClient, ann: Person, path: str) -> str:
    return str(ok(client.get(path, headers=ann.headers))["name"])


KINDS = ["organizations", "projects", "tasks", "channels", "time-logs", "clients"]


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_answers_the_version_asked_for_and_its_state(
    client: TestClient, world: World, kind: str,
) -> None:
    record = world.records[kind]
    first = state(client, world.ann, record.path, world.position,
                  as_of_version=record.first)
    second = state(client, world.ann, record.path, as_of_version=record.second)
    assert first.status_code == second.status_code == 200, (first.text, second.text)
    old, new = first.json(), second.json()
    assert (old["entity_type"], old["id"], old["version"]) == (
        record.entity_type, record.id, record.first)
    assert (new["entity_type"], new["id"], new["version"]) == (
        record.entity_type, record.id, record.second)
    # The answer says which version it is, in the ETag too.
    assert first.headers["etag"] == f'"{record.first}"'
    assert second.headers["etag"] == f'"{record.second}"'
    assert old["state"][record.field] == record.before
    assert new["state"][record.field] == record.after
    assert datetime.fromisoformat(old["recorded_at"]) < datetime.fromisoformat(
        new["recorded_at"])
    # The library's own bookkeeping is no part of the state.
    assert not any(key.startswith("_") for key in new["state"])


def test_a_moment_between_two_changes_answers_the_earlier_version(
    client: TestClient, world: World,
) -> None:
    record = world.records["tasks"]
    path = record.path
    v1 = ok(state(client, world.ann, path, world.position, as_of_version=record.first))
    v2 = ok(state(client, world.ann, path, as_of_version=record.second))
    t1 = datetime.fromisoformat(v1["recorded_at"])
    t2 = datetime.fromisoformat(v2["recorded_at"])
    assert t1.utcoffset() == timedelta(0)  # recorded in UTC
    between = t1 + (t2 - t1) / 2
    assert t1 < between < t2
    # The same instant with three offsets: the same version, the same state.
    for offset in (timedelta(0), timedelta(hours=5, minutes=30), timedelta(hours=-8)):
        written = between.astimezone(timezone(offset)).isoformat()
        answer = ok(state(client, world.ann, path, as_of=written))
        assert (answer["version"], answer["state"]) == (record.first, v1["state"]), written
    # Inclusive: a version recorded exactly at the moment is the answer.
    assert ok(state(client, world.ann, path, as_of=t2.isoformat()))["version"] == record.second
    assert ok(state(client, world.ann, path, as_of=t1.isoformat()))["version"] == record.first
    # A moment long after the last change answers the latest version.
    later = (t2 + timedelta(days=3650)).isoformat()
    assert ok(state(client, world.ann, path, as_of=later))["version"] == record.second
    # Before its creation, the task did not exist yet.
    before = state(client, world.ann, path, as_of=(t1 - timedelta(microseconds=1)).isoformat())
    assert before.status_code == 404, before.text
    assert "did not exist yet" in before.json()["detail"]


def test_a_removed_project_member_no_longer_reads_the_projects_past(
    client: TestClient, world: World,
) -> None:
    ann, dave = world.ann, new_person(client, "Dave")
    o = world.base()
    add_member(client, ann, world.organization_id, dave, "Contributor")
    project = ok(client.post(f"{o}/projects", json={"name": "Secret"}, headers=ann.headers))
    p = f"{o}/projects/{project['id']}"
    joined = ok(client.post(f"{p}/members", json={"user_id": dave.id, "role": "Member"},
                            headers=ann.headers))
    task = ok(client.post(f"{p}/tasks", json={"title": "Hidden"}, headers=ann.headers))
    t = f"{o}/tasks/{task['id']}"
    assert state(client, dave, p, task["position"], as_of_version=1).status_code == 200
    assert state(client, dave, t, as_of_version=1).status_code == 200
    left = ok(client.delete(f"{p}/members/{dave.id}", headers=ann.headers))
    # Version 1 was created while he was a member; he may not read it now.
    for path, version in ((p, 1), (p, joined["version"]), (t, 1)):
        r = state(client, dave, path, left["position"], as_of_version=version)
        assert r.status_code == 404, r.text
    r = state(client, dave, p, as_of=datetime.now(UTC).isoformat())
    assert r.status_code == 404, r.text


@pytest.mark.parametrize("kind", KINDS)
def test_a_client_portal_user_reads_no_past_even_of_their_own_client_and_project(
    client: TestClient, world: World, kind: str,
) -> None:
    record = world.records[kind]
    # The portal user reads the current project and client through their own routes...
    if kind in ("projects", "clients"):
        r = client.get(record.path, headers={**world.carl.headers, **fresh(world.position)})
        assert r.status_code == 200, r.text
    # ...but never a record's state, which holds internal fields (members, other clients).
    r = state(client, world.carl, record.path, world.position, as_of_version=1)
    assert r.status_code == 404, r.text
    assert r.json()["type"].endswith("/not-found")


@pytest.mark.parametrize("kind", KINDS)
def test_an_outsider_gets_404_for_every_kind(client: TestClient, world: World,
                                             kind: str) -> None:
    record = world.records[kind]
    r = state(client, world.olga, record.path, world.position, as_of_version=1)
    assert r.status_code == 404, r.text


def test_a_time_log_is_read_by_its_author_and_the_organizers_only(
    client: TestClient, world: World,
) -> None:
    record = world.records["time-logs"]  # logged by Bob
    erin = new_person(client, "Erin")
    joined = add_member(client, world.ann, world.organization_id, erin, "Contributor")
    assert state(client, world.bob, record.path, world.position,
                 as_of_version=1).status_code == 200
    assert state(client, world.ann, record.path, as_of_version=1).status_code == 200
    assert state(client, erin, record.path, joined["position"],
                 as_of_version=1).status_code == 404


def test_a_contributor_reads_the_past_of_what_they_may_read_now(
    client: TestClient, world: World,
) -> None:
    # Bob, a Contributor and member of the project, reads clients (every client), his
    # project, its tasks, the organization and a team channel he was added to.
    for kind in KINDS:
        record = world.records[kind]
        r = state(client, world.bob, record.path, world.position, as_of_version=record.second)
        assert r.status_code == 200, (kind, r.text)
        assert r.json()["version"] == record.second


def test_an_id_of_another_kind_or_organization_is_not_found(
    client: TestClient, world: World,
) -> None:
    o = world.base()
    task, project = world.records["tasks"], world.records["projects"]
    # A task's id on the projects' path, a project's on the tasks' path, a client's on
    # the channels' path.
    for path in (f"{o}/projects/{task.id}", f"{o}/tasks/{project.id}",
                 f"{o}/channels/{world.records['clients'].id}"):
        r = state(client, world.ann, path, world.position, as_of_version=1)
        assert r.status_code == 404, (path, r.text)
    # Ann founds a second organization: its path with the first one's records.
    other = new_organization(client, world.ann)
    elsewhere = f"/v1/organizations/{other['id']}"
    for kind, record in world.records.items():
        if kind == "organizations":
            continue
        path = record.path.replace(o, elsewhere)
        r = state(client, world.ann, path, other["position"], as_of_version=1)
        assert r.status_code == 404, (path, r.text)


@pytest.mark.parametrize(("params", "status", "field"), [
    ({}, 422, "as_of_version"),
    ({"as_of_version": 1, "as_of": "2026-01-05T09:30:00Z"}, 422, "as_of"),
    ({"as_of": "2026-01-05T09:30:00"}, 422, "as_of"),  # no offset: no instant
    ({"as_of": "2026-01-05"}, 422, "as_of"),
    ({"as_of": "2026-13-05T09:30:00Z"}, 422, "as_of"),
    ({"as_of": "2026-01-05T09:30:00+24:00"}, 422, "as_of"),
    ({"as_of": "1767605400"}, 422, "as_of"),  # a Unix time is no RFC 3339 time
    ({"as_of": "NaN"}, 422, "as_of"),
    ({"as_of_version": 0}, 422, "as_of_version"),
    ({"as_of_version": -1}, 422, "as_of_version"),
    ({"as_of_version": "NaN"}, 422, "as_of_version"),
    ({"as_of_version": "1.5"}, 422, "as_of_version"),
    ({"as_of_version": str(10**30)}, 422, "as_of_version"),
    ({"as_of_version": str(2**63 - 1)}, 404, "as_of_version"),  # never recorded
    ({"as_of_version": 1000}, 404, "as_of_version"),
])
def test_bad_questions_get_a_problem(client: TestClient, world: World, params: dict[str, Any],
                                     status: int, field: str) -> None:
    for kind in ("tasks", "organizations"):
        r = state(client, world.ann, world.records[kind].path, world.position, **params)
        assert r.status_code == status, (kind, params, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        problem = r.json()
        assert problem["detail"], problem
        fields = {problem.get("field")} | {e["field"] for e in problem.get("errors") or []}
        assert field in fields, problem


def test_the_version_past_the_latest_says_which_is_the_latest(
    client: TestClient, world: World,
) -> None:
    record = world.records["projects"]
    r = state(client, world.ann, record.path, world.position, as_of_version=record.second + 1)
    assert r.status_code == 404, r.text
    assert f"latest version is {record.second}" in r.json()["detail"]


def test_a_leap_second_and_lower_case_separators_are_rfc_3339_times(
    client: TestClient, world: World,
) -> None:
    record = world.records["tasks"]
    for moment in ("2999-12-31t23:59:60z", "2999-12-31T23:59:60+00:00"):
        r = state(client, world.ann, record.path, world.position, as_of=moment)
        assert r.status_code == 200, (moment, r.text)
        assert r.json()["version"] == record.second


def test_without_a_token_the_answer_is_401(client: TestClient, world: World) -> None:
    r = client.get(f"{world.records['tasks'].path}/state", params={"as_of_version": 1})
    assert r.status_code == 401, r.text
