from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.helpers import Person, add_member, fresh, new_organization, new_person


def orgs(org: dict[str, Any]) -> str:
    return f"/v1/organizations/{org['id']}"


def new_project(client: TestClient, owner: Person, org: dict[str, Any]) -> dict[str, Any]:
    r = client.post(f"{orgs(org)}/projects", json={"name": "Apollo"}, headers=owner.headers)
    assert r.status_code == 201, r.text
    return r.json()


def new_channel(client: TestClient, who: Person, org: dict[str, Any],
                **body: Any) -> dict[str, Any]:
    r = client.post(f"{orgs(org)}/channels", json=body, headers=who.headers)
    assert r.status_code == 201, r.text
    return r.json()


def post(client: TestClient, who: Person, org: dict[str, Any], channel_id: str,
         content: str = "hello", **body: Any) -> Any:
    return client.post(f"{orgs(org)}/channels/{channel_id}/messages",
                       json={"content": content, **body}, headers=who.headers)


def messages(client: TestClient, who: Person, org: dict[str, Any], channel_id: str,
             position: int | None, **params: Any) -> Any:
    return client.get(f"{orgs(org)}/channels/{channel_id}/messages", params=params,
                      headers={**who.headers, **fresh(position)})


def team(client: TestClient) -> tuple[Person, Person, dict[str, Any]]:
    ann, bob = new_person(client, "Ann"), new_person(client, "Bob")
    org = new_organization(client, ann)
    add_member(client, ann, org["id"], bob, "Contributor")
    return ann, bob, org


def test_project_channel_follows_project_visibility(client: TestClient) -> None:
    ann, bob, org = team(client)
    carol = new_person(client, "Carol")
    add_member(client, ann, org["id"], carol, "Contributor")
    project = new_project(client, ann, org)
    channel = new_channel(client, ann, org, kind="project", name="apollo-chat",
                          project_id=project["id"])
    url = f"{orgs(org)}/channels/{channel['id']}"

    # Bob does not see the project yet, so the channel does not exist for him.
    assert client.post(f"{url}/members", headers=bob.headers).status_code == 404
    r = client.get(url, headers={**bob.headers, **fresh(channel["position"])})
    assert r.status_code == 404
    # Nor may a non-member of the project create a channel for it.
    r = client.post(f"{orgs(org)}/channels", json={"kind": "project", "name": "x",
                                                   "project_id": project["id"]},
                    headers=bob.headers)
    assert r.status_code == 404

    r = client.post(f"{orgs(org)}/projects/{project['id']}/members",
                    json={"user_id": bob.id, "role": "Member"}, headers=ann.headers)
    assert r.status_code == 201, r.text
    joined = client.post(f"{url}/members", headers=bob.headers)
    assert joined.status_code == 201, joined.text
    assert client.post(f"{url}/members", headers=bob.headers).status_code == 409

    r = client.get(url, headers={**bob.headers, **fresh(joined.json()["position"])})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["kind"] == "project" and body["project_id"] == project["id"]
    assert {m["user_id"]: m["role"] for m in body["members"]} == {ann.id: "owner",
                                                                   bob.id: "member"}
    assert r.headers["etag"] == f'"{body["version"]}"'

    listed = client.get(f"{orgs(org)}/channels", headers=bob.headers).json()["items"]
    assert [c["id"] for c in listed] == [channel["id"]]
    carol_list = client.get(f"{orgs(org)}/channels", headers=carol.headers).json()["items"]
    assert carol_list == []
    # Adding someone who cannot see the project is refused.
    r = client.post(f"{url}/members", json={"user_id": carol.id}, headers=bob.headers)
    assert r.status_code == 403
    assert post(client, bob, org, channel["id"], "hi team").status_code == 201


def test_team_channel_join_leave_and_remove(client: TestClient) -> None:
    ann, bob, org = team(client)
    carol = new_person(client, "Carol")
    add_member(client, ann, org["id"], carol, "Contributor")
    channel = new_channel(client, bob, org, kind="team", name="general")
    url = f"{orgs(org)}/channels/{channel['id']}"

    assert client.post(f"{url}/members", headers=carol.headers).status_code == 201
    r = client.delete(f"{url}/members/{carol.id}", headers=carol.headers)
    assert r.status_code == 200
    assert client.delete(f"{url}/members/{carol.id}", headers=carol.headers).status_code == 404
    # Bob, the owner, adds Carol; Carol cannot remove Bob, Bob can remove Carol.
    r = client.post(f"{url}/members", json={"user_id": carol.id}, headers=bob.headers)
    assert r.status_code == 201
    assert client.delete(f"{url}/members/{bob.id}", headers=carol.headers).status_code == 403
    assert client.delete(f"{url}/members/{carol.id}", headers=bob.headers).status_code == 200

    r = client.post(f"{orgs(org)}/channels", json={"kind": "team", "name": "x" * 101},
                    headers=bob.headers)
    assert r.status_code == 422
    r = client.post(f"{orgs(org)}/channels", json={"kind": "team"}, headers=bob.headers)
    assert r.status_code == 422 and r.json()["field"] == "name"
    r = client.post(f"{orgs(org)}/channels", json={"kind": "group", "name": "g"},
                    headers=bob.headers)
    assert r.status_code == 422 and r.json()["field"] == "kind"


