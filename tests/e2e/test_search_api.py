"""Search over HTTP: hybrid ranking, permissions at read time, content types switched
off, and what a removed member stops finding at once."""

from __future__ import annotations

import functools
import time
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from projections.runner import wait_for_position
from projections.search_index import queue_figures
from tests.e2e.test_tasks_api import add_to_project, create_task, new_project, new_team
from tests.helpers import (
    Person,
    add_client,
    add_client_project,
    add_member,
    add_portal_user,
    fresh,
    new_channel,
    new_organization,
    new_person,
    post_message,
    race,
)
from vistone.runtime import Runtime
from workers.embedding import wait_until_idle

# The test client's responses (httpx's or httpx2's class, by Starlette version).
Response = Any


def embedded(runtime: Runtime, position: int | None = None) -> None:
    """Every pending chunk embedded (the in-process worker would get there too); with
    ``position``, first the search index caught up with it, or the chunks it writes
    after this returns would still be pending."""
    assert runtime.embedding is not None
    if position is not None:
        assert wait_for_position(runtime.pool, ["search"], position, 10.0).caught_up
    deadline = time.monotonic() + 30.0
    while True:
        wait_until_idle(runtime.embedding)
        # wait_until_idle stops when nothing is *claimable*: the background worker may
        # still hold claims on chunks it is embedding.
        with runtime.pool.connection() as conn:
            if queue_figures(conn)["pending"] == 0:
                return
        assert time.monotonic() < deadline, "chunks still pending"
        time.sleep(0.02)


def search(client: TestClient, org: str, who: Any, q: str, position: int | None = None,
           **params: Any) -> dict[str, Any]:
    r = client.get(f"/v1/organizations/{org}/search", params={"q": q, **params},
                   headers={**who.headers, **fresh(position)})
    assert r.status_code == 200, r.text
    return r.json()


def search_response(client: TestClient, org: str, who: Person, params: Any,
                    position: int | None = None) -> Response:
    return client.get(f"/v1/organizations/{org}/search", params=params,
                      headers={**who.headers, **fresh(position)})


def found_ids(found: dict[str, Any]) -> list[str]:
    return [item["source"]["id"] for item in found["items"]]


def ok(r: Response) -> dict[str, Any]:
    assert r.status_code in (200, 201), r.text
    return dict(r.json())


def org_url(org: str) -> str:
    return f"/v1/organizations/{org}"


def everything(client: TestClient, org: str, who: Person, position: int | None,
               queries: list[str], **params: Any) -> set[str]:
    """The ids ``who`` finds for any of ``queries``, at the largest page (with so few
    records, the vector ranking alone brings every visible one)."""
    seen: set[str] = set()
    for q in queries:
        seen |= set(found_ids(search(client, org, who, q, position, limit=50, **params)))
    return seen


def test_a_task_is_found_by_its_words_and_by_its_meaning(client: TestClient,
                                                         runtime: Runtime) -> None:
    team = new_team(client)
    task = create_task(client, team, title="Renew the TLS certificate",
                       description="The web server's certificate expires next month.")
    logo = create_task(client, team, title="Design the logo", description="Colours and fonts.")
    embedded(runtime, logo["position"])
    found = search(client, team.org, team.ann, "certificate", task["position"])
    assert found["mode"] == "hybrid"
    assert found["items"][0]["source"]["id"] == task["id"]
    assert found["items"][0]["source"]["content_type"] == "task"
    assert "vector" in found["items"][0]["matched_by"]
    assert found["items"][0]["source"]["link"].endswith(f"/tasks/{task['id']}")


# --- ranking and the shape of an answer -----------------------------------------------------

TOPICS = {
    "tls": ("Renew the TLS certificate", "The web server's certificate expires next month."),
    "travel": ("Book flights for the Berlin conference",
               "Reserve plane tickets and hotel rooms for the team trip."),
    "login": ("Fix the login page crash", "Users see an error when signing in with Safari."),
    "invoice": ("Prepare the quarterly invoice", "Bill the client for hours worked in March."),
    "hiring": ("Interview candidates for the designer role",
               "Shortlist applicants and schedule interviews."),
}


