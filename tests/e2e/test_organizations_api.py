from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response

from api.contract import Page
from api.routes.auth import Me, Token
from api.routes.organizations import Member, MyOrganization, OrganizationView
from tests.helpers import Person, add_member, fresh, new_organization, new_person


def fields(r: Response) -> list[str]:
    """The fields a 422 names."""
    body = r.json()
    return [e["field"] for e in body["errors"]] if "errors" in body else [body["field"]]


def read(client: TestClient, url: str, who: Person, position: int | None,
         **params: Any) -> Any:
    r = client.get(url, params=params, headers={**who.headers, **fresh(position)})
    assert r.status_code == 200, r.text
    return r.json()


def test_register_login_and_me(client: TestClient) -> None:
    ann = new_person(client, "Ann")
    r = client.get("/v1/me", headers={**ann.headers, **fresh(ann.registered_at)})
    assert r.status_code == 200
    assert r.json()["email"] == ann.email
    assert "password" not in r.text and "argon2" not in r.text


def test_email_is_unique_case_insensitively(client: TestClient) -> None:
    ann = new_person(client, "Ann")
    r = client.post("/v1/auth/register", json={"email": ann.email.upper(), "name": "Other",
                                                "password": "another password"})
    assert r.status_code == 409
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["field"] == "email"


def test_wrong_password_is_401(client: TestClient) -> None:
    ann = new_person(client, "Ann")
    r = client.post("/v1/auth/login", json={"email": ann.email, "password": "wrong password"})
    assert r.status_code == 401


def test_organization_lifecycle_and_last_organizer(client: TestClient) -> None:
    ann, bob = new_person(client, "Ann"), new_person(client, "Bob")
    org = new_organization(client, ann)
    added = add_member(client, ann, org["id"], bob, "Contributor")
    r = client.get(f"/v1/organizations/{org['id']}/members",
                   headers={**bob.headers, **fresh(added["position"])})
    assert r.status_code == 200
    assert {m["role"] for m in r.json()["items"]} == {"Organizer", "Contributor"}

    r = client.delete(f"/v1/organizations/{org['id']}/members/{ann.id}", headers=ann.headers)
    assert r.status_code == 409 and r.json()["type"].endswith("last-organizer")

    r = client.patch(f"/v1/organizations/{org['id']}", json={"name": "Renamed"},
                     headers=bob.headers)
    assert r.status_code == 403


def test_other_tenant_sees_404(client: TestClient) -> None:
    ann, eve = new_person(client, "Ann"), new_person(client, "Eve")
    org = new_organization(client, ann)
    r = client.get(f"/v1/organizations/{org['id']}", headers={**eve.headers,
                                                             **fresh(org["position"])})
    assert r.status_code == 404
    r = client.patch(f"/v1/organizations/{org['id']}", json={"name": "Mine"},
                     headers=eve.headers)
    assert r.status_code == 404


def test_if_match_and_idempotency(client: TestClient) -> None:
    ann = new_person(client, "Ann")
    org = new_organization(client, ann)
    url = f"/v1/organizations/{org['id']}"
    r = client.patch(url, json={"name": "One"}, headers={**ann.headers, "If-Match": '"1"'})
    assert r.status_code == 200 and r.headers["etag"] == '"2"'
    r = client.patch(url, json={"name": "Two"}, headers={**ann.headers, "If-Match": '"1"'})
    assert r.status_code == 412

    key = {"Idempotency-Key": "rename-three"}
    first = client.patch(url, json={"name": "Three"}, headers={**ann.headers, **key})
    again = client.patch(url, json={"name": "Three"}, headers={**ann.headers, **key})
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    other = client.patch(url, json={"name": "Four"}, headers={**ann.headers, **key})
    assert other.status_code == 422


def test_bad_input_is_a_named_4xx(client: TestClient) -> None:
    ann = new_person(client, "Ann")
    r = client.post("/v1/organizations", content=b"{not json",
                    headers={**ann.headers, "Content-Type": "application/json"})
    assert r.status_code in (400, 422)
    r = client.post("/v1/organizations", json={"name": "x"}, headers=ann.headers)
    assert r.status_code == 422 and "slug" in r.text
    r = client.post("/v1/organizations", json={"name": "x", "slug": "Bad Slug"},
                    headers=ann.headers)
    assert r.status_code == 422 and fields(r) == ["slug"]
    r = client.post("/v1/organizations", json={"name": "x" * 2_000_000, "slug": "big"},
                    headers=ann.headers)
    assert r.status_code == 413