def test_direct_channel_is_unique_per_pair_either_order(client: TestClient) -> None:
    ann, bob, org = team(client)
    carol = new_person(client, "Carol")
    add_member(client, ann, org["id"], carol, "Contributor")
    channel = new_channel(client, ann, org, kind="direct", user_id=bob.id)

    for who, other in ((ann, bob), (bob, ann)):
        r = client.post(f"{orgs(org)}/channels", json={"kind": "direct", "user_id": other.id},
                        headers=who.headers)
        assert r.status_code == 409, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["channel_id"] == channel["id"]

    url = f"{orgs(org)}/channels/{channel['id']}"
    assert client.post(f"{url}/members", headers=carol.headers).status_code == 404
    assert client.post(f"{url}/members", json={"user_id": carol.id},
                       headers=ann.headers).status_code == 409
    assert client.delete(f"{url}/members/{bob.id}", headers=bob.headers).status_code == 409
    r = client.get(url, headers={**carol.headers, **fresh(channel["position"])})
    assert r.status_code == 404
    r = client.post(f"{orgs(org)}/channels", json={"kind": "direct", "user_id": ann.id},
                    headers=ann.headers)
    assert r.status_code == 422
    stranger = new_person(client, "Stranger")
    r = client.post(f"{orgs(org)}/channels", json={"kind": "direct", "user_id": stranger.id},
                    headers=ann.headers)
    assert r.status_code == 404
    assert new_channel(client, carol, org, kind="direct", user_id=bob.id)["id"] != channel["id"]


def test_post_with_mentions_and_attachments(client: TestClient) -> None:
    ann, bob, org = team(client)
    carol = new_person(client, "Carol")
    add_member(client, ann, org["id"], carol, "Contributor")
    channel = new_channel(client, ann, org, kind="direct", user_id=bob.id)
    attachment = {"url": "https://files.example.com/plan.pdf", "file_type": "application/pdf"}
    r = post(client, ann, org, channel["id"], "@Bob see plan", mentions=[bob.id],
             attachments=[attachment])
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 1

    listed = messages(client, bob, org, channel["id"], r.json()["position"])
    assert listed.status_code == 200, listed.text
    (message,) = listed.json()["items"]
    assert message["content"] == "@Bob see plan" and message["sender_id"] == ann.id
    assert message["mentions"] == [bob.id] and message["attachments"] == [attachment]

    r = post(client, ann, org, channel["id"], "hi", mentions=[carol.id])
    assert r.status_code == 422 and r.json()["field"] == "mentions"
    r = post(client, ann, org, channel["id"], "x" * 4001)
    assert r.status_code == 422 and r.json()["field"] == "content"
    assert post(client, ann, org, channel["id"], "x" * 4000).status_code == 201
    r = post(client, ann, org, channel["id"], "   ")
    assert r.status_code == 422
    r = post(client, ann, org, channel["id"], "hi",
             attachments=[{"url": "ftp://e.com/a", "file_type": "text/plain"}])
    assert r.status_code == 422
    r = post(client, ann, org, channel["id"], "hi", attachments=[attachment] * 11)
    assert r.status_code == 422
    r = post(client, ann, org, channel["id"], "hi", mentions=["not-a-uuid"])
    assert r.status_code == 422