def test_a_paraphrase_sharing_no_word_finds_the_task_by_meaning_alone(
    client: TestClient, runtime: Runtime,
) -> None:
    team = new_team(client)
    made = {key: create_task(client, team, title=title, description=body)
            for key, (title, body) in TOPICS.items()}
    position = max(t["position"] for t in made.values())
    embedded(runtime, position)
    for query, expected in (("aeroplane seats and lodging", "travel"),
                            ("SSL expiry", "tls"),
                            ("payment statement for the customer", "invoice"),
                            ("recruiting new staff", "hiring")):
        found = search(client, team.org, team.bob, query, position)
        assert found["mode"] == "hybrid"
        top = found["items"][0]
        assert top["source"]["id"] == made[expected]["id"], (query, found["items"][:2])
        # No word in common: only the embeddings can have found it.
        assert top["matched_by"] == ["vector"], (query, top)

    # A word of one task only: full text agrees with the vector ranking, and the fused
    # score of a document both rankings found beats any document one ranking found.
    found = search(client, team.org, team.bob, "Safari", position)
    top = found["items"][0]
    assert top["source"]["id"] == made["login"]["id"]
    assert sorted(top["matched_by"]) == ["text", "vector"]
    assert all(top["score"] > other["score"] for other in found["items"][1:])


def test_an_answer_has_its_sources_snippets_scores_and_no_totals(
    client: TestClient, runtime: Runtime,
) -> None:
    team = new_team(client)
    long_text = ("Background paragraph about nothing in particular. " * 12
                 + "The marmalade supplier in Seville raised prices. "
                 + "Closing remarks that go on for a while. " * 12)
    task = create_task(client, team, title="Supplier review", description=long_text)
    for i in range(12):
        create_task(client, team, title=f"Filler task {i}", description=f"Routine chore {i}.")
    r = client.patch(f"{org_url(team.org)}/projects/{team.project}",
                     json={"description": "Orchard of marmalade oranges"},
                     headers=team.ann.headers)
    position = ok(r)["position"]
    embedded(runtime, position)

    r = search_response(client, team.org, team.bob, {"q": "marmalade supplier"}, position)
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"items", "mode"}  # no total, no count of anything
    assert not {h.lower() for h in r.headers} & {"x-total-count", "x-total", "content-range"}
    items = r.json()["items"]
    assert len(items) == 10  # the default limit
    assert len(found_ids(r.json())) == len(set(found_ids(r.json())))  # one hit per source
    scores = [item["score"] for item in items]
    assert scores == sorted(scores, reverse=True) and all(s > 0 for s in scores)
    for item in items:
        assert item["matched_by"] and set(item["matched_by"]) <= {"vector", "text"}
        assert item["chunk_index"] >= 0
        assert item["source"]["project_id"] == team.project
        assert item["source"]["channel_id"] is None
        assert item["source"]["link"].startswith(f"{org_url(team.org)}/")
    first = items[0]
    assert first["source"]["id"] == task["id"] and first["source"]["title"] == "Supplier review"
    # The snippet is the passage around the words, not the whole text.
    assert "marmalade supplier" in first["snippet"].lower()
    assert len(first["snippet"]) <= 302 and first["snippet"].startswith("…")
    project_hit = next(i for i in items if i["source"]["content_type"] == "project")
    assert project_hit["source"]["id"] == team.project

    for limit in (1, 3, 50):
        found = search(client, team.org, team.bob, "marmalade supplier", limit=limit)
        assert len(found["items"]) == min(limit, 14)
    assert found_ids(search(client, team.org, team.bob, "marmalade supplier", limit=3)) == \
        found_ids(r.json())[:3]


def test_every_link_reads_its_source(client: TestClient, runtime: Runtime) -> None:
    """A hit's link is "the API path that reads the source": following it as the
    Organizer answers 200 and the source itself."""
    team = new_team(client)
    acme = add_client(client, team.ann, team.org, "Kumquat Holdings")["id"]
    project = add_client_project(client, team.ann, team.org, acme, "Kumquat rollout")["id"]
    task = create_task(client, team, title="Kumquat crate labels")
    channel = new_channel(client, team.ann, team.org, kind="team", name="kumquat")["id"]
    message = post_message(client, team.ann, team.org, channel, "kumquat shipment arrived")
    proposal = ok(client.post(f"{org_url(team.org)}/clients/{acme}/proposals",
                              json={"title": "Kumquat offer", "project_id": project},
                              headers=team.ann.headers))
    feedback = ok(client.post(f"{org_url(team.org)}/clients/{acme}/feedback",
                              json={"rating": 5, "comment": "kumquat quality superb",
                                    "project_id": project}, headers=team.ann.headers))
    position = max(x["position"] for x in (task, message, proposal, feedback))
    embedded(runtime, position)
    found = search(client, team.org, team.ann, "kumquat", position, limit=50)
    expected = {project: "project", task["id"]: "task", message["id"]: "message",
                acme: "client", proposal["id"]: "proposal", feedback["id"]: "client_feedback"}
    sources = {item["source"]["id"]: item["source"] for item in found["items"]}
    assert {i: sources[i]["content_type"] for i in expected if i in sources} == expected
    broken = []
    for source_id in expected:
        link = sources[source_id]["link"]
        r = client.get(link, headers=team.ann.headers)
        if r.status_code != 200 or source_id not in r.text:
            broken.append((expected[source_id], link, r.status_code))
    assert not broken, f"links that do not read their source: {broken}"


