from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient

from api.routes.timelogs import TimeLogView
from tests.helpers import Person, add_member, fresh, new_organization, new_person


def new_project(client: TestClient, owner: Person, org_id: str) -> str:
    r = client.post(f"/v1/organizations/{org_id}/projects",
                    json={"name": f"P {uuid.uuid4().hex[:8]}"}, headers=owner.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def new_task(client: TestClient, owner: Person, org_id: str, project_id: str) -> str:
    r = client.post(f"/v1/organizations/{org_id}/projects/{project_id}/tasks",
                    json={"title": f"T {uuid.uuid4().hex[:8]}"}, headers=owner.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def join_project(client: TestClient, owner: Person, org_id: str, project_id: str,
                 person: Person, role: str = "Member") -> None:
    r = client.post(f"/v1/organizations/{org_id}/projects/{project_id}/members",
                    json={"user_id": person.id, "role": role}, headers=owner.headers)
    assert r.status_code == 201, r.text


def log(client: TestClient, person: Person, org_id: str, task_id: str, work_date: str,
        hours: Any, **extra: Any) -> Any:
    return client.post(f"/v1/organizations/{org_id}/time-logs",
                       json={"task_id": task_id, "work_date": work_date, "hours": hours,
                             **extra}, headers=person.headers)


def logged(client: TestClient, person: Person, org_id: str, task_id: str, work_date: str,
           hours: Any) -> dict[str, Any]:
    r = log(client, person, org_id, task_id, work_date, hours, description="work")
    assert r.status_code == 201, r.text
    return dict(r.json())


def project_totals(client: TestClient, person: Person, org_id: str, project_id: str,
                   position: int) -> tuple[str, dict[str, str]]:
    r = client.get(f"/v1/organizations/{org_id}/time-totals/projects/{project_id}",
                   headers={**person.headers, **fresh(position)})
    assert r.status_code == 200, r.text
    assert r.headers["x-consistent"] == "true"
    body = r.json()
    return body["hours"], {t["task_id"]: t["hours"] for t in body["tasks"]}


def person_days(client: TestClient, caller: Person, org_id: str, person_id: str,
                position: int, date_from: str = "2024-01-01",
                date_to: str = "2024-12-31") -> dict[str, str]:
    r = client.get(f"/v1/organizations/{org_id}/time-totals/people/{person_id}",
                   params={"from": date_from, "to": date_to},
                   headers={**caller.headers, **fresh(position)})
    assert r.status_code == 200, r.text
    return {d["work_date"]: d["hours"] for d in r.json()["days"]}


def test_log_edit_move_delete_keeps_totals_right(client: TestClient) -> None:
    ann = new_person(client, "Ann")
    org = new_organization(client, ann)["id"]
    project = new_project(client, ann, org)
    t1, t2 = new_task(client, ann, org, project), new_task(client, ann, org, project)

    a = logged(client, ann, org, t1, "2024-03-04", 3)
    b = logged(client, ann, org, t2, "2024-03-04", "2.5")
    c = logged(client, ann, org, t1, "2024-03-05", 4)
    assert a["version"] == 1
    assert project_totals(client, ann, org, project, c["position"]) == (
        "9.50", {t1: "7.00", t2: "2.50"})
    assert person_days(client, ann, org, ann.id, c["position"]) == {
        "2024-03-04": "5.50", "2024-03-05": "4.00"}

    r = client.patch(f"/v1/organizations/{org}/time-logs/{a['id']}", json={"hours": 5},
                     headers={**ann.headers, "If-Match": '"1"'})
    assert r.status_code == 200 and r.headers["etag"] == '"2"', r.text
    r = client.patch(f"/v1/organizations/{org}/time-logs/{b['id']}",
                     json={"work_date": "2024-03-05", "description": None},
                     headers=ann.headers)
    assert r.status_code == 200, r.text
    position = r.json()["position"]
    assert project_totals(client, ann, org, project, position) == (
        "11.50", {t1: "9.00", t2: "2.50"})
    assert person_days(client, ann, org, ann.id, position) == {
        "2024-03-04": "5.00", "2024-03-05": "6.50"}

    r = client.delete(f"/v1/organizations/{org}/time-logs/{c['id']}", headers=ann.headers)
    assert r.status_code == 200, r.text
    position = r.json()["position"]
    assert project_totals(client, ann, org, project, position) == (
        "7.50", {t1: "5.00", t2: "2.50"})
    assert person_days(client, ann, org, ann.id, position) == {
        "2024-03-04": "5.00", "2024-03-05": "2.50"}

    r = client.get(f"/v1/organizations/{org}/time-logs",
                   headers={**ann.headers, **fresh(position)})
    items = r.json()["items"]
    assert [(i["id"], i["work_date"], i["hours"]) for i in items] == sorted(
        [(b["id"], "2024-03-05", "2.50"), (a["id"], "2024-03-04", "5.00")],
        key=lambda i: (i[1], i[0]), reverse=True)
    assert next(i for i in items if i["id"] == b["id"])["description"] is None

    r = client.patch(f"/v1/organizations/{org}/time-logs/{c['id']}", json={"hours": 1},
                     headers=ann.headers)
    assert r.status_code == 404  # deleted


def test_more_than_24_hours_a_day_is_refused(client: TestClient) -> None:
    ann = new_person(client, "Ann")
    org = new_organization(client, ann)["id"]
    project = new_project(client, ann, org)
    task = new_task(client, ann, org, project)

    first = logged(client, ann, org, task, "2024-06-01", 20)
    r = log(client, ann, org, task, "2024-06-01", "4.01")
    assert r.status_code == 409
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["type"].endswith("daily-limit-exceeded")
    assert "2024-06-01" in problem["detail"] and "4.00" in problem["detail"]
    logged(client, ann, org, task, "2024-06-01", 4)  # exactly 24 is fine

    other = logged(client, ann, org, task, "2024-06-02", 1)
    r = client.patch(f"/v1/organizations/{org}/time-logs/{other['id']}",
                     json={"work_date": "2024-06-01"}, headers=ann.headers)
    assert r.status_code == 409  # moving into a full day
    r = client.patch(f"/v1/organizations/{org}/time-logs/{first['id']}",
                     json={"hours": "20.5"}, headers=ann.headers)
    assert r.status_code == 409  # growing within a full day
    r = client.delete(f"/v1/organizations/{org}/time-logs/{first['id']}", headers=ann.headers)
    assert r.status_code == 200
    r = client.patch(f"/v1/organizations/{org}/time-logs/{other['id']}",
                     json={"work_date": "2024-06-01"}, headers=ann.headers)
    assert r.status_code == 200, r.text
    assert person_days(client, ann, org, ann.id, r.json()["position"]) == {"2024-06-01": "5.00"}


def test_bad_hours_and_bodies_are_422_and_write_nothing(client: TestClient) -> None:
    ann = new_person(client, "Ann")
    org = new_organization(client, ann)["id"]
    project = new_project(client, ann, org)
    task = new_task(client, ann, org, project)
    for hours in (0, -1, 25, "24.01", "1.234", "abc", None, "NaN"):
        r = log(client, ann, org, task, "2024-07-01", hours)
        assert r.status_code == 422, (hours, r.text)
        assert "hours" in r.text
    assert log(client, ann, org, task, "2024-13-01", 1).status_code == 422
    assert log(client, ann, org, task, "2024-07-01", 1, colour="red").status_code == 422
    assert log(client, ann, org, task, "2024-07-01", 1,
               description="x" * 2001).status_code == 422
    assert log(client, ann, org, str(uuid.uuid4()), "2024-07-01", 1).status_code == 404
    good = logged(client, ann, org, task, "2024-07-02", 1)
    r = client.patch(f"/v1/organizations/{org}/time-logs/{good['id']}", json={"hours": None},
                     headers=ann.headers)
    assert r.status_code == 422
    r = client.get(f"/v1/organizations/{org}/time-logs",
                   headers={**ann.headers, **fresh(good["position"])})
    assert [i["id"] for i in r.json()["items"]] == [good["id"]]


def test_only_the_person_changes_their_log(client: TestClient) -> None:
    ann, bob, eve = new_person(client, "Ann"), new_person(client, "Bob"), new_person(client, "Eve")
    org = new_organization(client, ann)["id"]
    add_member(client, ann, org, bob, "Contributor")
    project = new_project(client, ann, org)
    join_project(client, ann, org, project, bob)
    task = new_task(client, ann, org, project)
    mine = logged(client, ann, org, task, "2024-08-01", 2)
    url = f"/v1/organizations/{org}/time-logs/{mine['id']}"

    r = client.patch(url, json={"hours": 3}, headers=bob.headers)
    assert r.status_code == 403, r.text
    assert client.delete(url, headers=bob.headers).status_code == 403
    assert client.patch(url, json={"hours": 3}, headers=eve.headers).status_code == 404
    assert client.delete(url, headers=eve.headers).status_code == 404
    r = client.get(f"/v1/organizations/{org}/time-logs", params={"user_id": ann.id},
                   headers=bob.headers)
    assert r.status_code == 403
    r = client.get(f"/v1/organizations/{org}/time-totals/people/{ann.id}",
                   params={"from": "2024-08-01", "to": "2024-08-01"}, headers=bob.headers)
    assert r.status_code == 403

    theirs = logged(client, bob, org, task, "2024-08-01", 3)
    r = client.get(f"/v1/organizations/{org}/time-logs", params={"user_id": bob.id},
                   headers={**ann.headers, **fresh(theirs["position"])})
    assert r.status_code == 200 and [i["id"] for i in r.json()["items"]] == [theirs["id"]]
    assert person_days(client, ann, org, bob.id, theirs["position"]) == {"2024-08-01": "3.00"}
    assert project_totals(client, bob, org, project, theirs["position"])[0] == "5.00"
    r = client.get(f"/v1/organizations/{org}/time-totals/projects/{project}",
                   headers=eve.headers)
    assert r.status_code == 404


def test_who_may_log_time(client: TestClient) -> None:
    ann, cat, dan = new_person(client, "Ann"), new_person(client, "Cat"), new_person(client, "Dan")
    org = new_organization(client, ann)["id"]
    add_member(client, ann, org, cat, "Client")
    add_member(client, ann, org, dan, "Contributor")
    project = new_project(client, ann, org)
    task = new_task(client, ann, org, project)
    assert log(client, cat, org, task, "2024-08-01", 1).status_code == 403
    # A contributor outside the project does not see its tasks.
    assert log(client, dan, org, task, "2024-08-01", 1).status_code == 404
    join_project(client, ann, org, project, dan, "Viewer")
    assert log(client, dan, org, task, "2024-08-01", 1).status_code == 403


def test_list_filters_and_cursor_pagination(client: TestClient) -> None:
    ann = new_person(client, "Ann")
    org = new_organization(client, ann)["id"]
    p1, p2 = new_project(client, ann, org), new_project(client, ann, org)
    t1, t2 = new_task(client, ann, org, p1), new_task(client, ann, org, p2)
    made = [logged(client, ann, org, t1 if i % 2 else t2, f"2024-09-{1 + i // 2:02d}", 1)
            for i in range(7)]
    position = made[-1]["position"]
    base = f"/v1/organizations/{org}/time-logs"
    headers = {**ann.headers, **fresh(position)}

    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        body = client.get(base, params=params, headers=headers).json()
        seen += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 7
    keys = [(i["work_date"], i["id"]) for i in seen]
    assert keys == sorted(keys, reverse=True)

    r = client.get(base, params={"from": "2024-09-02", "to": "2024-09-03"}, headers=headers)
    assert {i["work_date"] for i in r.json()["items"]} == {"2024-09-02", "2024-09-03"}
    assert len(r.json()["items"]) == 4
    r = client.get(base, params={"project_id": p1}, headers=headers)
    assert {i["project_id"] for i in r.json()["items"]} == {p1}
    assert len(r.json()["items"]) == 3
    assert client.get(base, params={"cursor": "nonsense"}, headers=headers).status_code == 400
    # A range that ends before it starts holds nothing (each date is valid alone: no 422).
    r = client.get(base, params={"from": "2024-09-03", "to": "2024-09-01"}, headers=headers)
    assert r.status_code == 200 and r.json()["items"] == []

    people = f"/v1/organizations/{org}/time-totals/people/{ann.id}"
    # Any span: only days with hours are listed, so the answer is bounded by the data.
    r = client.get(people, params={"from": "1900-01-01", "to": "2999-12-31"},
                   headers={**headers, **fresh(position)})
    assert r.status_code == 200 and len(r.json()["days"]) == 4, r.text
    assert client.get(people, params={"from": "2024-01-01"}, headers=headers).status_code == 422
    assert person_days(client, ann, org, ann.id, position, "2024-09-02", "2024-09-03") == {
        "2024-09-02": "2.00", "2024-09-03": "2.00"}


def test_idempotent_log_appends_once(client: TestClient) -> None:
    ann = new_person(client, "Ann")
    org = new_organization(client, ann)["id"]
    project = new_project(client, ann, org)
    task = new_task(client, ann, org, project)
    body = {"task_id": task, "work_date": "2024-10-01", "hours": 8}
    headers = {**ann.headers, "Idempotency-Key": "log-once"}
    first = client.post(f"/v1/organizations/{org}/time-logs", json=body, headers=headers)
    again = client.post(f"/v1/organizations/{org}/time-logs", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    # The replay names the same log and version (its position may be that of the
    # TimeLog's own event rather than the ledger's, which the totals do not need).
    assert (first.json()["id"], first.json()["version"]) == (again.json()["id"],
                                                             again.json()["version"])
    assert person_days(client, ann, org, ann.id, again.json()["position"]) == {
        "2024-10-01": "8.00"}


def test_a_task_whose_last_log_is_deleted_has_no_total_left(client: TestClient) -> None:
    ann = new_person(client, "Ann")
    org = new_organization(client, ann)["id"]
    project = new_project(client, ann, org)
    t1, t2 = new_task(client, ann, org, project), new_task(client, ann, org, project)
    a = logged(client, ann, org, t1, "2024-05-06", "1.25")
    logged(client, ann, org, t2, "2024-05-07", 2)
    r = client.delete(f"/v1/organizations/{org}/time-logs/{a['id']}", headers=ann.headers)
    assert r.status_code == 200, r.text
    position = r.json()["position"]
    assert project_totals(client, ann, org, project, position) == ("2.00", {t2: "2.00"})
    assert person_days(client, ann, org, ann.id, position) == {"2024-05-07": "2.00"}


def test_one_time_log_for_its_author_and_those_who_see_everyone(client: TestClient) -> None:
    ann, bob, carol, mona = (new_person(client, name)
                             for name in ("Ann", "Bob", "Carol", "Mona"))
    org = new_organization(client, ann)["id"]
    add_member(client, ann, org, bob, "Contributor")
    add_member(client, ann, org, carol, "Contributor")
    add_member(client, ann, org, mona, "Manager")
    project = new_project(client, ann, org)
    join_project(client, ann, org, project, bob)
    join_project(client, ann, org, project, carol)
    task = new_task(client, ann, org, project)
    made = logged(client, bob, org, task, "2024-11-04", "7.5")
    url = f"/v1/organizations/{org}/time-logs/{made['id']}"

    r = client.get(url, headers={**bob.headers, **fresh(made["position"])})
    assert r.status_code == 200, r.text
    view = TimeLogView.model_validate(r.json())
    assert (str(view.id), str(view.person_id), str(view.task_id), str(view.project_id)) == (
        made["id"], bob.id, task, project)
    assert (view.work_date.isoformat(), r.json()["hours"], view.description) == (
        "2024-11-04", "7.50", "work")
    assert r.headers["etag"] == '"1"' and view.version == 1
    for boss in (ann, mona):  # the Organizer and a Manager see anyone's logs
        r = client.get(url, headers=boss.headers)
        assert r.status_code == 200 and TimeLogView.model_validate(r.json()) == view, r.text

    # Another contributor of the same project, another tenant, or the wrong organization.
    assert client.get(url, headers=carol.headers).status_code == 404
    eve = new_person(client, "Eve")
    eve_org = new_organization(client, eve)["id"]
    assert client.get(url, headers=eve.headers).status_code == 404
    r = client.get(f"/v1/organizations/{eve_org}/time-logs/{made['id']}", headers=eve.headers)
    assert r.status_code == 404
    r = client.get(f"/v1/organizations/{org}/time-logs/{uuid.uuid4()}", headers=ann.headers)
    assert r.status_code == 404
    assert client.get(f"/v1/organizations/{org}/time-logs/nope",
                      headers=ann.headers).status_code == 422

    edited = client.patch(url, json={"hours": 6, "description": None}, headers=bob.headers)
    assert edited.status_code == 200, edited.text
    r = client.get(url, headers={**bob.headers, **fresh(edited.json()["position"])})
    view = TimeLogView.model_validate(r.json())
    assert (r.json()["hours"], view.description, view.version) == ("6.00", None, 2)
    assert r.headers["etag"] == '"2"'

    deleted = client.delete(url, headers=bob.headers)
    assert deleted.status_code == 200, deleted.text
    for who in (bob, ann):
        r = client.get(url, headers={**who.headers, **fresh(deleted.json()["position"])})
        assert r.status_code == 404, r.text
