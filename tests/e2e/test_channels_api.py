from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient

from api.contract import CommandAnswer, Page
from api.routes.channels import ChannelMember, ChannelView, MessageView
from tests.helpers import (
    Person,
    add_member,
    fresh,
    new_channel,
    new_organization,
    new_person,
    post_message,
)


def orgs(org: dict[str, Any]) -> str:
    return f"/v1/organizations/{org['id']}"


def new_project(client: TestClient, owner: Person, org: dict[str, Any]) -> dict[str, Any]:
    r = client.post(f"{orgs(org)}/projects", json={"name": "Apollo"}, headers=owner.headers)
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


def fields(r: Any) -> set[str]:
    """The fields a 422 validation problem names."""
    return {e["field"] for e in r.json()["errors"]}


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
    channel = new_channel(client, ann, org["id"], kind="project", name="apollo-chat",
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
    ChannelView.model_validate(body)
    assert body["kind"] == "project" and body["project_id"] == project["id"]
    assert {m["user_id"]: m["role"] for m in body["members"]} == {ann.id: "owner",
                                                                   bob.id: "member"}
    assert r.headers["etag"] == f'"{body["version"]}"'

    listed = client.get(f"{orgs(org)}/channels", headers=bob.headers).json()
    Page[ChannelView].model_validate(listed)
    assert [c["id"] for c in listed["items"]] == [channel["id"]]
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
    channel = new_channel(client, bob, org["id"], kind="team", name="general")
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
    assert r.status_code == 422 and fields(r) == {"team.name"}
    r = client.post(f"{orgs(org)}/channels", json={"kind": "team", "name": "   "},
                    headers=bob.headers)
    assert r.status_code == 422 and fields(r) == {"team.name"}
    # Kinds are exact values (an enum), and each kind takes its own fields only.
    for body in ({"kind": "group", "name": "g"}, {"kind": "TEAM", "name": "g"}):
        r = client.post(f"{orgs(org)}/channels", json=body, headers=bob.headers)
        assert r.status_code == 422 and "kind" in r.json()["detail"], r.text
    r = client.post(f"{orgs(org)}/channels", json={"kind": "project", "name": "p"},
                    headers=bob.headers)
    assert r.status_code == 422 and fields(r) == {"project.project_id"}
    r = client.post(f"{orgs(org)}/channels", json={"kind": "direct", "user_id": ann.id,
                                                   "name": "ours"}, headers=bob.headers)
    assert r.status_code == 422 and fields(r) == {"direct.name"}


def test_direct_channel_is_unique_per_pair_either_order(client: TestClient) -> None:
    ann, bob, org = team(client)
    carol = new_person(client, "Carol")
    add_member(client, ann, org["id"], carol, "Contributor")
    channel = new_channel(client, ann, org["id"], kind="direct", user_id=bob.id)

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
    other = new_channel(client, carol, org["id"], kind="direct", user_id=bob.id)
    assert other["id"] != channel["id"]


def test_post_with_mentions_and_attachments(client: TestClient) -> None:
    ann, bob, org = team(client)
    carol = new_person(client, "Carol")
    add_member(client, ann, org["id"], carol, "Contributor")
    channel = new_channel(client, ann, org["id"], kind="direct", user_id=bob.id)
    attachment = {"url": "https://files.example.com/plan.pdf", "file_type": "application/pdf"}
    r = post(client, ann, org, channel["id"], "@Bob see plan", mentions=[bob.id],
             attachments=[attachment])
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 1

    listed = messages(client, bob, org, channel["id"], r.json()["position"])
    assert listed.status_code == 200, listed.text
    Page[MessageView].model_validate(listed.json())
    (message,) = listed.json()["items"]
    assert message["content"] == "@Bob see plan" and message["sender_id"] == ann.id
    assert message["mentions"] == [bob.id] and message["attachments"] == [attachment]

    # Carol is not in the channel: as for any id the channel does not know, 404.
    r = post(client, ann, org, channel["id"], "hi", mentions=[carol.id])
    assert r.status_code == 404 and r.json()["field"] == "mentions"
    r = post(client, ann, org, channel["id"], "x" * 4001)
    assert r.status_code == 422 and fields(r) == {"content"}
    assert post(client, ann, org, channel["id"], "x" * 4000).status_code == 201
    r = post(client, ann, org, channel["id"], "   ")
    assert r.status_code == 422
    for url in ("ftp://e.com/a", "https://e .com/a", "https://"):
        r = post(client, ann, org, channel["id"], "hi",
                 attachments=[{"url": url, "file_type": "text/plain"}])
        assert r.status_code == 422 and fields(r) == {"attachments.0.url"}, url
    r = post(client, ann, org, channel["id"], "hi", attachments=[attachment] * 11)
    assert r.status_code == 422
    r = post(client, ann, org, channel["id"], "hi", mentions=["not-a-uuid"])
    assert r.status_code == 422


def test_edit_and_delete_only_own_messages(client: TestClient) -> None:
    ann, bob, org = team(client)
    channel = new_channel(client, ann, org["id"], kind="direct", user_id=bob.id)
    posted = post_message(client, ann, org["id"], channel["id"], "first draft")
    url = f"{orgs(org)}/messages/{posted['id']}"

    assert client.patch(url, json={"content": "bob's"}, headers=bob.headers).status_code == 403
    assert client.delete(url, headers=bob.headers).status_code == 403
    r = client.patch(url, json={"content": "final"}, headers={**ann.headers, "If-Match": '"1"'})
    assert r.status_code == 200 and r.json()["version"] == 2
    CommandAnswer.model_validate(r.json())
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
    channel = new_channel(client, ann, org["id"], kind="team", name="chatter")
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
    assert messages(client, ann, org, channel["id"], None, limit=0).status_code == 422
    assert messages(client, ann, org, channel["id"], None, cursor="bm9wZQ==").status_code == 400


def test_non_members_and_other_tenants_get_404(client: TestClient) -> None:
    ann, bob, org = team(client)
    channel = new_channel(client, ann, org["id"], kind="team", name="private-ish")
    posted = post_message(client, ann, org["id"], channel["id"])
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
    channel = new_channel(client, ann, org["id"], kind="team", name="with-client")
    url = f"{orgs(org)}/channels/{channel['id']}"
    assert client.post(f"{url}/members", headers=cleo.headers).status_code == 403
    r = client.post(f"{url}/members", json={"user_id": cleo.id}, headers=ann.headers)
    assert r.status_code == 201
    assert post(client, cleo, org, channel["id"]).status_code == 403
    # Channels are no part of a client's portal, even one the Client was made a member of.
    assert messages(client, cleo, org, channel["id"], r.json()["position"]).status_code == 404
    r = client.post(f"{orgs(org)}/channels", json={"kind": "team", "name": "mine"},
                    headers=cleo.headers)
    assert r.status_code == 403


def test_idempotent_post(client: TestClient) -> None:
    ann, bob, org = team(client)
    channel = new_channel(client, ann, org["id"], kind="direct", user_id=bob.id)
    key = {"Idempotency-Key": "post-once"}
    url = f"{orgs(org)}/channels/{channel['id']}/messages"
    first = client.post(url, json={"content": "once"}, headers={**ann.headers, **key})
    again = client.post(url, json={"content": "once"}, headers={**ann.headers, **key})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    items = messages(client, bob, org, channel["id"], again.json()["position"]).json()["items"]
    assert [m["content"] for m in items] == ["once"]


def test_one_message_for_those_who_read_its_channel(client: TestClient) -> None:
    ann, bob, org = team(client)
    carol = new_person(client, "Carol")
    add_member(client, ann, org["id"], carol, "Contributor")
    channel = new_channel(client, ann, org["id"], kind="team", name="launch")
    joined = client.post(f"{orgs(org)}/channels/{channel['id']}/members", headers=bob.headers)
    assert joined.status_code == 201, joined.text
    attachment = {"url": "https://files.example.com/plan.pdf", "file_type": "application/pdf"}
    posted = post_message(client, ann, org["id"], channel["id"], "the plan",
                          mentions=[bob.id], attachments=[attachment])
    url = f"{orgs(org)}/messages/{posted['id']}"

    r = client.get(url, headers={**bob.headers, **fresh(posted["position"])})
    assert r.status_code == 200, r.text
    message = MessageView.model_validate(r.json())
    assert (str(message.id), str(message.channel_id), str(message.sender_id)) == (
        posted["id"], channel["id"], ann.id)
    assert message.content == "the plan" and not message.deleted
    assert [str(m) for m in message.mentions] == [bob.id]
    assert [a.model_dump() for a in message.attachments] == [attachment]
    assert r.headers["etag"] == '"1"'

    # Carol sees the team channel but is not in it: she does not read its messages.
    assert client.get(url, headers=carol.headers).status_code == 404
    assert client.get(f"{orgs(org)}/messages/{uuid.uuid4()}", headers=ann.headers
                      ).status_code == 404
    # Another tenant, in its own organization or in this one, gets 404 too.
    eve = new_person(client, "Eve")
    eve_org = new_organization(client, eve)
    assert client.get(url, headers=eve.headers).status_code == 404
    r = client.get(f"{orgs(eve_org)}/messages/{posted['id']}", headers=eve.headers)
    assert r.status_code == 404
    r = client.get(f"{orgs(eve_org)}/messages/{posted['id']}", headers=ann.headers)
    assert r.status_code == 404

    # A deleted message reads as its tombstone.
    deleted = client.delete(url, headers=ann.headers).json()
    r = client.get(url, headers={**bob.headers, **fresh(deleted["position"])})
    assert r.status_code == 200, r.text
    tombstone = MessageView.model_validate(r.json())
    assert tombstone.deleted and tombstone.content is None and tombstone.deleted_at
    assert tombstone.mentions == [] and tombstone.attachments == []
    assert r.headers["etag"] == f'"{deleted["version"]}"'

    # Who leaves the channel no longer reads its messages, their own included.
    mine = post_message(client, bob, org["id"], channel["id"], "bye")
    left = client.delete(f"{orgs(org)}/channels/{channel['id']}/members/{bob.id}",
                         headers=bob.headers).json()
    r = client.get(f"{orgs(org)}/messages/{mine['id']}",
                   headers={**bob.headers, **fresh(left["position"])})
    assert r.status_code == 404


def test_a_project_channel_message_follows_the_project(client: TestClient) -> None:
    ann, bob, org = team(client)
    project = new_project(client, ann, org)
    r = client.post(f"{orgs(org)}/projects/{project['id']}/members",
                    json={"user_id": bob.id, "role": "Member"}, headers=ann.headers)
    assert r.status_code == 201, r.text
    channel = new_channel(client, ann, org["id"], kind="project", name="apollo",
                          project_id=project["id"])
    r = client.post(f"{orgs(org)}/channels/{channel['id']}/members",
                    json={"user_id": bob.id}, headers=ann.headers)
    assert r.status_code == 201, r.text
    posted = post_message(client, ann, org["id"], channel["id"], "status?")
    url = f"{orgs(org)}/messages/{posted['id']}"
    assert client.get(url, headers={**bob.headers, **fresh(posted["position"])}
                      ).status_code == 200
    r = client.delete(f"{orgs(org)}/projects/{project['id']}/members/{bob.id}",
                      headers=ann.headers)
    assert r.status_code == 200, r.text
    # Still in the channel, but no longer sees the project: the message is out of reach.
    r = client.get(url, headers={**bob.headers, **fresh(r.json()["position"])})
    assert r.status_code == 404


def test_channel_members_paged_for_those_who_see_the_channel(client: TestClient) -> None:
    ann, bob, org = team(client)
    people = [new_person(client, f"P{i}") for i in range(4)]
    for person in people:
        add_member(client, ann, org["id"], person, "Contributor")
    cleo = new_person(client, "Cleo")
    add_member(client, ann, org["id"], cleo, "Client")
    channel = new_channel(client, ann, org["id"], kind="team", name="everyone")
    url = f"{orgs(org)}/channels/{channel['id']}/members"
    position = channel["position"]
    for person in people:
        r = client.post(url, json={"user_id": person.id}, headers=ann.headers)
        assert r.status_code == 201, r.text
        position = r.json()["position"]

    # Bob is not in the team channel but sees it (every internal role does).
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        r = client.get(url, params=params, headers={**bob.headers, **fresh(position)})
        assert r.status_code == 200, r.text
        page = Page[ChannelMember].model_validate(r.json())
        assert len(page.items) <= 2
        seen += r.json()["items"]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert [m["user_id"] for m in seen] == [ann.id, *(p.id for p in people)]
    assert [m["role"] for m in seen] == ["owner"] + ["member"] * 4
    assert client.get(url, params={"cursor": "bm9wZQ=="}, headers=bob.headers
                      ).status_code == 400
    assert client.get(url, params={"limit": 201}, headers=bob.headers).status_code == 422

    # A Client outside the channel, another tenant, or the wrong organization: 404.
    assert client.get(url, headers=cleo.headers).status_code == 404
    eve = new_person(client, "Eve")
    eve_org = new_organization(client, eve)
    assert client.get(url, headers=eve.headers).status_code == 404
    r = client.get(f"{orgs(eve_org)}/channels/{channel['id']}/members", headers=eve.headers)
    assert r.status_code == 404

    # A direct channel's members are seen by its two people only, Organizers included.
    direct = new_channel(client, bob, org["id"], kind="direct", user_id=people[0].id)
    direct_url = f"{orgs(org)}/channels/{direct['id']}/members"
    r = client.get(direct_url, headers={**people[0].headers, **fresh(direct["position"])})
    assert r.status_code == 200
    assert sorted(m["user_id"] for m in r.json()["items"]) == sorted([bob.id, people[0].id])
    assert client.get(direct_url, headers=ann.headers).status_code == 404


def test_a_project_channels_members_are_seen_by_those_who_see_the_project(
    client: TestClient,
) -> None:
    ann, bob, org = team(client)
    project = new_project(client, ann, org)
    channel = new_channel(client, ann, org["id"], kind="project", name="apollo",
                          project_id=project["id"])
    url = f"{orgs(org)}/channels/{channel['id']}/members"
    assert client.get(url, headers={**bob.headers, **fresh(channel["position"])}
                      ).status_code == 404
    r = client.post(f"{orgs(org)}/projects/{project['id']}/members",
                    json={"user_id": bob.id, "role": "Viewer"}, headers=ann.headers)
    assert r.status_code == 201, r.text
    r = client.get(url, headers={**bob.headers, **fresh(r.json()["position"])})
    assert r.status_code == 200, r.text
    assert [m["user_id"] for m in r.json()["items"]] == [ann.id]


def test_channels_filtered_by_kind_and_project(client: TestClient) -> None:
    ann, bob, org = team(client)
    project = new_project(client, ann, org)
    made = [new_channel(client, ann, org["id"], kind="team", name="general"),
            new_channel(client, ann, org["id"], kind="project", name="apollo",
                        project_id=project["id"]),
            new_channel(client, ann, org["id"], kind="direct", user_id=bob.id)]
    headers = {**ann.headers, **fresh(made[-1]["position"])}
    base = f"{orgs(org)}/channels"
    for kind, channel in zip(("team", "project", "direct"), made, strict=True):
        r = client.get(base, params={"kind": kind}, headers=headers)
        assert r.status_code == 200, r.text
        assert [c["id"] for c in r.json()["items"]] == [channel["id"]]
    r = client.get(base, params={"project_id": project["id"]}, headers=headers)
    assert [c["id"] for c in r.json()["items"]] == [made[1]["id"]]
    assert client.get(base, params={"kind": "DIRECT"}, headers=headers).status_code == 422
    assert client.get(base, params={"kind": "group"}, headers=headers).status_code == 422


def test_organizers_and_managers_remove_from_channels_they_are_not_in(
    client: TestClient,
) -> None:
    ann, bob, org = team(client)
    mona = new_person(client, "Mona")
    add_member(client, ann, org["id"], mona, "Manager")
    channel = new_channel(client, bob, org["id"], kind="team", name="bobs")
    url = f"{orgs(org)}/channels/{channel['id']}/members"
    r = client.delete(f"{url}/{bob.id}", headers=mona.headers)
    assert r.status_code == 200, r.text
    CommandAnswer.model_validate(r.json())
    assert client.delete(f"{url}/{bob.id}", headers=ann.headers).status_code == 404
    # But a direct channel stays private to its two people.
    direct = new_channel(client, bob, org["id"], kind="direct", user_id=mona.id)
    r = client.delete(f"{orgs(org)}/channels/{direct['id']}/members/{bob.id}",
                      headers=ann.headers)
    assert r.status_code == 404