# --- filters and bad input ------------------------------------------------------------------

def test_filters_by_content_type_project_and_channel(client: TestClient,
                                                     runtime: Runtime) -> None:
    team = new_team(client)
    other = new_project(client, team.ann, team.org)
    add_to_project(client, team.ann, team.org, other, team.bob)
    here = create_task(client, team, title="Paint the lighthouse red")
    r = client.post(f"{org_url(team.org)}/projects/{other}/tasks",
                    json={"title": "Paint the lighthouse white"}, headers=team.ann.headers)
    there = ok(r)
    general = new_channel(client, team.ann, team.org, kind="team", name="general")["id"]
    random = new_channel(client, team.ann, team.org, kind="team", name="random")["id"]
    said = post_message(client, team.ann, team.org, general, "the lighthouse paint arrived")
    also = post_message(client, team.ann, team.org, random, "lighthouse keeper on holiday")
    position = max(x["position"] for x in (here, there, said, also))
    embedded(runtime, position)

    def kinds(**params: Any) -> set[tuple[str, str]]:
        found = search(client, team.org, team.bob, "lighthouse", position, limit=50,
                       **params)
        return {(i["source"]["content_type"], i["source"]["id"]) for i in found["items"]}

    assert kinds(content_type="task") == {("task", here["id"]), ("task", there["id"])}
    assert kinds(content_type=["task", "message"]) == {
        ("task", here["id"]), ("task", there["id"]), ("message", said["id"]),
        ("message", also["id"])}
    assert kinds(project_id=other) == {("task", there["id"]), ("project", other)}
    assert kinds(project_id=other, content_type="task") == {("task", there["id"])}
    assert kinds(channel_id=general) == {("message", said["id"])}
    assert kinds(channel_id=random, content_type="task") == set()
    assert kinds(project_id=str(uuid.uuid4())) == set()
    found = search(client, team.org, team.bob, "lighthouse", position, channel_id=general)
    (hit,) = found["items"]
    assert hit["source"]["channel_id"] == general and hit["source"]["project_id"] is None
    assert hit["snippet"] == "the lighthouse paint arrived"


def test_bad_queries_and_parameters_are_422_never_500(client: TestClient) -> None:
    team = new_team(client)
    who = team.bob
    for params, field in (
        ({"q": ""}, "q"), ({"q": "   "}, "q"), ({"q": "\t\n"}, "q"), ({}, "q"),
        ({"q": "x" * 501}, "q"),
        ({"q": "a", "content_type": "wiki"}, "content_type"),
        ({"q": "a", "content_type": "Task"}, "content_type"),
        ({"q": "a", "content_type": ""}, "content_type"),
        ({"q": "a", "limit": "0"}, "limit"), ({"q": "a", "limit": "51"}, "limit"),
        ({"q": "a", "limit": "-1"}, "limit"), ({"q": "a", "limit": "NaN"}, "limit"),
        ({"q": "a", "limit": "inf"}, "limit"), ({"q": "a", "limit": "1e1"}, "limit"),
        ({"q": "a", "limit": "10.5"}, "limit"), ({"q": "a", "limit": str(10 ** 30)}, "limit"),
        ({"q": "a", "limit": ""}, "limit"),
        ({"q": "a", "project_id": "not-a-uuid"}, "project_id"),
        ({"q": "a", "channel_id": "1"}, "channel_id"),
    ):
        r = search_response(client, team.org, who, params)
        assert r.status_code == 422, (params, r.status_code, r.text)
        assert field in r.text, (params, r.text)
    assert search_response(client, team.org, who, {"q": "x" * 500}).status_code == 200
    assert search_response(client, team.org, who, {"q": "a", "limit": "50"}).status_code == 200


