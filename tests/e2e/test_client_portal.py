"""The client portal: a member with the Client role, linked to one client, sees the
organization's name, the projects linked to that client, their tasks, the client's
proposals once sent and the client's feedback, read-only; every other read of the
organization answers 404."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from api.contract import Page
from api.main import ROUTERS
from api.routes.client_feedback import FeedbackView
from api.routes.clients import ClientDetail, ClientView
from api.routes.organizations import OrganizationView
from api.routes.projects import ProjectDetail, ProjectView
from api.routes.proposals import ProposalView
from tests.helpers import (
    Person,
    add_client,
    add_client_project,
    add_member,
    add_portal_user,
    fresh,
    new_organization,
    new_person,
)

ORGANIZATION_PATHS = "/v1/organizations/{organization_id}"


def base(org: str) -> str:
    return f"/v1/organizations/{org}"


@dataclass
class Portal:
    """An organization with two portal clients, Acme (Carl's) and Globex (Gina's)."""

    org: str
    ann: Person  # Organizer
    zed: Person  # Contributor, on Globex's project only
    carl: Person  # Acme's portal user
    gina: Person  # Globex's portal user
    acme: str
    globex: str
    acme_project: str
    acme_task: str
    acme_proposal_sent: str
    acme_proposal_draft: str
    acme_feedback: str
    globex_project: str
    globex_task: str
    other_project: str
    globex_proposal: str
    globex_feedback: str
    team_channel: str
    project_channel: str
    message: str
    carls_channel: str  # a team channel Carl was made a member of
    carls_message: str
    time_log: str
    position: int
    conversation: str = ""  # Ann's, with the assistant

    def visible(self) -> set[str]:
        """The ids Carl may meet (his client's things and the people on them)."""
        return {self.org, self.carl.id, self.ann.id, self.acme, self.acme_project,
                self.acme_task, self.acme_proposal_sent, self.acme_feedback}

    def hidden(self) -> set[str]:
        """The ids no answer to Carl may contain."""
        return {self.zed.id, self.gina.id, self.globex, self.acme_proposal_draft,
                self.globex_project, self.globex_task, self.other_project,
                self.globex_proposal, self.globex_feedback, self.team_channel,
                self.project_channel, self.message, self.carls_channel,
                self.carls_message, self.time_log}


def ok(r: Any) -> dict[str, Any]:
    assert r.status_code in (200, 201), r.text
    return dict(r.json())


def build_portal(client: TestClient) -> Portal:
    ann, zed = new_person(client, "Ann"), new_person(client, "Zed")
    org = new_organization(client, ann)["id"]
    add_member(client, ann, org, zed, "Contributor")
    acme = add_client(client, ann, org, "Acme")["id"]
    globex = add_client(client, ann, org, "Globex")["id"]
    carl, _ = add_portal_user(client, ann, org, acme, "Carl")
    gina, _ = add_portal_user(client, ann, org, globex, "Gina")
    acme_project = add_client_project(client, ann, org, acme)["id"]
    globex_project = add_client_project(client, ann, org, globex)["id"]
    other_project = add_client_project(client, ann, org, None)["id"]
    ok(client.post(f"{base(org)}/projects/{globex_project}/members",
                   json={"user_id": zed.id, "role": "Member"}, headers=ann.headers))

    def task(project: str) -> str:
        return str(ok(client.post(f"{base(org)}/projects/{project}/tasks",
                                  json={"title": f"T {uuid.uuid4().hex[:6]}"},
                                  headers=ann.headers))["id"])

    acme_task, globex_task = task(acme_project), task(globex_project)
    ok(client.post(f"{base(org)}/tasks/{globex_task}/dependencies",
                   json={"depends_on_id": task(globex_project)}, headers=ann.headers))

    def proposal(client_id: str, send: bool) -> str:
        made = ok(client.post(f"{base(org)}/clients/{client_id}/proposals",
                              json={"title": "Offer", "amount": 100}, headers=ann.headers))
        if send:
            ok(client.post(f"{base(org)}/proposals/{made['id']}/send", headers=ann.headers))
        return str(made["id"])

    sent, draft, globex_proposal = (proposal(acme, True), proposal(acme, False),
                                    proposal(globex, True))
    acme_feedback = ok(client.post(f"{base(org)}/clients/{acme}/feedback",
                                   json={"rating": 4, "project_id": acme_project},
                                   headers=carl.headers))["id"]
    globex_feedback = ok(client.post(f"{base(org)}/clients/{globex}/feedback",
                                     json={"rating": 2, "project_id": globex_project},
                                     headers=gina.headers))["id"]
    team = ok(client.post(f"{base(org)}/channels", json={"kind": "team", "name": "general"},
                          headers=ann.headers))["id"]
    project_channel = ok(client.post(
        f"{base(org)}/channels", json={"kind": "project", "name": "acme-work",
                                       "project_id": acme_project},
        headers=ann.headers))["id"]
    message = ok(client.post(f"{base(org)}/channels/{team}/messages",
                             json={"content": "internal"}, headers=ann.headers))["id"]
    carls = ok(client.post(f"{base(org)}/channels", json={"kind": "team", "name": "acme"},
                           headers=ann.headers))["id"]
    ok(client.post(f"{base(org)}/channels/{carls}/members", json={"user_id": carl.id},
                   headers=ann.headers))
    carls_message = ok(client.post(f"{base(org)}/channels/{carls}/messages",
                                   json={"content": "hello Carl"}, headers=ann.headers))["id"]
    logged = ok(client.post(f"{base(org)}/time-logs",
                            json={"task_id": acme_task, "work_date": "2024-05-02",
                                  "hours": 3}, headers=ann.headers))
    conversation = ok(client.post(f"{base(org)}/assistant/conversations", json={},
                                  headers=ann.headers))
    return Portal(org, ann, zed, carl, gina, acme, globex, acme_project, acme_task, sent,
                  draft, acme_feedback, globex_project, globex_task, other_project,
                  globex_proposal, globex_feedback, team, project_channel, message, carls,
                  carls_message, logged["id"], conversation["position"], conversation["id"])


@pytest.fixture(scope="module")
def portal(client: TestClient) -> Portal:
    return build_portal(client)


def get(client: TestClient, p: Portal, url: str, who: Person | None = None,
        **params: Any) -> Any:
    who = who or p.carl
    return client.get(url, params=params, headers={**who.headers, **fresh(p.position)})


def ids_in(body: str) -> set[str]:
    return set(re.findall(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
                          body))


# --- what the portal shows ------------------------------------------------------------------

def test_the_portal_user_sees_their_clients_projects_and_tasks(client: TestClient,
                                                               portal: Portal) -> None:
    p, o = portal, base(portal.org)
    r = get(client, p, f"{o}/projects")
    assert r.status_code == 200, r.text
    assert [i["id"] for i in r.json()["items"]] == [p.acme_project]
    r = get(client, p, f"{o}/projects/{p.acme_project}")
    assert r.status_code == 200 and r.json()["my_role"] == "Client", r.text
    r = get(client, p, f"{o}/projects/{p.acme_project}/tasks")
    assert r.status_code == 200, r.text
    assert [(t["id"], t["status"]) for t in r.json()["items"]] == [(p.acme_task, "PENDING")]
    assert get(client, p, f"{o}/tasks/{p.acme_task}").status_code == 200


def test_the_portal_user_sees_their_client_its_sent_proposals_and_feedback(
    client: TestClient, portal: Portal,
) -> None:
    p, o = portal, base(portal.org)
    r = get(client, p, f"{o}/clients")
    page = Page[ClientView].model_validate(r.json())
    assert [str(c.id) for c in page.items] == [p.acme]
    assert get(client, p, f"{o}/clients/{p.acme}").status_code == 200

    r = get(client, p, f"{o}/clients/{p.acme}/proposals")
    assert [str(x.id) for x in Page[ProposalView].model_validate(r.json()).items] == [
        p.acme_proposal_sent]
    assert get(client, p, f"{o}/proposals/{p.acme_proposal_sent}").status_code == 200
    assert get(client, p, f"{o}/proposals/{p.acme_proposal_draft}").status_code == 404
    r = get(client, p, f"{o}/clients/{p.acme}/proposals", status="DRAFT")
    assert r.status_code == 200 and r.json()["items"] == []

    for url in (f"{o}/clients/{p.acme}/feedback", f"{o}/projects/{p.acme_project}/feedback"):
        r = get(client, p, url)
        assert [str(f.id) for f in Page[FeedbackView].model_validate(r.json()).items] == [
            p.acme_feedback], url
    assert get(client, p, f"{o}/feedback/{p.acme_feedback}").status_code == 200


def test_the_portal_shows_no_channel_no_time_and_no_staff(client: TestClient,
                                                          portal: Portal) -> None:
    """Channels (even one Carl was made a member of), time and the people of the
    organization are no part of the portal: 404, as for another tenant."""
    p, o = portal, base(portal.org)
    for url, params in (
        (f"{o}/members", {}),
        (f"{o}/projects/{p.acme_project}/members", {}),
        (f"{o}/time-totals/projects/{p.acme_project}", {}),
        (f"{o}/time-totals/people/{p.ann.id}", {"from": "2024-05-01", "to": "2024-05-31"}),
        (f"{o}/time-totals/people/{p.carl.id}", {"from": "2024-05-01", "to": "2024-05-31"}),
        (f"{o}/time-logs", {"user_id": p.ann.id}),
        (f"{o}/time-logs", {}),
        (f"{o}/time-logs/{p.time_log}", {}),
        (f"{o}/channels", {}),
        (f"{o}/channels/{p.carls_channel}", {}),
        (f"{o}/channels/{p.carls_channel}/members", {}),
        (f"{o}/channels/{p.carls_channel}/messages", {}),
        (f"{o}/channels/{p.project_channel}", {}),
        (f"{o}/messages/{p.carls_message}", {}),
    ):
        r = get(client, p, url, **params)
        assert r.status_code == 404, (url, params, r.status_code, r.text[:300])
        assert r.json()["type"].endswith("not-found"), r.text
        # The Organizer reads each of them: the 404 is about Carl, not about the ids.
        assert get(client, p, url, p.ann, **params).status_code == 200, (url, params)


def test_the_portal_user_reads_the_organizations_name_but_not_its_settings(
    client: TestClient, portal: Portal,
) -> None:
    p, url = portal, base(portal.org)
    r = get(client, p, url)
    view = OrganizationView.model_validate(r.json())
    assert (view.my_role, view.settings) == ("Client", None), r.text
    assert "settings" in r.json()
    r = get(client, p, url, p.ann)
    assert OrganizationView.model_validate(r.json()).settings == {}


def test_the_portal_user_decides_on_sent_proposals_only(client: TestClient) -> None:
    ann = new_person(client, "Ann")
    org = new_organization(client, ann)["id"]
    acme, globex = add_client(client, ann, org)["id"], add_client(client, ann, org)["id"]
    carl, _ = add_portal_user(client, ann, org, acme, "Carl")
    o = base(org)

    def proposal(client_id: str, send: bool) -> str:
        made = ok(client.post(f"{o}/clients/{client_id}/proposals", json={"title": "Offer"},
                              headers=ann.headers))
        if send:
            ok(client.post(f"{o}/proposals/{made['id']}/send", headers=ann.headers))
        return str(made["id"])

    draft, sent, rejected, theirs = (proposal(acme, False), proposal(acme, True),
                                     proposal(acme, True), proposal(globex, True))
    for target in (draft, theirs):  # not theirs to see
        for action in ("accept", "reject"):
            r = client.post(f"{o}/proposals/{target}/{action}", headers=carl.headers)
            assert r.status_code == 404, (action, r.text)
    for action in ("send", "withdraw"):
        r = client.post(f"{o}/proposals/{sent}/{action}", headers=carl.headers)
        assert r.status_code == 403, (action, r.text)
    r = client.patch(f"{o}/proposals/{draft}", json={"title": "Mine"}, headers=carl.headers)
    assert r.status_code == 403
    r = client.post(f"{o}/clients/{acme}/proposals", json={"title": "X"}, headers=carl.headers)
    assert r.status_code == 403
    assert client.post(f"{o}/proposals/{sent}/accept", headers=carl.headers).status_code == 200
    r = client.post(f"{o}/proposals/{rejected}/reject", json={"reason": "Too dear"},
                    headers=carl.headers)
    assert r.status_code == 200, r.text
    r = client.post(f"{o}/proposals/{sent}/reject", headers=carl.headers)
    assert r.status_code == 409 and r.json()["type"].endswith("illegal-proposal-transition")


def test_the_portal_closes_with_access_archive_unlink_and_role(client: TestClient) -> None:
    ann = new_person(client, "Ann")
    org = new_organization(client, ann)["id"]
    acme = add_client(client, ann, org)["id"]
    project = add_client_project(client, ann, org, acme)["id"]
    carl, position = add_portal_user(client, ann, org, acme, "Carl")
    o = base(org)

    def sees() -> bool:
        """Whether Carl sees the project and the client's proposals (both or neither)."""
        answers = {client.get(url, headers={**carl.headers, **fresh(position)}).status_code
                   for url in (f"{o}/projects/{project}", f"{o}/clients/{acme}/proposals")}
        assert answers in ({200}, {404}), answers
        return answers == {200}

    def run(method: str, path: str, body: dict[str, Any] | None = None) -> int:
        return int(ok(client.request(method, f"{o}{path}", json=body,
                                     headers=ann.headers))["position"])

    assert sees()
    position = run("PATCH", f"/clients/{acme}", {"portal_access": False})
    assert not sees()
    r = client.post(f"{o}/clients/{acme}/feedback", json={"rating": 5}, headers=carl.headers)
    assert r.status_code == 404
    position = run("PATCH", f"/clients/{acme}", {"portal_access": True})
    assert sees()
    position = run("POST", f"/clients/{acme}/archive")
    assert not sees()
    position = run("POST", f"/clients/{acme}/restore")
    assert sees()
    position = run("DELETE", f"/clients/{acme}/portal-users/{carl.id}")
    assert not sees()
    position = run("POST", f"/clients/{acme}/portal-users", {"user_id": carl.id})
    assert sees()
    position = run("PATCH", f"/members/{carl.id}", {"role": "Contributor"})
    assert not sees()
    position = run("PATCH", f"/members/{carl.id}", {"role": "Client"})
    assert not sees()  # the role change unlinked him: the portal does not come back


@pytest.mark.parametrize("leave", ["removed", "made a Contributor"])
def test_leaving_the_client_role_unlinks_the_portal_user(client: TestClient,
                                                         leave: str) -> None:
    """Removed from the organization, or given another role, a portal user is no longer
    linked to their client: made a Client again, they see nothing of the old client
    and may be linked to another one."""
    ann = new_person(client, "Ann")
    org = new_organization(client, ann)["id"]
    acme, globex = add_client(client, ann, org)["id"], add_client(client, ann, org)["id"]
    acme_project = add_client_project(client, ann, org, acme)["id"]
    globex_project = add_client_project(client, ann, org, globex)["id"]
    carl, _ = add_portal_user(client, ann, org, acme, "Carl")
    o = base(org)
    members = f"{o}/members/{carl.id}"
    if leave == "removed":
        r = client.delete(members, headers=ann.headers)
    else:
        r = client.patch(members, json={"role": "Contributor"}, headers=ann.headers)
    left = ok(r)["position"]

    r = client.get(f"{o}/clients/{acme}", headers={**ann.headers, **fresh(left)})
    detail = ClientDetail.model_validate(r.json())
    assert carl.id not in {str(u.user_id) for u in detail.portal_users}, r.text

    if leave == "removed":
        back = add_member(client, ann, org, carl, "Client")["position"]
    else:
        back = ok(client.patch(members, json={"role": "Client"},
                               headers=ann.headers))["position"]
    for url in (f"{o}/projects/{acme_project}", f"{o}/clients/{acme}",
                f"{o}/clients/{acme}/proposals"):
        r = client.get(url, headers={**carl.headers, **fresh(back)})
        assert r.status_code == 404, (url, r.text)

    r = client.post(f"{o}/clients/{globex}/portal-users", json={"user_id": carl.id},
                    headers=ann.headers)
    assert r.status_code == 201, r.text
    r = client.get(f"{o}/projects", headers={**carl.headers, **fresh(r.json()["position"])})
    assert [i["id"] for i in r.json()["items"]] == [globex_project]


def test_a_project_shared_by_two_clients_shows_each_only_its_feedback(
    client: TestClient,
) -> None:
    ann = new_person(client, "Ann")
    org = new_organization(client, ann)["id"]
    acme, globex = add_client(client, ann, org)["id"], add_client(client, ann, org)["id"]
    carl, _ = add_portal_user(client, ann, org, acme, "Carl")
    gina, _ = add_portal_user(client, ann, org, globex, "Gina")
    project = add_client_project(client, ann, org, acme)["id"]
    ok(client.post(f"/v1/organizations/{org}/projects/{project}/clients",
                   json={"client_id": globex}, headers=ann.headers))
    mine = ok(client.post(f"{base(org)}/clients/{acme}/feedback",
                          json={"rating": 5, "project_id": project}, headers=carl.headers))
    theirs = ok(client.post(f"{base(org)}/clients/{globex}/feedback",
                            json={"rating": 1, "project_id": project}, headers=gina.headers))
    position = theirs["position"]
    for who, expected in ((carl, mine), (gina, theirs)):
        r = client.get(f"{base(org)}/projects/{project}/feedback",
                       headers={**who.headers, **fresh(position)})
        assert [f["id"] for f in r.json()["items"]] == [expected["id"]]
    r = client.get(f"{base(org)}/projects/{project}/feedback",
                   headers={**ann.headers, **fresh(position)})
    assert {f["id"] for f in r.json()["items"]} == {mine["id"], theirs["id"]}
    r = client.get(f"{base(org)}/feedback/{theirs['id']}",
                   headers={**carl.headers, **fresh(position)})
    assert r.status_code == 404


def test_a_project_shared_by_two_clients_shows_neither_the_other_client_nor_ratings(
    client: TestClient,
) -> None:
    """The average and count over both clients' feedback would give away the other
    client's rating: a portal user sees only its own client and no feedback figures."""
    ann = new_person(client, "Ann")
    org = new_organization(client, ann)["id"]
    acme, globex = add_client(client, ann, org)["id"], add_client(client, ann, org)["id"]
    carl, _ = add_portal_user(client, ann, org, acme, "Carl")
    gina, _ = add_portal_user(client, ann, org, globex, "Gina")
    o = base(org)
    project = add_client_project(client, ann, org, globex)["id"]  # its own client: Globex
    ok(client.post(f"{o}/projects/{project}/clients", json={"client_id": acme},
                   headers=ann.headers))
    ok(client.post(f"{o}/clients/{acme}/feedback", json={"rating": 5, "project_id": project},
                   headers=carl.headers))
    position = ok(client.post(f"{o}/clients/{globex}/feedback",
                              json={"rating": 1, "project_id": project},
                              headers=gina.headers))["position"]

    def read(who: Person, url: str, **params: Any) -> Any:
        r = client.get(url, params=params, headers={**who.headers, **fresh(position)})
        assert r.status_code == 200, r.text
        return r.json()

    for who, own in ((carl, acme), (gina, globex)):
        detail = ProjectDetail.model_validate(read(who, f"{o}/projects/{project}"))
        listed = Page[ProjectView].model_validate(read(who, f"{o}/projects")).items
        for view in (detail, listed[0]):
            assert [str(c) for c in view.client_ids] == [own]
            assert view.client_id is None if own == acme else str(view.client_id) == globex
            assert (view.average_rating, view.feedback_count) == (None, None)
        other = globex if own == acme else acme
        assert read(who, f"{o}/projects", client_id=other) == {"items": [],
                                                               "next_cursor": None}
        assert [i["id"] for i in read(who, f"{o}/projects", client_id=own)["items"]] == [
            project]
    staff = ProjectDetail.model_validate(read(ann, f"{o}/projects/{project}"))
    assert [str(c) for c in staff.client_ids] == [globex, acme]
    assert (str(staff.average_rating), staff.feedback_count) == ("3.00", 2)
    assert [i["id"] for i in read(ann, f"{o}/projects", client_id=acme)["items"]] == [project]


def test_a_client_member_without_a_portal_sees_nothing(client: TestClient,
                                                       portal: Portal) -> None:
    p, o = portal, base(portal.org)
    nobody = new_person(client, "Nina")
    added = add_member(client, p.ann, p.org, nobody, "Client")
    r = client.get(f"{o}/clients", headers={**nobody.headers, **fresh(added["position"])})
    assert r.status_code == 200 and r.json() == {"items": [], "next_cursor": None}
    r = client.get(f"{o}/projects", headers={**nobody.headers, **fresh(added["position"])})
    assert r.status_code in (200, 404) and (r.status_code == 404 or r.json()["items"] == [])
    for url in (f"{o}/projects/{p.acme_project}", f"{o}/clients/{p.acme}",
                f"{o}/clients/{p.acme}/proposals", f"{o}/clients/{p.acme}/feedback",
                f"{o}/proposals/{p.acme_proposal_sent}", f"{o}/feedback/{p.acme_feedback}",
                f"{o}/tasks/{p.acme_task}"):
        r = client.get(url, headers={**nobody.headers, **fresh(added["position"])})
        assert r.status_code == 404, (url, r.text)


# --- nothing else: every GET of the API -------------------------------------------------------

def organization_reads() -> list[str]:
    # Not the live feed: it never ends (tests/integration/test_timeline.py tests who sees
    # what in it, with the same rule as the activity read).
    return sorted({route.path for router in ROUTERS for route in router.routes
                   if isinstance(route, APIRoute) and "GET" in (route.methods or ())
                   and route.path.startswith(ORGANIZATION_PATHS)
                   and not route.path.endswith("/activity/stream")})


def fill(path: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), str(uuid.uuid4())), path)


