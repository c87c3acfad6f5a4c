"""HTTP conventions shared by every resource: metadata on events, read-your-writes,
problem details, authentication."""

from __future__ import annotations

from uuid import UUID

from fastapi.testclient import TestClient

from tests.helpers import log_head, new_organization, new_person
from vistone.runtime import Runtime


def test_every_event_carries_who_when_and_why(client: TestClient, runtime: Runtime) -> None:
    ann = new_person(client, "Ann")
    r = client.post("/v1/organizations", json={"name": "Meta", "slug": f"m-{ann.id[:8]}"},
                    headers={**ann.headers, "X-Correlation-ID": "corr-123",
                             "User-Agent": "meta-test/1.0"})
    assert r.status_code == 201
    request_id = r.headers["x-request-id"]
    events = runtime.app.repository.event_store.get(UUID(r.json()["id"]))
    meta = next(iter(events)).meta
    assert meta["actor_id"] == ann.id
    assert meta["organization_id"] == r.json()["id"]
    assert meta["correlation_id"] == "corr-123"
    assert meta["causation_id"] == request_id
    assert meta["client_ip"]
    assert meta["user_agent"] == "meta-test/1.0"


def test_read_your_writes_waits_for_the_position(client: TestClient) -> None:
    ann = new_person(client, "Ann")
    org = new_organization(client, ann)
    r = client.patch(f"/v1/organizations/{org['id']}", json={"name": "Fresh name"},
                     headers=ann.headers)
    position = r.json()["position"]
    r = client.get(f"/v1/organizations/{org['id']}",
                   headers={**ann.headers, "X-Min-Position": str(position)})
    assert r.status_code == 200
    assert r.headers["x-consistent"] == "true"
    assert r.json()["name"] == "Fresh name"


def test_a_position_beyond_the_log_says_it_could_not_catch_up(
    client: TestClient, runtime: Runtime
) -> None:
    ann = new_person(client, "Ann")
    original = runtime.settings.read_wait_seconds
    object.__setattr__(runtime.settings, "read_wait_seconds", 0.2)
    try:
        r = client.get("/v1/organizations", headers={**ann.headers,
                                                     "X-Min-Position": str(10**12)})
    finally:
        object.__setattr__(runtime.settings, "read_wait_seconds", original)
    assert r.status_code == 200
    assert r.headers["x-consistent"] == "false"


def test_authentication_is_required_and_checked(client: TestClient) -> None:
    r = client.get("/v1/me")
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    r = client.get("/v1/me", headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401 and r.json()["type"].endswith("invalid-token")


def test_bad_path_ids_and_headers_are_4xx(client: TestClient) -> None:
    ann = new_person(client, "Ann")
    assert client.get("/v1/organizations/not-a-uuid", headers=ann.headers).status_code == 422
    org = new_organization(client, ann)
    r = client.patch(f"/v1/organizations/{org['id']}", json={"name": "x"},
                     headers={**ann.headers, "If-Match": "yesterday"})
    assert r.status_code == 400
    r = client.get("/v1/organizations", headers={**ann.headers, "X-Min-Position": "-3"})
    assert r.status_code == 400
    r = client.post("/v1/organizations", json={"name": "x", "slug": "abc", "extra": 1},
                    headers=ann.headers)
    assert r.status_code == 422 and "extra" in r.text


def test_a_retried_registration_appends_once(client: TestClient, runtime: Runtime) -> None:
    body = {"email": f"retry-{UUID(int=0).hex[:4]}-{id(client)}@x.test", "name": "R",
            "password": "password-123"}
    head_before = log_head(runtime)
    first = client.post("/v1/auth/register", json=body, headers={"Idempotency-Key": "k-1"})
    second = client.post("/v1/auth/register", json=body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    events = list(runtime.app.recorder.select_notifications(start=head_before + 1, limit=100))
    user_events = [n for n in events if n.originator_id == UUID(first.json()["id"])]
    assert len(user_events) == 1


def test_if_match_on_a_command_that_creates_is_412(client: TestClient, runtime: Runtime) -> None:
    """A record not created yet has no version for If-Match to match (RFC 9110)."""
    ann = new_person(client, "Ann")
    org = new_organization(client, ann)["id"]
    head = log_head(runtime)
    for url, body in ((f"/v1/organizations/{org}/projects", {"name": "Conditional"}),
                      ("/v1/organizations", {"name": "Cond", "slug": f"c-{ann.id[:8]}"})):
        r = client.post(url, json=body, headers={**ann.headers, "If-Match": '"1"'})
        assert r.status_code == 412, r.text
        assert r.json()["type"].endswith("/precondition-failed")
    assert log_head(runtime) == head