def test_hostile_query_text_is_4xx_or_searched_never_500(client: TestClient) -> None:
    team = new_team(client)
    url = f"{org_url(team.org)}/search"
    # Raw query strings: NUL, bytes that are not UTF-8, an encoded lone surrogate.
    for raw in ("q=%00", "q=a%00b", "q=%ED%A0%80", "q=%FF%FE", "q=%F0%9F", "q=%C0%80"):
        r = client.get(f"{url}?{raw}", headers=team.bob.headers)
        assert r.status_code < 500, (raw, r.status_code, r.text)
        if "%00" in raw:
            assert r.status_code == 422, (raw, r.text)
    # Text full-text parsers choke on, tsquery syntax, stop words only, odd scripts.
    for q in ("':* | !!(", "&", "''", "\\", "a' | 'b", "foo:*", "!", "(((", "the and of",
              "<->", "'; DROP TABLE ai_engine.chunks; --", "\U0001f600\U0001f680",
              "\u202e\u200b", "x" * 500, "word " * 100, "\ufffd"):
        r = search_response(client, team.org, team.bob, {"q": q})
        assert r.status_code in (200, 422), (q, r.status_code, r.text)
        if r.status_code == 200:
            assert r.json()["mode"] in ("hybrid", "text")


# --- who finds what -------------------------------------------------------------------------

@dataclass
class World:
    """ann Organizer; mia Manager; bob Contributor on ``mine`` only; carol Contributor on
    ``theirs`` only. Every record holds the word ``zephyr``, so one query reaches all."""

    org: str
    ann: Person
    mia: Person
    bob: Person
    carol: Person
    mine: str
    theirs: str
    client: str
    records: dict[str, str]  # name -> id
    position: int

    def visible_to_bob(self) -> set[str]:
        r = self.records
        return {self.mine, r["task_mine"], r["message_mine_channel"], r["message_team"],
                r["feedback_mine"], self.client}

    def hidden_from_bob(self) -> set[str]:
        r = self.records
        return {self.theirs, r["task_theirs"], r["message_theirs_channel"],
                r["message_direct"], r["proposal_mine"], r["proposal_loose"],
                r["feedback_theirs"], r["feedback_loose"]}


QUERIES = ["zephyr", "zephyr breeze", "wind", "secret plans", "harvest quality"]


def build_world(client: TestClient, runtime: Runtime) -> World:
    ann, mia, bob, carol = (new_person(client, n) for n in ("Ann", "Mia", "Bob", "Carol"))
    org = new_organization(client, ann)["id"]
    add_member(client, ann, org, mia, "Manager")
    add_member(client, ann, org, bob, "Contributor")
    add_member(client, ann, org, carol, "Contributor")
    customer = add_client(client, ann, org, "Zephyr Farms")["id"]
    mine = add_client_project(client, ann, org, customer, "Zephyr walnut orchard")["id"]
    theirs = add_client_project(client, ann, org, customer, "Zephyr saffron fields")["id"]
    add_to_project(client, ann, org, mine, bob)
    add_to_project(client, ann, org, theirs, carol)
    o = org_url(org)
    records: dict[str, str] = {}
    positions = []

    def keep(name: str, answer: dict[str, Any]) -> None:
        records[name] = answer["id"]
        positions.append(answer["position"])

    for name, project, title in (("task_mine", mine, "Prune zephyr walnut trees"),
                                 ("task_theirs", theirs, "Harvest zephyr saffron crocus")):
        keep(name, ok(client.post(f"{o}/projects/{project}/tasks", json={"title": title},
                                  headers=ann.headers)))
    mine_channel = new_channel(client, ann, org, kind="project", name="walnuts",
                               project_id=mine)["id"]
    theirs_channel = new_channel(client, ann, org, kind="project", name="saffron",
                                 project_id=theirs)["id"]
    team_channel = new_channel(client, ann, org, kind="team", name="general")["id"]
    direct = new_channel(client, ann, org, kind="direct", user_id=carol.id)["id"]
    keep("message_mine_channel", post_message(client, ann, org, mine_channel,
                                              "zephyr walnut harvest schedule"))
    keep("message_theirs_channel", post_message(client, ann, org, theirs_channel,
                                                "zephyr saffron drying racks"))
    keep("message_team", post_message(client, ann, org, team_channel,
                                      "zephyr announcement for everyone"))
    keep("message_direct", post_message(client, carol, org, direct,
                                        "zephyr secret plans between us"))
    for name, body in (("proposal_mine", {"title": "Zephyr walnut offer", "project_id": mine}),
                       ("proposal_loose", {"title": "Zephyr general offer"})):
        keep(name, ok(client.post(f"{o}/clients/{customer}/proposals", json=body,
                                  headers=ann.headers)))
    for name, body in (
        ("feedback_mine", {"rating": 5, "comment": "zephyr walnut quality superb",
                           "project_id": mine}),
        ("feedback_theirs", {"rating": 2, "comment": "zephyr saffron was late",
                             "project_id": theirs}),
        ("feedback_loose", {"rating": 3, "comment": "zephyr relationship overall fine"}),
    ):
        keep(name, ok(client.post(f"{o}/clients/{customer}/feedback", json=body,
                                  headers=ann.headers)))
    embedded(runtime, max(positions))
    return World(org, ann, mia, bob, carol, mine, theirs, customer, records, max(positions))


