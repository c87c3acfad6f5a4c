"""Chats in clusters over HTTP: a channel's messages grouped by topic, kept between reads
and refreshed as messages arrive, for those who may read the channel only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.e2e.test_search_api import embedded, ok, org_url
from tests.helpers import (
    Person,
    add_client,
    add_member,
    add_portal_user,
    fresh,
    new_channel,
    new_organization,
    new_person,
    post_message,
)
from vistone.runtime import Runtime

TOPICS = {
    "invoice": ["The invoice for March is overdue, please chase the payment",
                "Client paid the invoice late again, payment arrived today",
                "Send the invoice reminder, payment terms are thirty days",
                "Accounting needs the invoice number for the payment record",
                "Invoice total looks wrong, the payment should be lower"],
    "database": ["The database server crashed during the nightly backup",
                 "Restart the server, the database connection pool is exhausted",
                 "Server disk is full, the database logs need rotating",
                 "Database replication lag on the backup server is growing",
                 "Upgrade the server kernel before the database migration"],
    "pizza": ["Pizza for lunch on Friday, who wants pepperoni",
              "Lunch order: two pizzas and a salad please",
              "The pizza place near the office does lunch deals",
              "Team lunch tomorrow, vegetarian pizza options too",
              "Lunch was great, that pizza with mushrooms was delicious"],
}

# The test client's responses (httpx's or httpx2's class, by Starlette version).
Response = Any


def clusters(client: TestClient, org: str, who: Person, position: int | None = None,
             **params: Any) -> Response:
    return client.get(f"{org_url(org)}/chat-clusters", params=params,
                      headers={**who.headers, **fresh(position)})


def read(client: TestClient, org: str, who: Person, position: int | None = None,
         **params: Any) -> dict[str, Any]:
    r = clusters(client, org, who, position, **params)
    assert r.status_code == 200, r.text
    return dict(r.json())


def all_ids(answer: dict[str, Any]) -> set[str]:
    return {i for c in answer["clusters"] for i in c["message_ids"]} | set(answer["unclustered"])


@dataclass
class Office:
    """ann Organizer; bob and carol Contributors, all in the team channel ``general``
    holding five messages on each of three topics; a direct channel of ann and carol;
    a project channel of a project bob is not on."""

    org: str
    ann: Person
    bob: Person
    carol: Person
    general: str
    direct: str
    hidden_project_channel: str
    by_topic: dict[str, list[str]]
    carols_general: list[str]
    carols_direct: list[str]
    position: int


@pytest.fixture(scope="module")
def office(client: TestClient, runtime: Runtime) -> Office:
    ann, bob, carol = (new_person(client, n) for n in ("Ann", "Bob", "Carol"))
    org = new_organization(client, ann)["id"]
    add_member(client, ann, org, bob, "Contributor")
    add_member(client, ann, org, carol, "Contributor")
    general = new_channel(client, ann, org, kind="team", name="general")["id"]
    for who in (bob, carol):
        ok(client.post(f"{org_url(org)}/channels/{general}/members", headers=who.headers))
    direct = new_channel(client, ann, org, kind="direct", user_id=carol.id)["id"]
    project = ok(client.post(f"{org_url(org)}/projects", json={"name": "Hidden"},
                             headers=ann.headers))["id"]
    hidden_channel = new_channel(client, ann, org, kind="project", name="hidden",
                                 project_id=project)["id"]
    by_topic: dict[str, list[str]] = {topic: [] for topic in TOPICS}
    carols_general: list[str] = []
    positions = []
    writers = [ann, bob, carol]
    # Interleaved, as a real channel would be.
    for i in range(5):
        for t, (topic, texts) in enumerate(TOPICS.items()):
            who = writers[(i + t) % 3]
            said = post_message(client, who, org, general, texts[i])
            by_topic[topic].append(said["id"])
            positions.append(said["position"])
            if who is carol:
                carols_general.append(said["id"])
    carols_direct = []
    for text in TOPICS["invoice"][:4]:
        said = post_message(client, carol, org, direct, f"between us: {text}")
        carols_direct.append(said["id"])
        positions.append(said["position"])
    said = post_message(client, ann, org, hidden_channel, "hidden project pizza lunch chat")
    positions.append(said["position"])
    embedded(runtime, max(positions))
    return Office(org, ann, bob, carol, general, direct, hidden_channel, by_topic,
                  carols_general, carols_direct, max(positions))


def test_a_channel_of_three_topics_gives_three_labelled_clusters(client: TestClient,
                                                                  office: Office) -> None:
    answer = read(client, office.org, office.bob, office.position, channel_id=office.general)
    assert answer["messages"] == 15
    assert all_ids(answer) == {i for ids in office.by_topic.values() for i in ids}
    found = {frozenset(c["message_ids"]): c for c in answer["clusters"]}
    for topic, ids in office.by_topic.items():
        cluster = found.get(frozenset(ids))
        assert cluster is not None, (topic, [c["label"] for c in answer["clusters"]])
        assert topic in cluster["label"] and topic in cluster["terms"], cluster["label"]
        assert cluster["size"] == 5
        assert cluster["first_at"] <= cluster["last_at"]
        assert 1 <= len(cluster["representatives"]) <= 3
        assert {r["id"] for r in cluster["representatives"]} <= set(ids)
        # Newest first.
        assert cluster["message_ids"][0] == ids[-1]
    assert answer["unclustered"] == []
    sizes = [c["size"] for c in answer["clusters"]]
    assert sizes == sorted(sizes, reverse=True)


def test_a_repeated_read_answers_the_kept_result_until_messages_change(
    client: TestClient, runtime: Runtime,
) -> None:
    ann, bob = new_person(client, "Ann"), new_person(client, "Bob")
    org = new_organization(client, ann)["id"]
    add_member(client, ann, org, bob, "Contributor")
    channel = new_channel(client, ann, org, kind="team", name="general")["id"]
    for texts in TOPICS.values():
        for text in texts:
            last = post_message(client, ann, org, channel, text)
    embedded(runtime, last["position"])
    first = read(client, org, bob, last["position"], channel_id=channel)
    assert first["fresh"] is True and first["messages"] == 15
    second = read(client, org, bob, channel_id=channel)
    assert second == first  # the same computed_at: kept, not computed again
    # Another min_cluster_size is another result, computed once too.
    bigger = read(client, org, bob, channel_id=channel, min_cluster_size=4)
    assert bigger["computed_at"] >= first["computed_at"]
    assert read(client, org, bob, channel_id=channel, min_cluster_size=4) == bigger

    said = post_message(client, ann, org, channel, "One more invoice payment question")
    embedded(runtime, said["position"])
    third = read(client, org, bob, said["position"], channel_id=channel)
    if third["computed_at"] == first["computed_at"]:
        # Within the refresh window: the kept result, saying it is not fresh.
        assert third["fresh"] is False and third["messages"] == 15
        assert said["id"] not in all_ids(third)
    else:
        assert third["fresh"] is True and third["messages"] == 16
        assert datetime.fromisoformat(third["computed_at"]) > \
            datetime.fromisoformat(first["computed_at"])
        assert said["id"] in all_ids(third)


def test_a_deleted_message_leaves_the_clusters_at_once(client: TestClient,
                                                       runtime: Runtime) -> None:
    """Clusters show messages' text: a message deleted must not go on being shown from
    the kept result until the refresh window ends."""
    ann = new_person(client, "Ann")
    org = new_organization(client, ann)["id"]
    channel = new_channel(client, ann, org, kind="team", name="general")["id"]
    ids = []
    for texts in TOPICS.values():
        for text in texts:
            said = post_message(client, ann, org, channel, text)
            ids.append(said["id"])
    embedded(runtime, said["position"])
    before = read(client, org, ann, said["position"], channel_id=channel)
    assert ids[0] in all_ids(before)
    deleted = ok(client.delete(f"{org_url(org)}/messages/{ids[0]}", headers=ann.headers))
    after = read(client, org, ann, deleted["position"], channel_id=channel)
    assert ids[0] not in all_ids(after), after
    assert TOPICS["invoice"][0] not in str(after)


def test_channels_the_caller_cannot_see_are_404(client: TestClient, office: Office) -> None:
    o = office
    stranger = new_person(client, "Stranger")
    elsewhere = new_organization(client, stranger)["id"]
    their_channel = new_channel(client, stranger, elsewhere, kind="team", name="x")["id"]
    for channel in (o.direct, o.hidden_project_channel, their_channel,
                    "00000000-0000-4000-8000-000000000000"):
        r = clusters(client, o.org, o.bob, o.position, channel_id=channel)
        assert r.status_code == 404, (channel, r.text)
        assert "invoice" not in r.text and "between us" not in r.text
    # Asking for carol's chats by bob does not reach into her direct channel either.
    r = clusters(client, o.org, o.bob, o.position, channel_id=o.direct, author_id=o.carol.id)
    assert r.status_code == 404
    for who in (stranger,):
        assert clusters(client, o.org, who).status_code == 404
        assert clusters(client, o.org, who, channel_id=o.general).status_code == 404
    # The Organizer is in the direct channel: it is hers to read.
    assert clusters(client, o.org, o.ann, o.position, channel_id=o.direct).status_code == 200
    assert clusters(client, o.org, o.carol, o.position, channel_id=o.direct).status_code == 200


def test_a_client_portal_user_reads_no_clusters(client: TestClient, office: Office) -> None:
    o = office
    acme = add_client(client, o.ann, o.org)["id"]
    carl, position = add_portal_user(client, o.ann, o.org, acme, "Carl")
    ok(client.post(f"{org_url(o.org)}/channels/{o.general}/members",
                   json={"user_id": carl.id}, headers=o.ann.headers))
    for params in ({}, {"channel_id": o.general}, {"author_id": o.ann.id}):
        r = clusters(client, o.org, carl, position, **params)
        assert r.status_code == 404, (params, r.text)
        assert "invoice" not in r.text.lower()


def test_a_persons_chats_only_in_channels_the_reader_sees(client: TestClient,
                                                          office: Office) -> None:
    o = office
    bobs_view = read(client, o.org, o.bob, o.position, author_id=o.carol.id,
                     min_cluster_size=2)
    assert bobs_view["messages"] == len(o.carols_general)
    assert all_ids(bobs_view) == set(o.carols_general)
    assert "between us" not in str(bobs_view)
    anns_view = read(client, o.org, o.ann, o.position, author_id=o.carol.id,
                     min_cluster_size=2)
    assert anns_view["messages"] == len(o.carols_general) + len(o.carols_direct)
    assert all_ids(anns_view) == set(o.carols_general) | set(o.carols_direct)
    # Within one channel.
    only_direct = read(client, o.org, o.ann, o.position, author_id=o.carol.id,
                       channel_id=o.direct, min_cluster_size=2)
    assert all_ids(only_direct) == set(o.carols_direct)
    # Everything bob may read, no channel named: never the direct or hidden channel.
    everything = read(client, o.org, o.bob, o.position)
    assert everything["messages"] == 15
    assert not all_ids(everything) & set(o.carols_direct)


def test_a_message_type_switched_off_empties_the_clusters(client: TestClient,
                                                          runtime: Runtime) -> None:
    ann = new_person(client, "Ann")
    org = new_organization(client, ann)["id"]
    channel = new_channel(client, ann, org, kind="team", name="general")["id"]
    for text in TOPICS["pizza"]:
        said = post_message(client, ann, org, channel, text)
    embedded(runtime, said["position"])
    assert read(client, org, ann, said["position"], channel_id=channel)["messages"] == 5
    off = ok(client.put(f"{org_url(org)}/search/content-types/message",
                        json={"enabled": False}, headers=ann.headers))
    answer = read(client, org, ann, off["position"])
    assert (answer["clusters"], answer["unclustered"], answer["messages"]) == ([], [], 0)
    # Her own channel is still hers: empty, not "channel not found".
    answer = read(client, org, ann, off["position"], channel_id=channel)
    assert (answer["clusters"], answer["unclustered"], answer["messages"]) == ([], [], 0)


def test_bad_parameters_are_422_never_500(client: TestClient, office: Office) -> None:
    o = office
    bad: list[dict[str, Any]] = [
        {"min_cluster_size": "NaN"}, {"min_cluster_size": "inf"}, {"min_cluster_size": "1"},
        {"min_cluster_size": "0"}, {"min_cluster_size": "-3"}, {"min_cluster_size": "51"},
        {"min_cluster_size": str(10 ** 30)}, {"min_cluster_size": "3.5"},
        {"min_cluster_size": "3e0"}, {"min_cluster_size": ""}, {"channel_id": "general"},
        {"channel_id": "1"}, {"author_id": "not-a-uuid"}, {"channel_id": "%00"}]
    for params in bad:
        r = clusters(client, o.org, o.bob, **params)
        assert r.status_code == 422, (params, r.status_code, r.text)
    r = client.get(f"{org_url(o.org)}/chat-clusters?author_id=%00", headers=o.bob.headers)
    assert r.status_code == 422, r.text
    r = client.get(f"{org_url(o.org)}/chat-clusters?channel_id=%ED%A0%80",
                   headers=o.bob.headers)
    assert r.status_code == 422, r.text
    for size in ("2", "50"):
        assert clusters(client, o.org, o.bob, channel_id=o.general,
                        min_cluster_size=size).status_code == 200


def test_a_removed_project_member_loses_its_channels_messages_at_once(
    client: TestClient, runtime: Runtime,
) -> None:
    ann, bob = new_person(client, "Ann"), new_person(client, "Bob")
    org = new_organization(client, ann)["id"]
    add_member(client, ann, org, bob, "Contributor")
    project = ok(client.post(f"{org_url(org)}/projects", json={"name": "Shared"},
                             headers=ann.headers))["id"]
    ok(client.post(f"{org_url(org)}/projects/{project}/members",
                   json={"user_id": bob.id, "role": "Member"}, headers=ann.headers))
    channel = new_channel(client, ann, org, kind="project", name="shared",
                          project_id=project)["id"]
    ids = []
    for text in TOPICS["database"]:
        said = post_message(client, ann, org, channel, text)
        ids.append(said["id"])
    embedded(runtime, said["position"])
    assert all_ids(read(client, org, bob, said["position"])) == set(ids)
    assert all_ids(read(client, org, bob, channel_id=channel)) == set(ids)
    removed = ok(client.delete(f"{org_url(org)}/projects/{project}/members/{bob.id}",
                               headers=ann.headers))
    answer = read(client, org, bob, removed["position"])
    assert (all_ids(answer), answer["messages"]) == (set(), 0)
    assert "database" not in str(answer)
    assert clusters(client, org, bob, removed["position"], channel_id=channel).status_code \
        == 404
