"""A conversation with the assistant is its owner's alone, in the timeline too: nobody
else sees its rows, whatever their role; the owner does."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.helpers import add_member, fresh, new_organization, new_person


def test_conversation_activity_is_seen_by_its_owner_only(client: TestClient) -> None:
    ann, bob = new_person(client, "Ann"), new_person(client, "Bob")
    org = new_organization(client, ann)["id"]
    add_member(client, ann, org, bob, "Manager")
    started = client.post(f"/v1/organizations/{org}/assistant/conversations",
                          json={"title": "Salary questions"}, headers=bob.headers)
    assert started.status_code == 201, started.text
    conversation = started.json()["id"]
    asked = client.post(
        f"/v1/organizations/{org}/assistant/conversations/{conversation}/questions",
        json={"question": "What did we promise Northwind?"}, headers=bob.headers)
    assert asked.status_code == 201, asked.text
    position = asked.json()["position"]

    def conversation_rows(who: object, url: str) -> list[dict[str, object]]:
        r = client.get(url, params={"entity_id": conversation} if "organizations" in url
                       else {}, headers={**who.headers, **fresh(position)})  # type: ignore[attr-defined]
        assert r.status_code == 200, r.text
        assert r.headers["x-consistent"] == "true"
        return [e for e in r.json()["items"] if e["entity_id"] == conversation]

    activity = f"/v1/organizations/{org}/activity"
    assert conversation_rows(ann, activity) == []  # not even the Organizer
    mine = conversation_rows(bob, activity)
    assert [e["action"] for e in mine] == ["conversation.answered", "conversation.asked",
                                           "conversation.started"]
    # The title is what the person wrote: withheld, never copied into the timeline.
    started_row = mine[-1]
    title = next(c for c in started_row["changes"] if c["field"] == "title")  # type: ignore[union-attr]
    assert title == {"field": "title", "withheld": True} and "Salary" not in str(mine)
    assert len(conversation_rows(bob, "/v1/me/activity")) == 3
    # The Organizers' export is what they see; the operator's `vistone export` has all.
    assert conversation not in client.get(f"/v1/organizations/{org}/activity/export",
                                          headers=ann.headers).text