@pytest.fixture(scope="module")
def world(client: TestClient, runtime: Runtime) -> World:
    return build_world(client, runtime)


def test_a_contributor_finds_only_what_they_may_read(client: TestClient, world: World) -> None:
    w = world
    seen = everything(client, w.org, w.bob, w.position, QUERIES)
    assert seen == w.visible_to_bob(), {
        "missing": w.visible_to_bob() - seen, "leaked": seen & w.hidden_from_bob()}
    # Asking for the hidden kinds or places by name gives nothing either.
    for params in ({"content_type": "proposal"}, {"project_id": w.theirs},
                   {"content_type": "client_feedback", "project_id": w.theirs}):
        found = search(client, w.org, w.bob, "zephyr", w.position, limit=50, **params)
        assert found["items"] == [], (params, found)
    found = search(client, w.org, w.bob, "zephyr", w.position, limit=50,
                   content_type="client_feedback")
    assert found_ids(found) == [w.records["feedback_mine"]]


def test_organizers_and_managers_find_everything_but_others_direct_chats(
    client: TestClient, world: World,
) -> None:
    w = world
    everyone = w.visible_to_bob() | w.hidden_from_bob()
    assert everything(client, w.org, w.ann, w.position, QUERIES) == everyone
    assert everything(client, w.org, w.mia, w.position, QUERIES) == \
        everyone - {w.records["message_direct"]}
    carol = everything(client, w.org, w.carol, w.position, QUERIES)
    assert w.records["message_direct"] in carol and w.records["task_theirs"] in carol
    assert not carol & {w.mine, w.records["task_mine"], w.records["message_mine_channel"],
                        w.records["proposal_loose"], w.records["feedback_loose"]}


def test_another_organizations_member_gets_404_and_nothing(client: TestClient,
                                                           world: World) -> None:
    w = world
    stranger = new_person(client, "Stranger")
    new_organization(client, stranger)
    for url, params in ((f"{org_url(w.org)}/search", {"q": "zephyr"}),
                        (f"{org_url(w.org)}/search", {"q": "zephyr", "project_id": w.mine}),
                        (f"{org_url(w.org)}/search/content-types", {}),
                        (f"{org_url(w.org)}/chat-clusters", {}),
                        (f"{org_url(w.org)}/assistant/conversations", {})):
        r = client.get(url, params=params, headers=stranger.headers)
        assert r.status_code == 404, (url, r.status_code, r.text)
        assert not {w.mine, w.theirs, *w.records.values()} & set(r.text.split('"')), r.text
        assert "zephyr" not in r.text.lower()


def test_a_hidden_better_match_changes_nothing_a_contributor_sees(
    client: TestClient, runtime: Runtime,
) -> None:
    """Ranks, scores, snippets and sizes are computed over what the caller may read
    only: a hidden record matching better leaves the answer byte for byte the same."""
    team = new_team(client)
    carol = new_person(client, "Carol")
    add_member(client, team.ann, team.org, carol, "Contributor")
    for title, body in (("Quarterly budget review", "Compare spend against plan."),
                        ("Water the office plants", "Twice a week."),
                        ("Update the forecast", "Numbers for next year in the sheet.")):
        made = create_task(client, team, title=title, description=body)
    embedded(runtime, made["position"])
    query = "budget spreadsheet"
    before = search_response(client, team.org, team.bob, {"q": query, "limit": 50},
                             made["position"])
    assert before.status_code == 200 and before.json()["items"], before.text

    hidden_project = new_project(client, team.ann, team.org)
    hidden = ok(client.post(f"{org_url(team.org)}/projects/{hidden_project}/tasks",
                            json={"title": "Budget spreadsheet",
                                  "description": "budget spreadsheet, budget spreadsheet"},
                            headers=team.ann.headers))
    direct = new_channel(client, team.ann, team.org, kind="direct", user_id=carol.id)["id"]
    said = post_message(client, team.ann, team.org, direct, "the budget spreadsheet is here")
    embedded(runtime, said["position"])
    after = search_response(client, team.org, team.bob, {"q": query, "limit": 50},
                            said["position"])
    assert after.status_code == 200
    assert after.content == before.content
    # The Organizer (in the direct channel) sees both, at the top: they did match better.
    top = found_ids(search(client, team.org, team.ann, query, said["position"]))[:2]
    assert set(top) == {hidden["id"], said["id"]}


