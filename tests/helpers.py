"""Small HTTP helpers for tests: register people, log in, create organizations."""

from __future__ import annotations

import uuid
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