# What the portal reads (under /v1/organizations/{organization_id}); every other read of
# the organization answers the portal user 404, whatever its path names.
PORTAL_READS = frozenset({
    "", "/projects", "/projects/{project_id}", "/projects/{project_id}/tasks",
    "/projects/{project_id}/feedback", "/my-tasks", "/tasks/{task_id}",
    "/tasks/{task_id}/dependencies", "/tasks/{task_id}/dependents", "/clients",
    "/clients/{client_id}", "/clients/{client_id}/feedback", "/clients/{client_id}/proposals",
    "/proposals/{proposal_id}", "/feedback/{feedback_id}",
    # the activity of the projects linked to the client (docs/timeline.md)
    "/activity", "/projects/{project_id}/history", "/tasks/{task_id}/history",
    # search over those projects and their tasks (docs/search.md)
    "/search",
})


@pytest.mark.parametrize("path", organization_reads())
def test_every_read_answers_the_portal_user_within_its_scope(
    client: TestClient, portal: Portal, path: str,
) -> None:
    """Every GET under an organization, with its path naming things outside Carl's scope
    and then things inside it: a read of the portal answers within his scope (and
    names nothing outside it), any other read answers 404."""
    p = portal
    outside = {"organization_id": p.org, "project_id": p.globex_project,
               "task_id": p.globex_task, "client_id": p.globex,
               "proposal_id": p.globex_proposal, "feedback_id": p.globex_feedback,
               "channel_id": p.team_channel, "message_id": p.message,
               "time_log_id": p.time_log, "user_id": p.zed.id,
               "conversation_id": p.conversation}
    inside = {**outside, "project_id": p.acme_project, "task_id": p.acme_task,
              "client_id": p.acme, "proposal_id": p.acme_proposal_sent,
              "feedback_id": p.acme_feedback, "channel_id": p.carls_channel,
              "message_id": p.carls_message, "user_id": p.carl.id}
    # Query parameters some reads need (time totals, time travel); the others ignore them.
    days = {"from": "2024-05-01", "to": "2024-05-31", "as_of_version": "1", "q": "plan"}
    of_the_portal = path[len(ORGANIZATION_PATHS):] in PORTAL_READS
    for values in (outside, inside):
        url = fill(path, values)
        r = get(client, p, url, **days)
        if not of_the_portal:
            assert r.status_code == 404, (url, r.status_code, r.text[:300])
            continue
        expected = (200,) if values is inside else (200, 404)
        assert r.status_code in expected, (url, r.status_code, r.text[:300])
        # (A 404 names what it did not find: only an answer can leak.)
        leaked = ids_in(r.text) & p.hidden() if r.status_code == 200 else set()
        assert not leaked, (url, leaked)
    # The organizer reads each of them: Carl's 404s are about him, not about the ids.
    r = get(client, p, fill(path, outside), p.ann, **days)
    assert r.status_code == 200, (path, r.text[:300])