def test_the_client_portal_finds_its_projects_and_tasks_only(client: TestClient,
                                                             runtime: Runtime) -> None:
    ann = new_person(client, "Ann")
    org = new_organization(client, ann)["id"]
    o = org_url(org)
    acme = add_client(client, ann, org, "Acme quokka")["id"]
    globex = add_client(client, ann, org, "Globex quokka")["id"]
    carl, _ = add_portal_user(client, ann, org, acme, "Carl")
    acme_project = add_client_project(client, ann, org, acme, "Quokka portal")["id"]
    globex_project = add_client_project(client, ann, org, globex, "Quokka rival")["id"]
    loose_project = add_client_project(client, ann, org, None, "Quokka internal")["id"]
    acme_task = ok(client.post(f"{o}/projects/{acme_project}/tasks",
                               json={"title": "Quokka landing page"}, headers=ann.headers))
    hidden = {globex, acme, globex_project, loose_project}
    for project in (globex_project, loose_project):
        hidden.add(ok(client.post(f"{o}/projects/{project}/tasks",
                                  json={"title": "Quokka secret task"},
                                  headers=ann.headers))["id"])
    channel = new_channel(client, ann, org, kind="project", name="quokka",
                          project_id=acme_project)["id"]
    hidden.add(post_message(client, ann, org, channel, "quokka internal chatter")["id"])
    team = new_channel(client, ann, org, kind="team", name="quokkas")["id"]
    ok(client.post(f"{o}/channels/{team}/members", json={"user_id": carl.id},
                   headers=ann.headers))
    hidden.add(post_message(client, ann, org, team, "quokka hello Carl")["id"])
    sent = ok(client.post(f"{o}/clients/{acme}/proposals",
                          json={"title": "Quokka offer", "project_id": acme_project},
                          headers=ann.headers))
    ok(client.post(f"{o}/proposals/{sent['id']}/send", headers=ann.headers))
    hidden.add(sent["id"])
    feedback = ok(client.post(f"{o}/clients/{acme}/feedback",
                              json={"rating": 4, "comment": "quokka work was great",
                                    "project_id": acme_project}, headers=carl.headers))
    hidden.add(feedback["id"])
    embedded(runtime, feedback["position"])

    seen = everything(client, org, carl, feedback["position"], ["quokka", "offer", "hello"])
    assert seen == {acme_project, acme_task["id"]}, {"leaked": seen & hidden}
    for kind in ("message", "client", "proposal", "client_feedback"):
        found = search(client, org, carl, "quokka", content_type=kind)
        assert found["items"] == [], kind
    # The Organizer finds all of it: the 404s above are about Carl, not the records.
    assert hidden - {acme} <= everything(client, org, ann, feedback["position"],
                                         ["quokka", "offer", "hello"])

    # Portal access off: nothing at all.
    off = ok(client.patch(f"{o}/clients/{acme}", json={"portal_access": False},
                          headers=ann.headers))["position"]
    r = search_response(client, org, carl, {"q": "quokka", "limit": 50}, off)
    assert r.status_code in (200, 404), r.text
    if r.status_code == 200:
        assert r.json()["items"] == []
    on = ok(client.patch(f"{o}/clients/{acme}", json={"portal_access": True},
                         headers=ann.headers))["position"]
    assert set(found_ids(search(client, org, carl, "quokka", on, limit=50))) == {
        acme_project, acme_task["id"]}


def test_a_removed_project_member_loses_its_results_at_once(client: TestClient,
                                                            runtime: Runtime) -> None:
    team = new_team(client)
    o = org_url(team.org)
    task = create_task(client, team, title="Calibrate the telescope mirror")
    channel = new_channel(client, team.ann, team.org, kind="project", name="telescope",
                          project_id=team.project)["id"]
    said = post_message(client, team.ann, team.org, channel, "telescope mirror polished")
    embedded(runtime, said["position"])
    before = everything(client, team.org, team.bob, said["position"], ["telescope mirror"])
    assert {team.project, task["id"], said["id"]} <= before

    removed = ok(client.delete(f"{o}/projects/{team.project}/members/{team.bob.id}",
                               headers=team.ann.headers))["position"]
    # No wait for any worker: the very next read (at the removal's position) is safe.
    found = search(client, team.org, team.bob, "telescope mirror", removed, limit=50)
    assert found["items"] == [], found
    for params in ({"project_id": team.project}, {"channel_id": channel},
                   {"content_type": "message"}):
        assert search(client, team.org, team.bob, "telescope", removed, limit=50,
                      **params)["items"] == [], params
    # Out of the organization: not even the search exists for him.
    gone = ok(client.delete(f"{o}/members/{team.bob.id}", headers=team.ann.headers))
    r = search_response(client, team.org, team.bob, {"q": "telescope"}, gone["position"])
    assert r.status_code == 404, r.text