def test_login_and_me_answer_their_models(client: TestClient) -> None:
    ann = new_person(client, "Ann")
    r = client.post("/v1/auth/login", json={"email": f"  {ann.email.upper()} ",
                                            "password": "correct horse battery"})
    assert r.status_code == 200, r.text
    token = Token.model_validate(r.json())
    assert (str(token.user_id), token.token_type) == (ann.id, "bearer")
    assert token.expires_in > 0
    org = new_organization(client, ann)
    r = client.get("/v1/me", headers={**ann.headers, **fresh(org["position"])})
    me = Me.model_validate(r.json())
    assert r.headers["etag"] == f'"{me.version}"'
    assert [(str(o.id), o.role.value) for o in me.organizations] == [(org["id"], "Organizer")]


def test_registration_states_its_rules(client: TestClient) -> None:
    email = f"Padded-{uuid.uuid4().hex[:8]}@Example.test"
    r = client.post("/v1/auth/register", json={"email": f" {email}\t", "name": "  Pad ",
                                                "password": "12345678", "phone": "+1 (555) 0100"})
    assert r.status_code == 201, r.text
    me = Me.model_validate(read(client, "/v1/me", _login(client, email, "12345678"),
                                r.json()["position"]))
    assert (me.email, me.name, me.phone) == (email.lower(), "Pad", "+1 (555) 0100")
    for body, field in (({"email": "no-at-sign.test"}, "email"),
                        ({"email": "two@@at.test"}, "email"),
                        ({"password": "short"}, "password"),
                        ({"phone": "call me"}, "phone"),
                        ({"name": "   "}, "name")):
        base = {"email": f"r-{uuid.uuid4().hex[:8]}@x.test", "name": "R",
                "password": "long enough"}
        r = client.post("/v1/auth/register", json={**base, **body})
        assert r.status_code == 422 and fields(r) == [field], (body, r.text)