def test_edit_and_delete_only_own_messages(client: TestClient) -> None:
    ann, bob, org = team(client)
    channel = new_channel(client, ann, org, kind="direct", user_id=bob.id)
    posted = post(client, ann, org, channel["id"], "first draft").json()
    url = f"{orgs(org)}/messages/{posted['id']}"

    assert client.patch(url, json={"content": "bob's"}, headers=bob.headers).status_code == 403
    assert client.delete(url, headers=bob.headers).status_code == 403
    r = client.patch(url, json={"content": "final"}, headers={**ann.headers, "If-Match": '"1"'})
    assert r.status_code == 200 and r.json()["version"] == 2
    (edited,) = messages(client, bob, org, channel["id"], r.json()["position"]).json()["items"]
    assert edited["content"] == "final" and edited["edited_at"] is not None
    r = client.patch(url, json={"content": "stale"}, headers={**ann.headers, "If-Match": '"1"'})
    assert r.status_code == 412
    r = client.patch(url, json={"content": "y" * 4001}, headers=ann.headers)
    assert r.status_code == 422
    deleted = client.delete(url, headers=ann.headers)
    assert deleted.status_code == 200 and deleted.json()["version"] == 3
    assert client.patch(url, json={"content": "again"}, headers=ann.headers).status_code == 409
    listed = messages(client, bob, org, channel["id"], deleted.json()["position"]).json()
    (message,) = listed["items"]
    assert message["deleted"] is True and message["content"] is None
    assert message["edited_at"] is not None

    other_ann, _, other_org = team(client)
    r = client.patch(f"{orgs(other_org)}/messages/{posted['id']}", json={"content": "x"},
                     headers=other_ann.headers)
    assert r.status_code == 404


def test_messages_newest_first_with_pagination(client: TestClient) -> None:
    ann, bob, org = team(client)
    channel = new_channel(client, ann, org, kind="team", name="chatter")
    sent = []
    for i in range(7):
        r = post(client, ann, org, channel["id"], f"message {i}")
        assert r.status_code == 201
        sent.append(r.json())
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        r = messages(client, ann, org, channel["id"], sent[-1]["position"], **params)
        assert r.status_code == 200, r.text
        seen += [m["content"] for m in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        pages += 1
        if cursor is None:
            break
    assert seen == [f"message {i}" for i in reversed(range(7))]
    assert pages == 3
    assert messages(client, ann, org, channel["id"], None, limit=201).status_code == 422
    assert messages(client, ann, org, channel["id"], None, cursor="bm9wZQ==").status_code == 400


def test_non_members_and_other_tenants_get_404(client: TestClient) -> None:
    ann, bob, org = team(client)
    channel = new_channel(client, ann, org, kind="team", name="private-ish")
    posted = post(client, ann, org, channel["id"]).json()
    # Bob sees the team channel (he could join) but cannot read it until he joins.
    assert messages(client, bob, org, channel["id"], posted["position"]).status_code == 404
    assert post(client, bob, org, channel["id"]).status_code == 404

    eve = new_person(client, "Eve")
    eve_org = new_organization(client, eve)
    assert messages(client, eve, org, channel["id"], None).status_code == 404
    r = client.get(f"{orgs(org)}/channels/{channel['id']}", headers=eve.headers)
    assert r.status_code == 404
    # The right channel id under the wrong organization does not exist either.
    assert messages(client, eve, eve_org, channel["id"], None).status_code == 404
    assert post(client, eve, eve_org, channel["id"]).status_code == 404
    assert client.post(f"{orgs(eve_org)}/channels/{channel['id']}/members",
                       headers=eve.headers).status_code == 404


def test_client_cannot_post(client: TestClient) -> None:
    ann, _, org = team(client)
    cleo = new_person(client, "Cleo")
    add_member(client, ann, org["id"], cleo, "Client")
    channel = new_channel(client, ann, org, kind="team", name="with-client")
    url = f"{orgs(org)}/channels/{channel['id']}"
    assert client.post(f"{url}/members", headers=cleo.headers).status_code == 403
    r = client.post(f"{url}/members", json={"user_id": cleo.id}, headers=ann.headers)
    assert r.status_code == 201
    assert post(client, cleo, org, channel["id"]).status_code == 403
    assert messages(client, cleo, org, channel["id"], r.json()["position"]).status_code == 200
    r = client.post(f"{orgs(org)}/channels", json={"kind": "team", "name": "mine"},
                    headers=cleo.headers)
    assert r.status_code == 403


def test_idempotent_post(client: TestClient) -> None:
    ann, bob, org = team(client)
    channel = new_channel(client, ann, org, kind="direct", user_id=bob.id)
    key = {"Idempotency-Key": "post-once"}
    url = f"{orgs(org)}/channels/{channel['id']}/messages"
    first = client.post(url, json={"content": "once"}, headers={**ann.headers, **key})
    again = client.post(url, json={"content": "once"}, headers={**ann.headers, **key})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    items = messages(client, bob, org, channel["id"], again.json()["position"]).json()["items"]
    assert [m["content"] for m in items] == ["once"]