def test_a_deleted_message_and_an_archived_project_disappear_at_once(
    client: TestClient, runtime: Runtime,
) -> None:
    team = new_team(client)
    o = org_url(team.org)
    channel = new_channel(client, team.ann, team.org, kind="team", name="general")["id"]
    said = post_message(client, team.ann, team.org, channel, "the flamingo statue is missing")
    kept = post_message(client, team.ann, team.org, channel, "flamingo pond cleaned")
    task = create_task(client, team, title="Repaint the flamingo statue")
    embedded(runtime, task["position"])
    assert {said["id"], kept["id"], task["id"]} <= everything(
        client, team.org, team.ann, task["position"], ["flamingo statue"])

    # An edit: the old words no longer match by text, the snippet is the new text.
    edited = ok(client.patch(f"{o}/messages/{kept['id']}",
                             json={"content": "flamingo pond drained, pelicans moved in"},
                             headers=team.ann.headers))
    embedded(runtime, edited["position"])
    hit = next(i for i in search(client, team.org, team.bob, "cleaned", edited["position"],
                                 limit=50)["items"] if i["source"]["id"] == kept["id"])
    assert "text" not in hit["matched_by"]
    (hit,) = search(client, team.org, team.bob, "pelicans", edited["position"],
                    channel_id=channel)["items"][:1]
    assert hit["snippet"] == "flamingo pond drained, pelicans moved in"

    deleted = ok(client.delete(f"{o}/messages/{said['id']}", headers=team.ann.headers))
    for who in (team.ann, team.bob):
        seen = everything(client, team.org, who, deleted["position"], ["flamingo statue"])
        assert said["id"] not in seen and kept["id"] in seen

    archived = ok(client.post(f"{o}/projects/{team.project}/archive",
                              headers=team.ann.headers))
    for who in (team.ann, team.bob):
        seen = everything(client, team.org, who, archived["position"], ["flamingo statue"])
        assert not seen & {task["id"], team.project}, seen
        assert kept["id"] in seen  # a team channel's message is no part of the project

    made = add_client(client, team.ann, team.org, "Flamingo Supplies")
    customer = made["id"]
    assert customer in everything(client, team.org, team.bob, made["position"],
                                  ["flamingo supplies"])
    gone = ok(client.post(f"{o}/clients/{customer}/archive", headers=team.ann.headers))
    assert customer not in everything(client, team.org, team.bob, gone["position"],
                                      ["flamingo supplies"])


def test_a_demoted_manager_loses_what_the_new_role_may_not_read_at_once(
    client: TestClient, runtime: Runtime,
) -> None:
    team = new_team(client)
    o = org_url(team.org)
    mia = new_person(client, "Mia")
    add_member(client, team.ann, team.org, mia, "Manager")
    customer = add_client(client, team.ann, team.org, "Heron Ltd")["id"]
    offer = ok(client.post(f"{o}/clients/{customer}/proposals",
                           json={"title": "Heron nesting boxes offer"}, headers=team.ann.headers))
    task = create_task(client, team, title="Heron nesting boxes")
    embedded(runtime, max(offer["position"], task["position"]))
    assert {offer["id"], task["id"]} <= everything(client, team.org, mia, task["position"],
                                                   ["heron nesting boxes"])
    demoted = ok(client.patch(f"{o}/members/{mia.id}", json={"role": "Contributor"},
                              headers=team.ann.headers))
    seen = everything(client, team.org, mia, demoted["position"], ["heron nesting boxes"])
    assert not seen & {offer["id"], task["id"], team.project}, seen
    assert customer in seen  # Contributors do find the organization's clients


# --- content types --------------------------------------------------------------------------

def content_types(client: TestClient, org: str, who: Person,
                  position: int | None = None) -> dict[str, bool]:
    r = client.get(f"{org_url(org)}/search/content-types",
                   headers={**who.headers, **fresh(position)})
    assert r.status_code == 200, r.text
    return {i["content_type"]: i["enabled"] for i in r.json()["items"]}


def set_content_type(client: TestClient, org: str, who: Person, content_type: str,
                     body: Any) -> Response:
    return client.put(f"{org_url(org)}/search/content-types/{content_type}", json=body,
                      headers=who.headers)