def _login(client: TestClient, email: str, password: str) -> Person:
    r = client.post("/v1/auth/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    return Person(r.json()["user_id"], email, r.json()["access_token"], 0)


def test_my_organizations_are_paged_by_name(client: TestClient) -> None:
    ann = new_person(client, "Ann")
    created = [new_organization(client, ann) for _ in range(3)]
    r = client.delete(f"/v1/organizations/{created[1]['id']}", headers=ann.headers)
    assert r.status_code == 200, r.text
    position = r.json()["position"]
    first = Page[MyOrganization].model_validate(
        read(client, "/v1/organizations", ann, position, limit=1))
    assert first.next_cursor is not None
    second = Page[MyOrganization].model_validate(
        read(client, "/v1/organizations", ann, position, limit=1, cursor=first.next_cursor))
    assert second.next_cursor is None
    listed = [o for page in (first, second) for o in page.items]
    live = sorted((o for i, o in enumerate(created) if i != 1), key=lambda o: o["id"])
    assert sorted(str(o.id) for o in listed) == [o["id"] for o in live]
    assert [o.name for o in listed] == sorted(o.name for o in listed)
    assert {o.role for o in listed} == {"Organizer"}
    r = client.get(f"/v1/organizations/{created[1]['id']}", headers=ann.headers)
    assert r.status_code == 404


def test_get_organization_names_the_callers_role(client: TestClient) -> None:
    ann, bob = new_person(client, "Ann"), new_person(client, "Bob")
    org = new_organization(client, ann)
    added = add_member(client, ann, org["id"], bob, "Client")
    r = client.get(f"/v1/organizations/{org['id']}",
                   headers={**bob.headers, **fresh(added["position"])})
    view = OrganizationView.model_validate(r.json())
    # A client's portal shows the organization's name, not its settings.
    assert (view.my_role, view.settings, view.version) == ("Client", None, 2)
    assert r.headers["etag"] == '"2"'
    r = client.get(f"/v1/organizations/{org['id']}",
                   headers={**ann.headers, **fresh(added["position"])})
    view = OrganizationView.model_validate(r.json())
    assert (view.my_role, view.settings, view.version) == ("Organizer", {}, 2)


def test_members_are_paged_and_filtered_by_role(client: TestClient) -> None:
    ann, bob, cat = (new_person(client, n) for n in ("Ann", "Bob", "Cat"))
    org = new_organization(client, ann)["id"]
    add_member(client, ann, org, bob, "Manager")
    position = add_member(client, ann, org, cat, "Manager")["position"]
    url = f"/v1/organizations/{org}/members"
    page = Page[Member].model_validate(read(client, url, bob, position, limit=2))
    assert [m.name for m in page.items] == ["Ann", "Bob"] and page.next_cursor
    page = Page[Member].model_validate(read(client, url, bob, position,
                                            cursor=page.next_cursor))
    assert [(m.name, m.email) for m in page.items] == [("Cat", cat.email)]
    assert page.next_cursor is None
    managers = Page[Member].model_validate(read(client, url, bob, position, role="Manager"))
    assert sorted(str(m.user_id) for m in managers.items) == sorted([bob.id, cat.id])
    # Roles are the enum's values, exactly.
    r = client.get(url, params={"role": "manager"}, headers=bob.headers)
    assert r.status_code == 422 and fields(r) == ["role"]


def test_only_organizers_grant_change_or_remove_the_organizer_role(
    client: TestClient,
) -> None:
    ann, max_, bob, eve = (new_person(client, n) for n in ("Ann", "Max", "Bob", "Eve"))
    org = new_organization(client, ann)["id"]
    add_member(client, ann, org, max_, "Manager")
    members = f"/v1/organizations/{org}/members"
    # A Manager adds and manages the other roles...
    r = client.post(members, json={"email": bob.email.upper(), "role": "Contributor"},
                    headers=max_.headers)
    assert r.status_code == 201, r.text
    r = client.patch(f"{members}/{bob.id}", json={"role": "Client"}, headers=max_.headers)
    assert r.status_code == 200, r.text
    # ... but never the Organizer role, nor an Organizer.
    for method, url, body in (
        ("POST", members, {"user_id": eve.id, "role": "Organizer"}),
        ("PATCH", f"{members}/{bob.id}", {"role": "Organizer"}),
        ("PATCH", f"{members}/{ann.id}", {"role": "Contributor"}),
        ("PATCH", f"{members}/{ann.id}", {"role": "Organizer"}),
        ("DELETE", f"{members}/{ann.id}", None),
    ):
        r = client.request(method, url, json=body, headers=max_.headers)
        assert r.status_code == 403, (method, url, body, r.text)
    # An Organizer does.
    r = client.patch(f"{members}/{max_.id}", json={"role": "Organizer"}, headers=ann.headers)
    assert r.status_code == 200, r.text
    r = client.delete(f"{members}/{ann.id}", headers=max_.headers)
    assert r.status_code == 200, r.text
    r = client.get(members, headers={**max_.headers, **fresh(r.json()["position"])})
    assert {(m["user_id"], m["role"]) for m in r.json()["items"]} == {
        (max_.id, "Organizer"), (bob.id, "Client")}


def test_a_member_is_named_by_user_id_or_email(client: TestClient) -> None:
    ann, bob = new_person(client, "Ann"), new_person(client, "Bob")
    org = new_organization(client, ann)["id"]
    members = f"/v1/organizations/{org}/members"
    for body in ({"role": "Contributor"},
                 {"user_id": bob.id, "email": bob.email, "role": "Contributor"},
                 {"user_id": None, "role": "Contributor"},
                 {"user_id": bob.id, "role": "contributor"}):
        r = client.post(members, json=body, headers=ann.headers)
        assert r.status_code == 422, (body, r.text)
    r = client.post(members, json={"email": "nobody@example.test", "role": "Contributor"},
                    headers=ann.headers)
    assert r.status_code == 404 and r.json()["field"] == "email"
    r = client.post(members, json={"user_id": bob.id, "role": "Contributor"},
                    headers={**ann.headers, "If-Match": '"1"'})
    assert r.status_code == 201 and r.headers["etag"] == '"2"', r.text


def test_settings_follow_the_strict_json_rule(client: TestClient) -> None:
    ann = new_person(client, "Ann")
    url = f"/v1/organizations/{new_organization(client, ann)['id']}"
    settings = {"week": {"starts_on": "monday", "days": [1, 2, 3]}, "max": 2**63 - 1024,
                "ratio": 0.1, "off": None}
    r = client.patch(url, json={"settings": settings}, headers=ann.headers)
    assert r.status_code == 200, r.text
    view = OrganizationView.model_validate(read(client, url, ann, r.json()["position"]))
    assert view.settings == settings
    for bad in ({"_type_": 1}, {"big": 2**63 - 1023}, {"deep": {"_data_": []}}):
        r = client.patch(url, json={"settings": bad}, headers=ann.headers)
        assert r.status_code == 422 and fields(r) == ["settings"], (bad, r.text)
