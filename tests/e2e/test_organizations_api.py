from __future__ import annotations

from fastapi.testclient import TestClient

from tests.helpers import add_member, fresh, new_organization, new_person


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
    assert r.status_code == 422 and r.json()["field"] == "slug"
    r = client.post("/v1/organizations", json={"name": "x" * 2_000_000, "slug": "big"},
                    headers=ann.headers)
    assert r.status_code == 413
