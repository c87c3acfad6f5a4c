"""The client context over HTTP: clients, portal users, proposals and feedback (staff's
side; what a portal user sees is tests/e2e/test_client_portal.py)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.contract import CommandAnswer, Page
from api.routes.client_feedback import FeedbackView
from api.routes.clients import ClientDetail, ClientView
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


def base(org: str) -> str:
    return f"/v1/organizations/{org}"


def get(client: TestClient, who: Person, url: str, position: int | None,
        **params: Any) -> Any:
    return client.get(url, params=params, headers={**who.headers, **fresh(position)})


def field_of(r: Any) -> str | None:
    body = r.json()
    return body.get("field") or (body.get("errors") or [{}])[0].get("field")


def kind_of(r: Any) -> str:
    return str(r.json()["type"]).rsplit("/", 1)[-1]


def staffed_org(client: TestClient) -> tuple[Person, Person, Person, str]:
    """An Organizer (Ann), a Manager (Max), a Contributor (Cid) and their organization."""
    ann, max_, cid = new_person(client, "Ann"), new_person(client, "Max"), new_person(client, "Cid")
    org = new_organization(client, ann)["id"]
    add_member(client, ann, org, max_, "Manager")
    add_member(client, ann, org, cid, "Contributor")
    return ann, max_, cid, org


# --- clients -------------------------------------------------------------------------------

def test_create_read_update_a_client(client: TestClient) -> None:
    ann, *_, org = staffed_org(client)
    r = client.post(f"{base(org)}/clients", headers=ann.headers, json={
        "name": "  Northwind   Coffee ", "email": "Hello@NorthWind.Example.com",
        "phone": "+33 1 23 45 67 89",
        "address": {"line1": " 12 rue des Lilas ", "city": "Paris", "region": "  ",
                    "country": "FR"}})
    assert r.status_code == 201, r.text
    created = CommandAnswer.model_validate(r.json())
    assert created.version == 1 and r.headers["etag"] == '"1"'

    r = get(client, ann, f"{base(org)}/clients/{created.id}", created.position)
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == '"1"' and r.headers["x-consistent"] == "true"
    body = ClientDetail.model_validate(r.json()).model_dump(mode="json")
    assert body["name"] == "Northwind   Coffee"  # trimmed, inner spacing kept
    assert body["email"] == "Hello@northwind.example.com"  # domain normalized
    assert body["phone"] == "+33 1 23 45 67 89"
    assert body["address"] == {"line1": "12 rue des Lilas", "line2": None, "city": "Paris",
                               "postal_code": None, "region": None, "country": "FR"}
    assert body["portal_access"] is False and body["archived"] is False
    assert body["project_ids"] == [] and body["portal_users"] == []

    r = client.patch(f"{base(org)}/clients/{created.id}", headers=ann.headers,
                     json={"phone": None, "address": None, "portal_access": True,
                           "name": "Northwind"})
    assert r.status_code == 200, r.text
    body = get(client, ann, f"{base(org)}/clients/{created.id}", r.json()["position"]).json()
    assert (body["name"], body["phone"], body["address"], body["portal_access"]) == (
        "Northwind", None, None, True)
    assert body["email"] == "Hello@northwind.example.com"
    assert body["version"] == 3  # Updated, PortalAccessChanged

    # Nothing changed: no new event, same version.
    r = client.patch(f"{base(org)}/clients/{created.id}", headers=ann.headers,
                     json={"name": "Northwind", "portal_access": True})
    assert r.status_code == 200 and r.json()["version"] == 3


def test_names_are_unique_in_the_organization(client: TestClient) -> None:
    ann, *_, org = staffed_org(client)
    first = add_client(client, ann, org, "Acme Corp")
    r = client.post(f"{base(org)}/clients", json={"name": "  ACME   corp "},
                    headers=ann.headers)
    assert r.status_code == 409 and kind_of(r) == "already-exists" and field_of(r) == "name"
    # Another organization may use the name.
    other = new_organization(client, ann)["id"]
    add_client(client, ann, other, "Acme Corp")

    second = add_client(client, ann, org, "Globex")
    r = client.patch(f"{base(org)}/clients/{second['id']}", json={"name": "acme corp"},
                     headers=ann.headers)
    assert r.status_code == 409 and field_of(r) == "name"
    # Renaming moves the claim: the old name is free, the new one taken.
    r = client.patch(f"{base(org)}/clients/{first['id']}", json={"name": "Acme Inc"},
                     headers=ann.headers)
    assert r.status_code == 200, r.text
    r = client.patch(f"{base(org)}/clients/{second['id']}", json={"name": "ACME CORP"},
                     headers=ann.headers)
    assert r.status_code == 200, r.text
    r = client.post(f"{base(org)}/clients", json={"name": "acme inc"}, headers=ann.headers)
    assert r.status_code == 409


def test_archive_and_restore(client: TestClient) -> None:
    ann, *_, org = staffed_org(client)
    made = add_client(client, ann, org, "Initech")
    url = f"{base(org)}/clients/{made['id']}"
    r = client.post(f"{url}/archive", headers=ann.headers)
    assert r.status_code == 200 and r.json()["version"] == 2
    r = client.patch(url, json={"phone": "12345"}, headers=ann.headers)
    assert r.status_code == 409 and kind_of(r) == "client-archived"
    # The name stays claimed while archived.
    r = client.post(f"{base(org)}/clients", json={"name": "initech"}, headers=ann.headers)
    assert r.status_code == 409
    position = client.post(f"{url}/archive", headers=ann.headers).json()["position"]
    listed = get(client, ann, f"{base(org)}/clients", position).json()
    assert made["id"] not in [c["id"] for c in listed["items"]]
    listed = get(client, ann, f"{base(org)}/clients", position, archived="true").json()
    assert [c["id"] for c in listed["items"]] == [made["id"]]

    r = client.post(f"{url}/restore", headers=ann.headers)
    assert r.status_code == 200 and r.json()["version"] == 3
    r = client.patch(url, json={"phone": "12345"}, headers=ann.headers)
    assert r.status_code == 200, r.text
    body = get(client, ann, url, r.json()["position"]).json()
    assert body["archived"] is False and body["phone"] == "12345"


def test_list_is_paged_by_name(client: TestClient) -> None:
    ann, *_, org = staffed_org(client)
    names = ["delta", "Alpha", "charlie", "Bravo", "echo"]
    position = max(add_client(client, ann, org, n)["position"] for n in names)
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        r = get(client, ann, f"{base(org)}/clients", position, **params)
        assert r.status_code == 200, r.text
        page = Page[ClientView].model_validate(r.json())
        seen.extend(r.json()["items"])
        assert len(page.items) <= 2
        cursor = page.next_cursor
        if cursor is None:
            break
    assert [c["name"] for c in seen] == sorted(names)
    r = get(client, ann, f"{base(org)}/clients", position, cursor="forged")
    assert r.status_code == 400


@pytest.mark.parametrize(("body", "field"), [
    ({"name": ""}, "name"),
    ({"name": "   "}, "name"),
    ({"name": "x" * 201}, "name"),
    ({"name": None}, "name"),
    ({"name": "X", "email": "not an email"}, "email"),
    ({"name": "X", "email": "ann@example.test"}, "email"),  # special-use domain
    ({"name": "X", "email": "a" * 65 + "@example.com"}, "email"),
    ({"name": "X", "email": ""}, "email"),
    ({"name": "X", "phone": "12"}, "phone"),
    ({"name": "X", "phone": "phone me"}, "phone"),
    ({"name": "X", "phone": "+1 (2) 3-4"}, "phone"),  # 4 digits
    ({"name": "X", "phone": 12345}, "phone"),
    ({"name": "X", "address": {"city": "Paris"}}, "address.line1"),
    ({"name": "X", "address": {"line1": "x", "country": "ZZ"}}, "address.country"),
    ({"name": "X", "address": {"line1": "x", "country": "fr"}}, "address.country"),
    ({"name": "X", "address": {"line1": "x", "planet": "Mars"}}, "address.planet"),
    ({"name": "X", "address": "12 rue des Lilas"}, "address"),
    ({"name": "X", "portal_access": "yes"}, "portal_access"),
    ({"name": "X", "vip": True}, "vip"),
])
def test_bad_client_values_name_the_field(client: TestClient, body: dict[str, Any],
                                          field: str) -> None:
    ann = new_person(client, "Ann")
    org = new_organization(client, ann)["id"]
    r = client.post(f"{base(org)}/clients", json=body, headers=ann.headers)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert field_of(r) == field, r.json()


def test_patch_null_on_required_fields_is_refused(client: TestClient) -> None:
    ann = new_person(client, "Ann")
    org = new_organization(client, ann)["id"]
    made = add_client(client, ann, org)
    for body in ({"name": None}, {"portal_access": None}, {"address": {"line1": None}}):
        r = client.patch(f"{base(org)}/clients/{made['id']}", json=body, headers=ann.headers)
        assert r.status_code == 422, (body, r.text)


def test_who_manages_and_who_reads_clients(client: TestClient) -> None:
    ann, max_, cid, org = staffed_org(client)
    eve = new_person(client, "Eve")
    new_organization(client, eve)
    made = add_client(client, max_, org, "Made by a Manager")
    url = f"{base(org)}/clients/{made['id']}"
    for method, path, body in (
        ("POST", f"{base(org)}/clients", {"name": "Mine"}),
        ("PATCH", url, {"name": "Hijacked"}),
        ("POST", f"{url}/archive", None),
        ("POST", f"{url}/restore", None),
        ("POST", f"{url}/portal-users", {"user_id": cid.id}),
        ("DELETE", f"{url}/portal-users/{cid.id}", None),
    ):
        r = client.request(method, path, json=body, headers=cid.headers)
        assert r.status_code == 403, (method, path, r.text)
        r = client.request(method, path, json=body, headers=eve.headers)
        assert r.status_code == 404, (method, path, r.text)  # another tenant: not found
    # Staff and Contributors read clients; strangers do not.
    assert get(client, cid, url, made["position"]).status_code == 200
    assert get(client, cid, f"{base(org)}/clients", made["position"]).status_code == 200
    assert get(client, eve, url, made["position"]).status_code == 404
    assert get(client, eve, f"{base(org)}/clients", made["position"]).status_code == 404
    # The right id under the wrong organization does not exist either.
    eves_org = new_organization(client, eve)["id"]
    r = get(client, eve, f"{base(eves_org)}/clients/{made['id']}", made["position"])
    assert r.status_code == 404
    r = client.patch(f"{base(eves_org)}/clients/{made['id']}", json={"name": "x"},
                     headers=eve.headers)
    assert r.status_code == 404
    assert get(client, ann, f"{base(org)}/clients/{uuid.uuid4()}", None).status_code == 404


def test_if_match_and_idempotency(client: TestClient) -> None:
    ann = new_person(client, "Ann")
    org = new_organization(client, ann)["id"]
    made = add_client(client, ann, org)
    url = f"{base(org)}/clients/{made['id']}"
    r = client.patch(url, json={"phone": "12345"}, headers={**ann.headers, "If-Match": '"1"'})
    assert r.status_code == 200 and r.headers["etag"] == '"2"'
    r = client.patch(url, json={"phone": "67890"}, headers={**ann.headers, "If-Match": '"1"'})
    assert r.status_code == 412
    r = client.post(f"{url}/archive", headers={**ann.headers, "If-Match": '"1"'})
    assert r.status_code == 412
    r = client.post(f"{base(org)}/clients", json={"name": "New"},
                    headers={**ann.headers, "If-Match": '"1"'})
    assert r.status_code == 412

    key = {"Idempotency-Key": f"client-{uuid.uuid4()}"}
    first = client.post(f"{base(org)}/clients", json={"name": "Once"},
                        headers={**ann.headers, **key})
    again = client.post(f"{base(org)}/clients", json={"name": "Once"},
                        headers={**ann.headers, **key})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    r = client.post(f"{base(org)}/clients", json={"name": "Other"},
                    headers={**ann.headers, **key})
    assert r.status_code == 422 and kind_of(r) == "idempotency-key-reused"


# --- portal users --------------------------------------------------------------------------

def test_portal_user_links(client: TestClient) -> None:
    ann, _, cid, org = staffed_org(client)
    acme = add_client(client, ann, org, "Acme")
    globex = add_client(client, ann, org, "Globex")
    closed = add_client(client, ann, org, "Closed", portal_access=False)
    carl, dan = new_person(client, "Carl"), new_person(client, "Dan")
    add_member(client, ann, org, carl, "Client")

    def link(client_id: str, user_id: str) -> Any:
        return client.post(f"{base(org)}/clients/{client_id}/portal-users",
                           json={"user_id": user_id}, headers=ann.headers)

    r = link(acme["id"], cid.id)
    assert r.status_code == 409 and kind_of(r) == "portal-user-not-client"
    assert field_of(r) == "user_id"
    r = link(acme["id"], dan.id)
    assert r.status_code == 404 and field_of(r) == "user_id"  # not a member
    r = link(closed["id"], carl.id)
    assert r.status_code == 409 and kind_of(r) == "portal-access-disabled"
    r = link(acme["id"], carl.id)
    assert r.status_code == 201 and r.json()["version"] == 2, r.text
    linked = r.json()["position"]
    r = link(acme["id"], carl.id)
    assert r.status_code == 409 and kind_of(r) == "portal-user-already-linked"
    r = link(globex["id"], carl.id)  # at most one client per organization
    assert r.status_code == 409 and kind_of(r) == "portal-user-already-linked"

    detail = ClientDetail.model_validate(
        get(client, ann, f"{base(org)}/clients/{acme['id']}", linked).json())
    assert [(u.user_id, u.name) for u in detail.portal_users] == [(uuid.UUID(carl.id), "Carl")]

    r = client.delete(f"{base(org)}/clients/{acme['id']}/portal-users/{carl.id}",
                      headers=ann.headers)
    assert r.status_code == 200, r.text
    r = client.delete(f"{base(org)}/clients/{acme['id']}/portal-users/{carl.id}",
                      headers=ann.headers)
    assert r.status_code == 404 and kind_of(r) == "portal-user-not-linked"
    r = link(globex["id"], carl.id)  # the claim was released
    assert r.status_code == 201, r.text
    body = get(client, ann, f"{base(org)}/clients/{acme['id']}", r.json()["position"]).json()
    assert body["portal_users"] == []
    body = get(client, ann, f"{base(org)}/clients/{globex['id']}", r.json()["position"]).json()
    assert [u["user_id"] for u in body["portal_users"]] == [carl.id]


def test_unlinking_works_on_an_archived_client(client: TestClient) -> None:
    ann = new_person(client, "Ann")
    org = new_organization(client, ann)["id"]
    acme = add_client(client, ann, org)
    carl, _ = add_portal_user(client, ann, org, acme["id"])
    assert client.post(f"{base(org)}/clients/{acme['id']}/archive",
                       headers=ann.headers).status_code == 200
    r = client.delete(f"{base(org)}/clients/{acme['id']}/portal-users/{carl.id}",
                      headers=ann.headers)
    assert r.status_code == 200, r.text


def test_linked_projects_are_listed(client: TestClient) -> None:
    ann = new_person(client, "Ann")
    org = new_organization(client, ann)["id"]
    acme = add_client(client, ann, org)
    first = add_client_project(client, ann, org, acme["id"])
    second = add_client_project(client, ann, org, acme["id"])
    add_client_project(client, ann, org, None)
    position = max(first["position"], second["position"])
    body = get(client, ann, f"{base(org)}/clients/{acme['id']}", position).json()
    assert body["project_ids"] == sorted([first["id"], second["id"]])


# --- proposals ------------------------------------------------------------------------------

def new_proposal(client: TestClient, who: Person, org: str, client_id: str,
                 **fields: Any) -> dict[str, Any]:
    r = client.post(f"{base(org)}/clients/{client_id}/proposals",
                    json={"title": "Phase 2", **fields}, headers=who.headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


def act(client: TestClient, who: Person, org: str, proposal_id: str, action: str,
        body: dict[str, Any] | None = None) -> Any:
    return client.post(f"{base(org)}/proposals/{proposal_id}/{action}", json=body,
                       headers=who.headers)


def test_proposal_lifecycle(client: TestClient) -> None:
    ann, max_, _, org = staffed_org(client)
    acme = add_client(client, ann, org)
    project = add_client_project(client, ann, org, acme["id"])
    made = new_proposal(client, max_, org, acme["id"], content="Shop and blog",
                        amount="18500.5", project_id=project["id"])
    url = f"{base(org)}/proposals/{made['id']}"
    r = get(client, ann, url, made["position"])
    assert r.status_code == 200 and r.headers["etag"] == '"1"', r.text
    body = ProposalView.model_validate(r.json()).model_dump(mode="json")
    assert body["status"] == "DRAFT" and r.json()["amount"] == "18500.50"
    assert body["project_id"] == project["id"] and body["sent_at"] is None

    r = client.patch(url, json={"title": " Phase 2b ", "amount": None, "content": None},
                     headers=ann.headers)
    assert r.status_code == 200 and r.json()["version"] == 2, r.text
    r = act(client, ann, org, made["id"], "send")
    assert r.status_code == 200, r.text
    body = get(client, ann, url, r.json()["position"]).json()
    assert (body["title"], body["amount"], body["content"], body["status"]) == (
        "Phase 2b", None, None, "SENT")
    assert body["sent_at"] is not None and body["closed_at"] is None

    r = client.patch(url, json={"title": "Too late"}, headers=ann.headers)
    assert r.status_code == 409 and kind_of(r) == "proposal-not-editable"
    r = act(client, ann, org, made["id"], "send")
    assert r.status_code == 409 and kind_of(r) == "illegal-proposal-transition"
    r = act(client, ann, org, made["id"], "reject", {"reason": "Over budget"})
    assert r.status_code == 200, r.text
    body = get(client, ann, url, r.json()["position"]).json()
    assert body["status"] == "REJECTED" and body["rejection_reason"] == "Over budget"
    assert body["closed_at"] is not None
    for action in ("accept", "withdraw", "send", "reject"):
        r = act(client, ann, org, made["id"], action)
        assert r.status_code == 409 and kind_of(r) == "illegal-proposal-transition", action


def test_illegal_transitions_from_draft(client: TestClient) -> None:
    ann = new_person(client, "Ann")
    org = new_organization(client, ann)["id"]
    acme = add_client(client, ann, org)
    draft = new_proposal(client, ann, org, acme["id"])
    for action in ("accept", "reject"):
        r = act(client, ann, org, draft["id"], action)
        assert r.status_code == 409 and kind_of(r) == "illegal-proposal-transition"
    r = act(client, ann, org, draft["id"], "withdraw")
    assert r.status_code == 200
    r = act(client, ann, org, draft["id"], "send")
    assert r.status_code == 409
    accepted = new_proposal(client, ann, org, acme["id"], amount=0)
    assert act(client, ann, org, accepted["id"], "send").status_code == 200
    r = act(client, ann, org, accepted["id"], "accept")
    assert r.status_code == 200
    assert act(client, ann, org, accepted["id"], "withdraw").status_code == 409


def test_proposals_list_by_status(client: TestClient) -> None:
    ann = new_person(client, "Ann")
    org = new_organization(client, ann)["id"]
    acme, globex = add_client(client, ann, org), add_client(client, ann, org)
    drafts = [new_proposal(client, ann, org, acme["id"]) for _ in range(3)]
    sent = new_proposal(client, ann, org, acme["id"])
    new_proposal(client, ann, org, globex["id"])
    position = act(client, ann, org, sent["id"], "send").json()["position"]
    url = f"{base(org)}/clients/{acme['id']}/proposals"
    r = get(client, ann, url, position)
    page = Page[ProposalView].model_validate(r.json())
    assert [str(p.id) for p in page.items] == [sent["id"], *[d["id"] for d in drafts[::-1]]]
    r = get(client, ann, url, position, status="SENT")
    assert [p["id"] for p in r.json()["items"]] == [sent["id"]]
    r = get(client, ann, url, position, status="DRAFT", limit=2)
    assert len(r.json()["items"]) == 2 and r.json()["next_cursor"]
    r = get(client, ann, url, position, status="DRAFT", cursor=r.json()["next_cursor"])
    assert [p["id"] for p in r.json()["items"]] == [drafts[0]["id"]]
    r = get(client, ann, url, position, status="sent")
    assert r.status_code == 422 and field_of(r) == "status"
    r = get(client, ann, f"{base(org)}/clients/{uuid.uuid4()}/proposals", position)
    assert r.status_code == 404


def test_a_proposals_project_is_linked_to_its_client(client: TestClient) -> None:
    ann = new_person(client, "Ann")
    org = new_organization(client, ann)["id"]
    acme, globex = add_client(client, ann, org), add_client(client, ann, org)
    theirs = add_client_project(client, ann, org, globex["id"])
    unlinked = add_client_project(client, ann, org, None)
    for project in (theirs, unlinked):
        r = client.post(f"{base(org)}/clients/{acme['id']}/proposals",
                        json={"title": "X", "project_id": project["id"]}, headers=ann.headers)
        assert r.status_code == 404 and field_of(r) == "project_id", r.text
    other_org = new_organization(client, ann)["id"]
    elsewhere = add_client_project(client, ann, other_org, None)
    r = client.post(f"{base(org)}/clients/{acme['id']}/proposals",
                    json={"title": "X", "project_id": elsewhere["id"]}, headers=ann.headers)
    assert r.status_code == 404 and field_of(r) == "project_id"
    r = client.post(f"{base(org)}/clients/{uuid.uuid4()}/proposals", json={"title": "X"},
                    headers=ann.headers)
    assert r.status_code == 404


@pytest.mark.parametrize(("body", "field"), [
    ({"title": ""}, "title"),
    ({"title": "x" * 201}, "title"),
    ({"title": "X", "amount": "0.001"}, "amount"),
    ({"title": "X", "amount": -1}, "amount"),
    ({"title": "X", "amount": "1e16"}, "amount"),
    ({"title": "X", "amount": True}, "amount"),
    ({"title": "X", "content": "x" * 20_001}, "content"),
    ({"title": "X", "project_id": "not-a-uuid"}, "project_id"),
    ({"title": "X", "status": "SENT"}, "status"),
])
def test_bad_proposal_values_name_the_field(client: TestClient, body: dict[str, Any],
                                            field: str) -> None:
    ann = new_person(client, "Ann")
    org = new_organization(client, ann)["id"]
    acme = add_client(client, ann, org)
    r = client.post(f"{base(org)}/clients/{acme['id']}/proposals", json=body,
                    headers=ann.headers)
    assert r.status_code == 422, r.text
    assert field_of(r) == field, r.json()


def test_who_manages_proposals(client: TestClient) -> None:
    ann, _, cid, org = staffed_org(client)
    acme = add_client(client, ann, org)
    made = new_proposal(client, ann, org, acme["id"])
    r = client.post(f"{base(org)}/clients/{acme['id']}/proposals", json={"title": "X"},
                    headers=cid.headers)
    assert r.status_code == 403
    for action in ("send", "withdraw", "accept", "reject"):
        assert act(client, cid, org, made["id"], action).status_code == 403, action
    r = client.patch(f"{base(org)}/proposals/{made['id']}", json={"title": "Y"},
                     headers=cid.headers)
    assert r.status_code == 403
    # Contributors do not see proposals at all.
    assert get(client, cid, f"{base(org)}/proposals/{made['id']}",
               made["position"]).status_code == 404
    assert get(client, cid, f"{base(org)}/clients/{acme['id']}/proposals",
               made["position"]).status_code == 404
    # Archived clients get no new proposals, and nothing is sent to them.
    archived = client.post(f"{base(org)}/clients/{acme['id']}/archive", headers=ann.headers)
    assert archived.status_code == 200
    r = client.post(f"{base(org)}/clients/{acme['id']}/proposals", json={"title": "X"},
                    headers=ann.headers)
    assert r.status_code == 409 and kind_of(r) == "client-archived"
    r = act(client, ann, org, made["id"], "send")
    assert r.status_code == 409 and kind_of(r) == "client-archived"


def test_proposal_if_match_and_idempotency(client: TestClient) -> None:
    ann = new_person(client, "Ann")
    org = new_organization(client, ann)["id"]
    acme = add_client(client, ann, org)
    made = new_proposal(client, ann, org, acme["id"])
    r = client.post(f"{base(org)}/proposals/{made['id']}/send",
                    headers={**ann.headers, "If-Match": '"2"'})
    assert r.status_code == 412
    key = {"Idempotency-Key": f"send-{uuid.uuid4()}"}
    first = client.post(f"{base(org)}/proposals/{made['id']}/send",
                        headers={**ann.headers, **key, "If-Match": '"1"'})
    again = client.post(f"{base(org)}/proposals/{made['id']}/send",
                        headers={**ann.headers, **key, "If-Match": '"1"'})
    assert first.status_code == again.status_code == 200, first.text
    assert first.json() == again.json()


# --- feedback -------------------------------------------------------------------------------

def test_feedback_given_edited_and_answered(client: TestClient) -> None:
    ann, max_, cid, org = staffed_org(client)
    acme = add_client(client, ann, org)
    project = add_client_project(client, ann, org, acme["id"])
    carl, _ = add_portal_user(client, ann, org, acme["id"], "Carl")

    r = client.post(f"{base(org)}/clients/{acme['id']}/feedback",
                    json={"rating": 4, "comment": "Good", "project_id": project["id"]},
                    headers=carl.headers)
    assert r.status_code == 201, r.text
    mine = r.json()
    r = client.post(f"{base(org)}/clients/{acme['id']}/feedback",
                    json={"rating": 2, "comment": "Told us on the phone"},
                    headers=max_.headers)
    assert r.status_code == 201, r.text
    on_behalf = r.json()

    url = f"{base(org)}/feedback/{mine['id']}"
    body = FeedbackView.model_validate(get(client, ann, url, on_behalf["position"]).json())
    assert (body.rating, body.comment, str(body.author_id)) == (4, "Good", carl.id)
    assert str(body.project_id) == project["id"] and body.response is None

    r = client.patch(url, json={"rating": 5, "comment": None}, headers=carl.headers)
    assert r.status_code == 200 and r.json()["version"] == 2, r.text
    r = client.patch(url, json={"rating": 1}, headers=ann.headers)
    assert r.status_code == 403 and kind_of(r) == "not-your-feedback"
    r = client.put(f"{url}/response", json={"response": "Thank you!"}, headers=carl.headers)
    assert r.status_code == 403
    r = client.put(f"{url}/response", json={"response": "Thank you!"}, headers=cid.headers)
    assert r.status_code == 403
    r = client.put(f"{url}/response", json={"response": " Thank you! "}, headers=max_.headers)
    assert r.status_code == 200, r.text
    body = FeedbackView.model_validate(get(client, ann, url, r.json()["position"]).json())
    assert (body.rating, body.comment, body.response) == (5, None, "Thank you!")
    assert str(body.responder_id) == max_.id and body.responded_at is not None

    position = r.json()["position"]
    r = get(client, ann, f"{base(org)}/clients/{acme['id']}/feedback", position)
    page = Page[FeedbackView].model_validate(r.json())
    assert [str(f.id) for f in page.items] == [on_behalf["id"], mine["id"]]
    r = get(client, ann, f"{base(org)}/projects/{project['id']}/feedback", position)
    assert [f["id"] for f in Page[FeedbackView].model_validate(r.json()).model_dump(
        mode="json")["items"]] == [mine["id"]]
    # A Contributor sees the feedback on the projects they see, and no other.
    assert get(client, cid, url, position).status_code == 404
    assert get(client, cid, f"{base(org)}/projects/{project['id']}/feedback",
               position).status_code == 404
    r = get(client, cid, f"{base(org)}/clients/{acme['id']}/feedback", position)
    assert r.status_code == 200 and r.json()["items"] == []
    joined = client.post(f"{base(org)}/projects/{project['id']}/members",
                         json={"user_id": cid.id, "role": "Member"}, headers=ann.headers)
    assert joined.status_code == 201, joined.text
    position = joined.json()["position"]
    assert get(client, cid, url, position).status_code == 200
    r = get(client, cid, f"{base(org)}/clients/{acme['id']}/feedback", position)
    assert [f["id"] for f in r.json()["items"]] == [mine["id"]]
    assert get(client, cid, f"{base(org)}/feedback/{on_behalf['id']}",
               position).status_code == 404


def test_feedback_rules(client: TestClient) -> None:
    ann, _, cid, org = staffed_org(client)
    acme = add_client(client, ann, org)
    unlinked = add_client_project(client, ann, org, None)
    url = f"{base(org)}/clients/{acme['id']}/feedback"
    for body, field in (({"rating": 0}, "rating"), ({"rating": 6}, "rating"),
                        ({"rating": True}, "rating"), ({"rating": "5"}, "rating"),
                        ({"rating": 4.5}, "rating"), ({}, "rating"),
                        ({"rating": 3, "comment": "x" * 5001}, "comment"),
                        ({"rating": 3, "author_id": ann.id}, "author_id")):
        r = client.post(url, json=body, headers=ann.headers)
        assert r.status_code == 422 and field_of(r) == field, (body, r.text)
    r = client.post(url, json={"rating": 3, "project_id": unlinked["id"]}, headers=ann.headers)
    assert r.status_code == 404 and field_of(r) == "project_id"
    r = client.post(url, json={"rating": 3}, headers=cid.headers)
    assert r.status_code == 403
    r = client.post(f"{base(org)}/clients/{uuid.uuid4()}/feedback", json={"rating": 3},
                    headers=ann.headers)
    assert r.status_code == 404
    made = client.post(url, json={"rating": 3}, headers=ann.headers).json()
    r = client.put(f"{base(org)}/feedback/{made['id']}/response", json={"response": "  "},
                   headers=ann.headers)
    assert r.status_code == 422 and field_of(r) == "response"
    r = client.patch(f"{base(org)}/feedback/{made['id']}", json={"rating": None},
                     headers=ann.headers)
    assert r.status_code == 422 and field_of(r) == "rating"
    r = client.patch(f"{base(org)}/feedback/{made['id']}", json={"rating": 3},
                     headers={**ann.headers, "If-Match": '"7"'})
    assert r.status_code == 412
    key = {"Idempotency-Key": f"feedback-{uuid.uuid4()}"}
    r = client.post(url, content=b'{"rating": 4.0}', headers={
        **ann.headers, "content-type": "application/json"})
    assert r.status_code == 201, r.text  # JSON Schema's integer: a whole number
    first = client.post(url, json={"rating": 5}, headers={**ann.headers, **key})
    again = client.post(url, json={"rating": 5}, headers={**ann.headers, **key})
    assert first.status_code == again.status_code == 201 and first.json() == again.json()


# --- what an archived client still allows, and a project's own client -----------------------

def test_nothing_is_attached_to_an_archived_client(client: TestClient) -> None:
    """domain/client.py: attaching is refused while archived; detaching and closing are
    not."""
    ann, max_, _, org = staffed_org(client)
    acme = add_client(client, ann, org)
    carl, _ = add_portal_user(client, ann, org, acme["id"], "Carl")
    project = add_client_project(client, ann, org, acme["id"])
    other = add_client_project(client, ann, org, None)
    sent, draft = (new_proposal(client, ann, org, acme["id"]) for _ in range(2))
    assert act(client, ann, org, sent["id"], "send").status_code == 200
    r = client.post(f"{base(org)}/clients/{acme['id']}/feedback", json={"rating": 3},
                    headers=max_.headers)
    assert r.status_code == 201, r.text
    given = r.json()
    assert client.post(f"{base(org)}/clients/{acme['id']}/archive",
                       headers=ann.headers).status_code == 200

    projects = f"{base(org)}/projects"
    for method, url, body in (
        ("POST", f"{base(org)}/clients/{acme['id']}/feedback", {"rating": 4}),
        ("POST", f"{base(org)}/clients/{acme['id']}/proposals", {"title": "More"}),
        ("POST", f"{base(org)}/proposals/{draft['id']}/send", None),
        ("POST", f"{projects}/{other['id']}/clients", {"client_id": acme["id"]}),
        ("POST", projects, {"name": f"For Acme {uuid.uuid4().hex[:6]}",
                            "client_id": acme["id"]}),
        ("PATCH", f"{projects}/{other['id']}", {"client_id": acme["id"]}),
    ):
        r = client.request(method, url, json=body, headers=ann.headers)
        assert r.status_code == 409 and kind_of(r) == "client-archived", (url, r.text)
    # Its portal is closed: its user is told it does not exist.
    r = client.post(f"{base(org)}/clients/{acme['id']}/feedback", json={"rating": 4},
                    headers=carl.headers)
    assert r.status_code == 404

    # Closing and detaching what was attached before the archive stays possible.
    for r in (
        act(client, ann, org, draft["id"], "withdraw"),
        act(client, ann, org, sent["id"], "reject", {"reason": "Said so by phone"}),
        client.patch(f"{base(org)}/feedback/{given['id']}", json={"rating": 2},
                     headers=max_.headers),
        client.put(f"{base(org)}/feedback/{given['id']}/response", json={"response": "Noted"},
                   headers=ann.headers),
        client.delete(f"{projects}/{project['id']}/clients/{acme['id']}", headers=ann.headers),
        client.delete(f"{base(org)}/clients/{acme['id']}/portal-users/{carl.id}",
                      headers=ann.headers),
    ):
        assert r.status_code == 200, (r.request.url, r.text)
    body = ClientDetail.model_validate(get(client, ann, f"{base(org)}/clients/{acme['id']}",
                                           r.json()["position"]).json())
    assert body.project_ids == [] and body.portal_users == [] and body.archived

    restored = client.post(f"{base(org)}/clients/{acme['id']}/restore", headers=ann.headers)
    assert restored.status_code == 200
    r = client.post(f"{projects}/{other['id']}/clients", json={"client_id": acme["id"]},
                    headers=ann.headers)
    assert r.status_code == 201, r.text


def test_what_is_attached_moves_the_clients_version(client: TestClient) -> None:
    """Attaching is recorded on the client (so a concurrent archive conflicts with it): its
    version, ETag and If-Match follow."""
    ann = new_person(client, "Ann")
    org = new_organization(client, ann)["id"]
    acme = add_client(client, ann, org)  # version 1
    url = f"{base(org)}/clients/{acme['id']}"
    project = add_client_project(client, ann, org, acme["id"])  # 2
    proposal = new_proposal(client, ann, org, acme["id"])  # 3
    assert act(client, ann, org, proposal["id"], "send").status_code == 200  # 4
    r = client.post(f"{url}/feedback", json={"rating": 5}, headers=ann.headers)  # 5
    assert r.status_code == 201
    r = client.delete(f"{base(org)}/projects/{project['id']}/clients/{acme['id']}",
                      headers=ann.headers)  # 6
    assert r.status_code == 200
    r = get(client, ann, url, r.json()["position"])
    assert r.json()["version"] == 6 and r.headers["etag"] == '"6"'
    r = client.patch(url, json={"phone": "12345"}, headers={**ann.headers, "If-Match": '"1"'})
    assert r.status_code == 412
    r = client.patch(url, json={"phone": "12345"}, headers={**ann.headers, "If-Match": '"6"'})
    assert r.status_code == 200 and r.json()["version"] == 7


def test_replacing_or_clearing_a_projects_client_unlinks_it(client: TestClient) -> None:
    ann = new_person(client, "Ann")
    org = new_organization(client, ann)["id"]
    acme, globex = add_client(client, ann, org), add_client(client, ann, org)
    carl, _ = add_portal_user(client, ann, org, acme["id"], "Carl")
    gina, _ = add_portal_user(client, ann, org, globex["id"], "Gina")
    project = add_client_project(client, ann, org, acme["id"])
    url = f"{base(org)}/projects/{project['id']}"
    assert get(client, carl, url, project["position"]).status_code == 200
    assert get(client, gina, url, project["position"]).status_code == 404

    def clients_of(position: int) -> tuple[Any, list[str], dict[str, list[str]]]:
        body = get(client, ann, url, position).json()
        linked = {c["id"]: [str(p) for p in ClientDetail.model_validate(get(
            client, ann, f"{base(org)}/clients/{c['id']}", position).json()).project_ids]
            for c in (acme, globex)}
        return body["client_id"], body["client_ids"], linked

    r = client.patch(url, json={"client_id": globex["id"]}, headers=ann.headers)
    assert r.status_code == 200, r.text
    position = r.json()["position"]
    # Acme's portal user loses the project, Globex's gains it.
    assert get(client, carl, url, position).status_code == 404
    assert get(client, gina, url, position).status_code == 200
    assert clients_of(position) == (globex["id"], [globex["id"]],
                                    {acme["id"]: [], globex["id"]: [project["id"]]})

    r = client.patch(url, json={"client_id": None}, headers=ann.headers)
    assert r.status_code == 200, r.text
    position = r.json()["position"]
    assert get(client, gina, url, position).status_code == 404
    assert clients_of(position) == (None, [], {acme["id"]: [], globex["id"]: []})