def test_only_organizers_switch_content_types(client: TestClient) -> None:
    team = new_team(client)
    mia, stranger = new_person(client, "Mia"), new_person(client, "Stranger")
    add_member(client, team.ann, team.org, mia, "Manager")
    acme = add_client(client, team.ann, team.org)["id"]
    carl, _ = add_portal_user(client, team.ann, team.org, acme, "Carl")
    head = content_types(client, team.org, team.bob)
    assert head == {t: True for t in ("project", "task", "message", "client", "proposal",
                                      "client_feedback")}
    for who, status in ((mia, 403), (team.bob, 403), (stranger, 404)):
        r = set_content_type(client, team.org, who, "task", {"enabled": False})
        assert r.status_code == status, (who, r.text)
    r = set_content_type(client, team.org, carl, "task", {"enabled": False})
    assert r.status_code in (403, 404), r.text
    r = client.get(f"{org_url(team.org)}/search/content-types", headers=stranger.headers)
    assert r.status_code == 404
    for content_type, body in (("wiki", {"enabled": False}), ("TASK", {"enabled": False}),
                               ("task", {"enabled": "false"}), ("task", {"enabled": 0}),
                               ("task", {"enabled": None}), ("task", {}),
                               ("task", {"enabled": False, "also": 1}), ("task", [False])):
        r = set_content_type(client, team.org, team.ann, content_type, body)
        assert r.status_code == 422, (content_type, body, r.text)
    assert content_types(client, team.org, team.ann) == head


def test_a_type_switched_off_leaves_search_and_the_assistant_at_once(
    client: TestClient, runtime: Runtime,
) -> None:
    team = new_team(client)
    task = create_task(client, team, title="Tune the harpsichord",
                       description="The harpsichord needs tuning before the concert.")
    channel = new_channel(client, team.ann, team.org, kind="team", name="music")["id"]
    said = post_message(client, team.ann, team.org, channel, "harpsichord tuner booked")
    embedded(runtime, said["position"])
    conversation = ok(client.post(f"{org_url(team.org)}/assistant/conversations", json={},
                                  headers=team.bob.headers))["id"]

    def cited(position: int) -> set[str]:
        r = client.post(
            f"{org_url(team.org)}/assistant/conversations/{conversation}/questions",
            json={"question": "When is the harpsichord tuned?"},
            headers={**team.bob.headers, **fresh(position)})
        assert r.status_code == 201, r.text
        return {c["source_id"] for c in r.json()["citations"]}

    assert {task["id"], said["id"]} <= everything(client, team.org, team.bob,
                                                  said["position"], ["harpsichord"])
    assert task["id"] in cited(said["position"])

    off = set_content_type(client, team.org, team.ann, "task", {"enabled": False})
    assert off.status_code == 200, off.text
    position = off.json()["position"]
    for who in (team.ann, team.bob):
        seen = everything(client, team.org, who, position, ["harpsichord"])
        assert task["id"] not in seen and said["id"] in seen
        assert search(client, team.org, who, "harpsichord", position,
                      content_type="task")["items"] == []
    assert task["id"] not in cited(position)
    flags = content_types(client, team.org, team.bob, position)
    assert flags["task"] is False and flags["message"] is True
    # Switching it off again changes nothing and is no error.
    again = set_content_type(client, team.org, team.ann, "task", {"enabled": False})
    assert again.status_code == 200, again.text

    on = set_content_type(client, team.org, team.ann, "task", {"enabled": True})
    assert on.status_code == 200, on.text
    position = on.json()["position"]
    assert task["id"] in everything(client, team.org, team.bob, position, ["harpsichord"])
    assert task["id"] in cited(position)
    assert content_types(client, team.org, team.bob, position)["task"] is True

    # Every type off: nothing is found, and nothing fails.
    for kind in ("project", "task", "message", "client", "proposal", "client_feedback"):
        r = set_content_type(client, team.org, team.ann, kind, {"enabled": False})
        position = ok(r)["position"] or position
    assert search(client, team.org, team.ann, "harpsichord", position)["items"] == []
    assert cited(position) == set()


def test_twenty_concurrent_searches_all_answer(client: TestClient, runtime: Runtime) -> None:
    """More searches at once than the pool has connections: each answers (or says 503),
    none waits for a connection another search holds while it waits for one too."""
    team = new_team(client)
    task = create_task(client, team, title="Oil the windmill gears")
    embedded(runtime, task["position"])

    def one(i: int) -> Any:
        return search_response(client, team.org, team.bob, {"q": f"windmill gears {i}"})

    outcomes = race([functools.partial(one, i) for i in range(20)])
    crashed = [o for o in outcomes if isinstance(o, BaseException)]
    assert not crashed, crashed
    responses: list[Any] = list(outcomes)
    assert all(r.status_code in (200, 503) for r in responses), [
        r.status_code for r in responses]
    assert any(r.status_code == 200 for r in responses)
    for r in responses:
        if r.status_code == 200:
            assert found_ids(r.json())[0] == task["id"]
