"""Every cursor the API hands out is accepted back, whatever the names it is keyed by."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.helpers import Person, add_member, fresh, new_organization, new_person

# 200 characters of 4 bytes each in UTF-8: the longest name, in the widest encoding.
LONGEST_NAME = "\U0001f600" * 200


def follow(client: TestClient, person: Person, url: str, position: int) -> list[Any]:
    items: list[Any] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        r = client.get(url, params=params, headers={**person.headers, **fresh(position)})
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return items


def test_cursors_keyed_by_the_longest_non_ascii_names_are_accepted(
    client: TestClient,
) -> None:
    ann = new_person(client, "Ann")
    org = new_organization(client, ann)["id"]
    people = [new_person(client, f"P{i}") for i in range(3)]
    for letter, person in zip("abc", people, strict=True):
        add_member(client, ann, org, person, "Manager")
        r = client.patch("/v1/me", json={"name": LONGEST_NAME[:-1] + letter},
                         headers=person.headers)
        assert r.status_code == 200, r.text
    position = 0
    for i in range(3):
        r = client.post(f"/v1/organizations/{org}/projects",
                        json={"name": LONGEST_NAME[:-1] + str(i)}, headers=ann.headers)
        assert r.status_code == 201, r.text
        position = r.json()["position"]
    members = follow(client, ann, f"/v1/organizations/{org}/members", position)
    assert len(members) == 4
    projects = follow(client, ann, f"/v1/organizations/{org}/projects", position)
    assert len(projects) == 3
