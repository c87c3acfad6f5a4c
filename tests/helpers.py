"""Small HTTP helpers for tests: register people, log in, create organizations."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient


@dataclass
class Person:
    id: str
    email: str
    token: str
    registered_at: int  # log position of the registration

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def new_person(client: TestClient, name: str = "Person") -> Person:
    email = f"{name.lower()}-{uuid.uuid4().hex[:12]}@example.test"
    r = client.post("/v1/auth/register", json={"email": email, "name": name,
                                                "password": "correct horse battery"})
    assert r.status_code == 201, r.text
    position = r.json()["position"]
    r = client.post("/v1/auth/login", json={"email": email, "password": "correct horse battery"})
    assert r.status_code == 200, r.text
    return Person(r.json()["user_id"], email, r.json()["access_token"], position)


def new_organization(client: TestClient, owner: Person) -> dict[str, Any]:
    slug = f"org-{uuid.uuid4().hex[:12]}"
    r = client.post("/v1/organizations", json={"name": f"Org {slug}", "slug": slug},
                    headers=owner.headers)
    assert r.status_code == 201, r.text
    return r.json()


def add_member(client: TestClient, owner: Person, organization_id: str, person: Person,
               role: str) -> dict[str, Any]:
    r = client.post(f"/v1/organizations/{organization_id}/members",
                    json={"user_id": person.id, "role": role}, headers=owner.headers)
    assert r.status_code == 201, r.text
    return r.json()


def fresh(position: int | None) -> dict[str, str]:
    """Headers that make a query wait until it reflects ``position``."""
    return {"X-Min-Position": str(position)} if position is not None else {}


def new_client(runtime: Any, organization_id: str, name: str = "Client", *,
               archived: bool = False) -> dict[str, Any]:
    """A client of the organization saved straight through the application (its name
    claim is the client commands' business, not needed here): its id and log position."""
    from domain.base import CommandContext
    from domain.client import Client

    organization = uuid.UUID(organization_id)
    meta = CommandContext(actor_id=None, organization_id=organization).meta
    client = Client.create(id=uuid.uuid4(), organization_id=organization,
                           name=f"{name} {uuid.uuid4().hex[:8]}", meta=meta)
    if archived:
        client.archive(meta)
    recordings = runtime.app.save(client)
    return {"id": str(client.id), "position": max(r.notification.id for r in recordings)}


# --- the client context ---------------------------------------------------------------------

def add_client(client: TestClient, owner: Person, organization_id: str,
               name: str | None = None, **fields: Any) -> dict[str, Any]:
    """A new client of the organization (portal access on unless ``fields`` say
    otherwise); the command's answer."""
    body = {"name": name or f"Client {uuid.uuid4().hex[:8]}", "portal_access": True, **fields}
    r = client.post(f"/v1/organizations/{organization_id}/clients", json=body,
                    headers=owner.headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


def add_portal_user(client: TestClient, owner: Person, organization_id: str,
                    client_id: str, name: str = "Portal") -> tuple[Person, int]:
    """A new person, member of the organization with the Client role, linked to the
    client; and the log position of the link."""
    person = new_person(client, name)
    add_member(client, owner, organization_id, person, "Client")
    r = client.post(f"/v1/organizations/{organization_id}/clients/{client_id}/portal-users",
                    json={"user_id": person.id}, headers=owner.headers)
    assert r.status_code == 201, r.text
    return person, int(r.json()["position"])


def add_client_project(client: TestClient, owner: Person, organization_id: str,
                       client_id: str | None, name: str | None = None) -> dict[str, Any]:
    """A new project of the organization, for the client (linked to it) when one is
    given; the command's answer."""
    body: dict[str, Any] = {"name": name or f"Project {uuid.uuid4().hex[:8]}"}
    if client_id is not None:
        body["client_id"] = client_id
    r = client.post(f"/v1/organizations/{organization_id}/projects", json=body,
                    headers=owner.headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


# --- channels and messages ------------------------------------------------------------------

def new_channel(client: TestClient, who: Person, organization_id: str,
                **body: Any) -> dict[str, Any]:
    """A new channel (``body``: kind and its fields); the command's answer."""
    r = client.post(f"/v1/organizations/{organization_id}/channels", json=body,
                    headers=who.headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


def post_message(client: TestClient, who: Person, organization_id: str, channel_id: str,
                 content: str = "hello", **body: Any) -> dict[str, Any]:
    """A new message in the channel; the command's answer."""
    r = client.post(f"/v1/organizations/{organization_id}/channels/{channel_id}/messages",
                    json={"content": content, **body}, headers=who.headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


def race(attempts: list[Callable[[], Any]]) -> list[object]:
    """Run ``attempts`` at once (released together by a barrier); each one's result or
    the exception it raised, in order."""
    start = threading.Barrier(len(attempts))
    outcomes: list[object] = [None] * len(attempts)

    def run(index: int) -> None:
        start.wait()
        try:
            outcomes[index] = attempts[index]()
        except Exception as error:  # noqa: BLE001 - the outcome is what the test checks
            outcomes[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(attempts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def log_head(runtime: Any) -> int:
    """The log's head once the session's background writers are done with it. Departures
    (vistone/departures.py) append follow-up events a moment after a removal, which a
    test counting "nothing appended" must not take for its own request's."""
    deadline = time.monotonic() + 10
    while True:
        head = runtime.app.recorder.max_notification_id() or 0
        departures = runtime.departures
        if departures is None or departures.position() >= head or time.monotonic() > deadline:
            return int(head)
        time.sleep(0.02)
