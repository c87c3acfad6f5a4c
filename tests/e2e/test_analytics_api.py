"""The analytics endpoints over HTTP, with the relay and an analytics consumer running
beside the server on the embedded broker (as `./dev serve` runs them): Organizers and
Managers read KPIs, member performance, hours and overdue tasks, reflecting the
position of the command they just sent; everyone else gets 403 or 404."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from analytics.kpis import DEFINITIONS, week_of
from domain.base import CommandContext
from tests.helpers import Person, add_member, new_organization, new_person
from vistone.app import Command
from vistone.commands import users
from vistone.runtime import Runtime


@pytest.fixture(scope="module", autouse=True)
def kafka(runtime: Runtime) -> Iterator[None]:
    pipeline = runtime.start_kafka()
    # The consumer joins its group and catches up with the session's log (one event at
    # least, whatever ran before) before the tests time their reads.
    anonymous = Command(runtime.app, CommandContext(None))
    position = users.register_user(anonymous, email=f"{uuid.uuid4().hex}@analytics.test",
                                   name="Warm-up", password="password-1").position
    assert position and pipeline.store.wait_for(runtime.pool, position, timeout=90)
    yield
    if runtime.kafka is not None:
        runtime.kafka.stop()
        runtime.kafka = None


def at(position: int) -> dict[str, str]:
    return {"X-Min-Position": str(position)}


class Agency:
    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.owner = new_person(client, "Owner")
        self.org = new_organization(client, self.owner)["id"]
        self.base = f"/v1/organizations/{self.org}"
        r = self.post("/projects", {"name": f"P {uuid.uuid4().hex[:6]}", "budget": "200.00"})
        self.project = r["id"]

    def post(self, path: str, body: dict[str, Any], who: Person | None = None) -> Any:
        r = self.client.post(self.base + path, json=body,
                             headers=(who or self.owner).headers)
        assert r.status_code in (200, 201), r.text
        return r.json()

    def get(self, path: str, who: Person | None = None, **headers: str) -> Any:
        return self.client.get(self.base + "/analytics" + path,
                               headers={**(who or self.owner).headers, **headers})


@pytest.fixture(scope="module")
def agency(client: TestClient) -> Agency:
    return Agency(client)


def test_hours_reflect_the_command_just_sent(agency: Agency) -> None:
    today = datetime.now(UTC).date()
    task = agency.post(f"/projects/{agency.project}/tasks", {"title": "Design"})["id"]
    answer = agency.post("/time-logs", {"task_id": task, "work_date": today.isoformat(),
                                        "hours": "2.50"})
    r = agency.get(f"/hours?project_id={agency.project}", **at(answer["position"]))
    assert r.status_code == 200, r.text
    assert r.headers["X-Consistent"] == "true", (answer["position"], dict(r.headers))
    assert int(r.headers["X-Analytics-Position"]) >= answer["position"]
    assert r.json()["items"] == [{"week_start": week_of(today).isoformat(),
                                  "project_id": agency.project,
                                  "person_id": agency.owner.id, "hours": "2.50"}]
    r = agency.get(f"/member-performance?metric=hours_logged&user_id={agency.owner.id}")
    assert [i["value"] for i in r.json()["items"]] == ["2.50"]


def test_completed_tasks_overdue_tasks_and_budget(agency: Agency) -> None:
    today = datetime.now(UTC).date()
    base = f"/projects/{agency.project}/tasks"
    done = agency.post(base, {"title": "Done", "assignee_id": agency.owner.id})["id"]
    agency.post(base, {"title": "Late",
                       "due_date": (today - timedelta(days=3)).isoformat()})
    for status in ("IN_PROGRESS", "COMPLETED"):
        r = agency.client.post(f"{agency.base}/tasks/{done}/status",
                              json={"status": status}, headers=agency.owner.headers)
        assert r.status_code == 200, r.text
    r = agency.client.patch(f"{agency.base}/projects/{agency.project}",
                            json={"spent_budget": "50.00"}, headers=agency.owner.headers)
    assert r.status_code == 200, r.text
    position = r.json()["position"]

    r = agency.get(f"/measurements?project_id={agency.project}&kpi=tasks_completed"
                   f"&kpi=budget_burn&kpi=task_cycle_time_p50", **at(position))
    assert r.status_code == 200, r.text
    values = {i["kpi"]: i for i in r.json()["items"]}
    assert values["tasks_completed"]["value"] == "1"
    assert values["tasks_completed"]["period_start"] == week_of(today).isoformat()
    assert values["budget_burn"]["value"] == "25.00"
    assert values["task_cycle_time_p50"]["subject"] == "project"
    r = agency.get("/overdue-tasks", **at(position))
    assert r.json()["as_of"] == today.isoformat()
    assert r.json()["items"] == [{"project_id": agency.project, "overdue_open_tasks": 1,
                                  "oldest_due_date": (today - timedelta(days=3)).isoformat()}]


def test_definitions_are_served_from_the_tables(agency: Agency) -> None:
    r = agency.get("/kpis")
    assert r.status_code == 200
    assert sorted(d["key"] for d in r.json()["items"]) == sorted(d.key for d in DEFINITIONS)


def test_pages_and_filters(agency: Agency) -> None:
    r = agency.get("/measurements?limit=1")
    assert r.status_code == 200 and len(r.json()["items"]) == 1
    seen = [r.json()["items"][0]]
    while r.json()["next_cursor"]:
        r = agency.get(f"/measurements?limit=1&cursor={r.json()['next_cursor']}")
        seen += r.json()["items"]
    keys = [(i["kpi"], i["subject_id"], i["period_start"]) for i in seen]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    future = (datetime.now(UTC).date() + timedelta(days=30)).isoformat()
    assert agency.get(f"/measurements?from={future}").json()["items"] == []


def test_who_may_read(agency: Agency, client: TestClient) -> None:
    manager, contributor, portal, outsider = (new_person(client, n) for n in
                                              ("Manager", "Contributor", "Portal", "Out"))
    positions = [add_member(client, agency.owner, agency.org, who, role)["position"]
                 for who, role in ((manager, "Manager"), (contributor, "Contributor"),
                                   (portal, "Client"))]
    seen = at(max(positions))
    assert agency.get("/kpis", manager, **seen).status_code == 200
    assert agency.get("/hours", contributor, **seen).status_code == 403
    assert agency.get("/hours", portal, **seen).status_code == 404
    assert agency.get("/hours", outsider, **seen).status_code == 404
    other = Agency(client)
    # A project of another organization is not found, whatever the filter.
    for path in ("/hours", "/measurements"):
        r = agency.get(f"{path}?project_id={other.project}", **seen)
        assert r.status_code == 404


def test_bad_input_is_refused(agency: Agency) -> None:
    assert agency.get("/measurements?kpi=nope").status_code == 422
    assert agency.get("/measurements?kpi=%00").status_code == 422
    assert agency.get("/measurements?cursor=AAAA").status_code == 400
    assert agency.get("/hours?from=2026-13-01").status_code == 422
    assert agency.get("/member-performance?metric=salary").status_code == 422
    assert agency.get("/hours", **{"X-Min-Position": "-1"}).status_code == 400
    assert agency.get("/hours", **{"X-Min-Position": "9" * 30}).status_code in (200, 400)


def test_metrics_show_the_relay_and_the_consumers(agency: Agency, client: TestClient) -> None:
    text = client.get("/metrics").text
    figures = {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
               if line.startswith(("vistone_kafka", "vistone_analytics"))
               and "{" not in line}
    assert figures["vistone_kafka_relay_late_events"] == 0
    assert figures["vistone_analytics_skipped_versions"] == 0
    assert figures["vistone_analytics_events_applied"] > 0
    assert figures["vistone_kafka_relay_position"] >= figures[
        "vistone_analytics_applied_through"] > 0
    assert "vistone_analytics_partition_lag{" in text
