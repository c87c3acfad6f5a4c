"""The assistant over HTTP, offline (no Mistral key in tests): conversations that only
their starter reads, extracted answers citing only what the asker may read, prompt
templates for Organizers, and requests built to break it."""

from __future__ import annotations

import functools
import json
import uuid
from typing import Any

from fastapi.testclient import TestClient

from tests.e2e.test_search_api import embedded, ok, org_url
from tests.e2e.test_tasks_api import Team, create_task, new_project, new_team
from tests.helpers import (
    Person,
    add_client,
    add_member,
    add_portal_user,
    fresh,
    log_head,
    new_organization,
    new_person,
    race,
)
from vistone.runtime import Runtime

LONE_SURROGATES = ["\\ud800", "\\udfff", "a\\udc00b", "\\udc00\\ud800", "x\\ud83d"]

# The test client's responses (httpx's or httpx2's class, by Starlette version).
Response = Any


def start(client: TestClient, org: str, who: Person, **body: Any) -> dict[str, Any]:
    r = client.post(f"{org_url(org)}/assistant/conversations", json=body, headers=who.headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


def conversation_url(org: str, conversation: str, suffix: str = "") -> str:
    return f"{org_url(org)}/assistant/conversations/{conversation}{suffix}"


def ask(client: TestClient, org: str, who: Person, conversation: str, question: str,
        position: int | None = None, headers: dict[str, str] | None = None,
        **body: Any) -> Response:
    return client.post(conversation_url(org, conversation, "/questions"),
                       json={"question": question, **body},
                       headers={**who.headers, **fresh(position), **(headers or {})})


def turns(client: TestClient, org: str, who: Person, conversation: str,
          position: int | None) -> list[dict[str, Any]]:
    r = client.get(conversation_url(org, conversation, "/turns"), params={"limit": 100},
                   headers={**who.headers, **fresh(position)})
    assert r.status_code == 200, r.text
    assert r.json()["next_cursor"] is None
    return list(r.json()["items"])


def head(runtime: Runtime) -> int | None:
    return log_head(runtime)


def send_raw(client: TestClient, url: str, body: str, who: Person) -> Response:
    return client.post(url, content=body.encode("ascii"),
                       headers={"content-type": "application/json", **who.headers})


def garden(client: TestClient, runtime: Runtime) -> tuple[Team, dict[str, Any], dict[str, Any]]:
    """A team whose project holds a task about compost, and a project bob is not on
    holding a task about compost matching the question better."""
    team = new_team(client)
    seen = create_task(client, team, title="Turn the compost heap",
                       description="The compost heap needs turning every two weeks.")
    hidden_project = new_project(client, team.ann, team.org)
    hidden = ok(client.post(f"{org_url(team.org)}/projects/{hidden_project}/tasks",
                            json={"title": "How often to turn the compost heap",
                                  "description": "Turn the compost heap weekly; secret ratio "
                                                 "of greens to browns is three to one."},
                            headers=team.ann.headers))
    embedded(runtime, hidden["position"])
    return team, seen, {**hidden, "project_id": hidden_project}


def test_an_offline_answer_quotes_and_cites_what_the_asker_may_read(
    client: TestClient, runtime: Runtime,
) -> None:
    team, seen, hidden = garden(client, runtime)
    started = start(client, team.org, team.bob)
    conversation = started["id"]
    assert started["version"] == 1
    question = "How often should the compost heap be turned?"
    r = ask(client, team.org, team.bob, conversation, question, hidden["position"])
    assert r.status_code == 201, r.text
    answer = r.json()
    assert answer["mode"] == "extracted" and answer["model"] == "none"
    assert answer["template"] == "built-in" and answer["notice"] is None
    assert answer["tokens"] == {"prompt": 0, "completion": 0}
    assert answer["conversation_id"] == conversation and answer["version"] == 3
    assert r.headers["etag"] == '"3"'
    assert answer["answer"].startswith("Extracted answer")
    cited = [c["source_id"] for c in answer["citations"]]
    assert cited[0] == seen["id"], answer["citations"]
    assert hidden["id"] not in cited and hidden["id"] not in answer["answer"]
    assert "secret ratio" not in answer["answer"]
    for citation in answer["citations"]:
        assert citation["cited"] is True and f"[{citation['source_id']}]" in answer["answer"]
        assert citation["link"].startswith(f"{org_url(team.org)}/")
    # Every source cited is one bob's own search finds.
    r = client.get(f"{org_url(team.org)}/search", params={"q": question, "limit": 50},
                   headers=team.bob.headers)
    assert set(cited) <= {i["source"]["id"] for i in r.json()["items"]}

    # The Organizer, asking the same, gets the hidden project's task too.
    mine = start(client, team.org, team.ann)["id"]
    r = ask(client, team.org, team.ann, mine, question)
    assert hidden["id"] in [c["source_id"] for c in r.json()["citations"]]

    listed = turns(client, team.org, team.bob, conversation, answer["position"])
    assert [(t["turn"], t["role"]) for t in listed] == [(1, "user"), (2, "assistant")]
    assert listed[0]["content"] == question and listed[0]["metadata"] == {}
    assert listed[1]["content"] == answer["answer"]
    meta = listed[1]["metadata"]
    assert meta["citations"] == answer["citations"]
    assert (meta["mode"], meta["model"], meta["template"]) == ("extracted", "none", "built-in")
    assert meta["tokens"] == {"prompt": 0, "completion": 0}

    r = client.get(conversation_url(team.org, conversation),
                   headers={**team.bob.headers, **fresh(answer["position"])})
    assert r.status_code == 200, r.text
    view = r.json()
    assert (view["turns"], view["tokens_used"], view["version"]) == (2, 0, 3)
    assert view["title"] == question  # untitled: named by its first question

    # Removed from the project, bob's next answer cites nothing of it, at once.
    removed = ok(client.delete(f"{org_url(team.org)}/projects/{team.project}/members/"
                               f"{team.bob.id}", headers=team.ann.headers))
    r = ask(client, team.org, team.bob, conversation, question, removed["position"])
    assert r.status_code == 201, r.text
    assert not {seen["id"], team.project} & {c["source_id"] for c in r.json()["citations"]}
    assert "compost heap needs turning" not in r.json()["answer"]
    assert view["user_id"] == team.bob.id
    r = client.get(f"{org_url(team.org)}/assistant/conversations",
                   headers={**team.bob.headers, **fresh(answer["position"])})
    assert [c["id"] for c in r.json()["items"]] == [conversation]


def test_filters_narrow_what_the_answer_cites(client: TestClient, runtime: Runtime) -> None:
    team, seen, hidden = garden(client, runtime)
    r = client.post(f"{org_url(team.org)}/channels", json={"kind": "team", "name": "garden"},
                    headers=team.ann.headers)
    channel = ok(r)["id"]
    said = ok(client.post(f"{org_url(team.org)}/channels/{channel}/messages",
                          json={"content": "compost heap smells, turn it"},
                          headers=team.ann.headers))
    embedded(runtime, said["position"])
    conversation = start(client, team.org, team.bob)["id"]
    r = ask(client, team.org, team.bob, conversation, "compost heap", said["position"],
            content_types=["message"])
    assert [c["source_id"] for c in r.json()["citations"]] == [said["id"]]
    r = ask(client, team.org, team.bob, conversation, "compost heap",
            project_id=team.project)
    cited = {c["source_id"] for c in r.json()["citations"]}
    assert seen["id"] in cited and said["id"] not in cited
    # Naming the hidden project does not reach into it: no passage, an honest answer.
    r = ask(client, team.org, team.bob, conversation, "compost heap",
            project_id=hidden["project_id"])
    assert r.status_code == 201, r.text
    assert r.json()["citations"] == []
    assert "no passage" in r.json()["answer"]


def test_a_conversation_is_its_starters_alone(client: TestClient) -> None:
    team = new_team(client)
    conversation = start(client, team.org, team.bob, title="Bob's")["id"]
    mia = new_person(client, "Mia")
    add_member(client, team.ann, team.org, mia, "Manager")
    stranger = new_person(client, "Stranger")
    other_org = new_organization(client, stranger)["id"]
    task = create_task(client, team)
    for who, org in ((team.ann, team.org), (mia, team.org), (stranger, team.org),
                     (stranger, other_org)):
        for method, suffix, body in (("GET", "", None), ("GET", "/turns", None),
                                     ("POST", "/questions", {"question": "anything?"})):
            r = client.request(method, conversation_url(org, conversation, suffix), json=body,
                               headers=who.headers)
            assert r.status_code == 404, (who.email, org, method, suffix, r.text)
            assert "Bob's" not in r.text
        r = client.get(f"{org_url(org)}/assistant/conversations", headers=who.headers)
        if r.status_code == 200:
            assert conversation not in r.text
    # Ids of other things, or of nothing, are not conversations.
    for other in (task["id"], team.project, str(uuid.uuid4())):
        assert client.get(conversation_url(team.org, other),
                          headers=team.bob.headers).status_code == 404
        r = ask(client, team.org, team.bob, other, "anything?")
        assert r.status_code == 404, r.text
    # Bob, member of another organization too, cannot reach it through that one.
    add_member(client, stranger, other_org, team.bob, "Contributor")
    assert client.get(conversation_url(other_org, conversation),
                      headers=team.bob.headers).status_code == 404
    assert ask(client, other_org, team.bob, conversation, "x").status_code == 404
    # Out of the organization, not even his own conversation is his.
    gone = ok(client.delete(f"{org_url(team.org)}/members/{team.bob.id}",
                            headers=team.ann.headers))
    r = client.get(conversation_url(team.org, conversation),
                   headers={**team.bob.headers, **fresh(gone["position"])})
    assert r.status_code == 404
    assert ask(client, team.org, team.bob, conversation, "x").status_code == 404


def test_a_client_portal_user_does_not_use_the_assistant(client: TestClient,
                                                         runtime: Runtime) -> None:
    """The Client role writes nothing but feedback and proposal answers, and an answer
    would outlive the portal's scope: no conversation (search reads the portal)."""
    ann = new_person(client, "Ann")
    org = new_organization(client, ann)["id"]
    acme = add_client(client, ann, org, "Acme")["id"]
    carl, _ = add_portal_user(client, ann, org, acme, "Carl")
    before = head(runtime)
    r = client.post(f"{org_url(org)}/assistant/conversations", json={}, headers=carl.headers)
    assert r.status_code == 403 and r.json()["type"].endswith("/forbidden"), r.text
    # Nor on a conversation started before they became a Client.
    bob = new_person(client, "Bob")
    add_member(client, ann, org, bob, "Contributor")
    conversation = start(client, org, bob)["id"]
    r = client.patch(f"{org_url(org)}/members/{bob.id}", json={"role": "Client"},
                     headers=ann.headers)
    assert r.status_code == 200, r.text
    r = ask(client, org, bob, conversation, "anything", r.json()["position"])
    assert r.status_code == 403, r.text
    assert head(runtime) > before  # (the role change and the start were written)


def test_bad_questions_are_refused_and_write_nothing(client: TestClient,
                                                     runtime: Runtime) -> None:
    team = new_team(client)
    conversation = start(client, team.org, team.bob)["id"]
    url = conversation_url(team.org, conversation, "/questions")
    before = head(runtime)
    for body in ({"question": ""}, {"question": "   "}, {"question": "\n\t"}, {},
                 {"question": None}, {"question": 42}, {"question": ["why?"]},
                 {"question": "x" * 2001}, {"question": "ok", "extra": 1},
                 {"question": "ok", "content_types": ["wiki"]},
                 {"question": "ok", "content_types": "task"},
                 {"question": "ok", "project_id": "not-a-uuid"},
                 {"question": "ok", "project_id": 7}, {"question": "a\u0000b"}):
        r = client.post(url, json=body, headers=team.bob.headers)
        assert r.status_code == 422, (body, r.status_code, r.text)
    for bad in LONE_SURROGATES:
        r = send_raw(client, url, f'{{"question": "why {bad}?"}}', team.bob)
        assert 400 <= r.status_code < 500, (bad, r.status_code, r.text)
    for raw in ('{"question": ' + "[" * 5000 + "]" * 5000 + "}",
                 '{"question": "ok", "project_id": ' + "{" * 3000 + "}" * 3000 + "}",
                 '{"question": "ok", "content_types": ' + "[" * 100000 + "]" * 100000 + "}",
                 '{"question": "ok", "project_id": 1' + "0" * 5000 + "}",
                 '{"question": NaN}', '{"question": "ok", "project_id": Infinity}',
                 '{"question": "ok",', "not json", ""):
        r = send_raw(client, url, raw, team.bob)
        assert 400 <= r.status_code < 500, (raw[:60], r.status_code, r.text[:300])
    assert head(runtime) == before, "a refused question appended to the log"
    longest = ask(client, team.org, team.bob, conversation, "x" * 2000)
    assert longest.status_code == 201, longest.text
    r = client.post(f"{org_url(team.org)}/assistant/conversations",
                    json={"title": "t" * 201}, headers=team.bob.headers)
    assert r.status_code == 422
    r = send_raw(client, f"{org_url(team.org)}/assistant/conversations",
                 '{"title": "\\ud800"}', team.bob)
    assert 400 <= r.status_code < 500, r.text
    listed = turns(client, team.org, team.bob, conversation, longest.json()["position"])
    assert [t["content"] for t in listed if t["role"] == "user"] == ["x" * 2000]


def test_a_replayed_idempotency_key_answers_the_same_and_appends_nothing(
    client: TestClient, runtime: Runtime,
) -> None:
    team, _, _ = garden(client, runtime)
    conversation = start(client, team.org, team.bob)["id"]
    key = {"Idempotency-Key": f"ask-{uuid.uuid4().hex}"}
    first = ask(client, team.org, team.bob, conversation, "compost?", headers=key)
    assert first.status_code == 201, first.text
    tail = head(runtime)
    again = ask(client, team.org, team.bob, conversation, "compost?", headers=key)
    assert again.status_code == 201, again.text
    assert again.json() == first.json()
    assert head(runtime) == tail
    # The same key for another question is refused, not answered.
    other = ask(client, team.org, team.bob, conversation, "weeds?", headers=key)
    assert other.status_code == 422, other.text
    assert head(runtime) == tail
    listed = turns(client, team.org, team.bob, conversation, first.json()["position"])
    assert [t["content"] for t in listed if t["role"] == "user"] == ["compost?"]
    r = client.get(conversation_url(team.org, conversation),
                   headers={**team.bob.headers, **fresh(first.json()["position"])})
    assert r.json()["turns"] == 2


def test_twenty_concurrent_asks_on_one_conversation(client: TestClient,
                                                    runtime: Runtime) -> None:
    team, _, _ = garden(client, runtime)
    conversation = start(client, team.org, team.bob)["id"]

    def one(i: int) -> Response:
        return ask(client, team.org, team.bob, conversation, f"compost question {i}?")

    outcomes = race([functools.partial(one, i) for i in range(20)])
    # (The test client's responses are not httpx.Response instances: tell them by type.)
    crashed = [o for o in outcomes if isinstance(o, BaseException)]
    assert not crashed, crashed
    responses: list[Any] = list(outcomes)
    statuses = [r.status_code for r in responses]
    assert all(s in (201, 409, 503) for s in statuses), statuses
    answered = [r for r in responses if r.status_code == 201]
    assert answered, statuses
    for refused in (r for r in responses if r.status_code != 201):
        assert refused.headers["content-type"].startswith("application/problem+json")
    versions = sorted(o.json()["version"] for o in answered)
    assert versions == [3 + 2 * i for i in range(len(answered))], versions
    position = max(o.json()["position"] for o in answered)
    listed = turns(client, team.org, team.bob, conversation, position)
    assert len(listed) == 2 * len(answered)
    assert [t["turn"] for t in listed] == list(range(1, 1 + 2 * len(answered)))
    # Each question is followed by its own answer, never another's.
    for question, answer in zip(listed[::2], listed[1::2], strict=True):
        assert (question["role"], answer["role"]) == ("user", "assistant")
        assert question["content"].startswith("compost question")
    by_version = {o.json()["version"]: o.json()["answer"] for o in answered}
    # (An answer at version v is turn v - 1: Started is version 1.)
    assert {t["turn"] + 1: t["content"] for t in listed[1::2]} == by_version
    asked = sorted(t["content"] for t in listed[::2])
    assert len(set(asked)) == len(asked)
    r = client.get(conversation_url(team.org, conversation),
                   headers={**team.bob.headers, **fresh(position)})
    assert r.json()["turns"] == 2 * len(answered)


# --- prompt templates -----------------------------------------------------------------------

def templates_url(org: str, name: str | None = None) -> str:
    url = f"{org_url(org)}/assistant/prompt-templates"
    return url if name is None else f"{url}/{name}"


def save(client: TestClient, org: str, who: Person, name: str, **body: Any) -> Response:
    return client.put(templates_url(org, name), json=body, headers=who.headers)


def test_only_organizers_read_and_write_prompt_templates(client: TestClient) -> None:
    team = new_team(client)
    mia, stranger = new_person(client, "Mia"), new_person(client, "Stranger")
    add_member(client, team.ann, team.org, mia, "Manager")
    acme = add_client(client, team.ann, team.org)["id"]
    carl, _ = add_portal_user(client, team.ann, team.org, acme, "Carl")
    body = {"category": "assistant", "template": "Be brief.\n{context}\n{question}",
            "active": False}
    r = save(client, team.org, team.ann, "terse", **body)
    assert r.status_code == 200, r.text
    saved = r.json()
    r = client.get(templates_url(team.org),
                   headers={**team.ann.headers, **fresh(saved["position"])})
    assert r.status_code == 200, r.text
    (item,) = r.json()["items"]
    assert (item["name"], item["category"], item["active"]) == ("terse", "assistant", False)
    assert item["template"] == body["template"] and item["id"] == saved["id"]
    # Saving the same again changes nothing; a change is a new version of the same one.
    assert save(client, team.org, team.ann, "terse", **body).json()["version"] == 1
    r = save(client, team.org, team.ann, "terse", **{**body, "active": True})
    assert (r.json()["id"], r.json()["version"]) == (saved["id"], 2)

    for who, status in ((mia, 403), (team.bob, 403), (stranger, 404)):
        assert save(client, team.org, who, "terse", **body).status_code == status, who.email
        r = client.get(templates_url(team.org), headers=who.headers)
        assert r.status_code == status, (who.email, r.text)
        assert "Be brief" not in r.text
    assert save(client, team.org, carl, "terse", **body).status_code in (403, 404)
    assert client.get(templates_url(team.org), headers=carl.headers).status_code in (403, 404)

    for name, fields in (("bad/name", {}), ("-dash", {}), (" space", {}), ("n" * 101, {}),
                         ("ok", {"template": ""}), ("ok", {"template": "   "}),
                         ("ok", {"template": "x" * 8001}), ("ok", {"category": ""}),
                         ("ok", {"active": "yes"}), ("ok", {"active": None}),
                         ("ok", {"template": "a\u0000"}), ("ok", {"colour": "red"})):
        r = save(client, team.org, team.ann, name, **{**body, **fields})
        assert r.status_code in (404, 422), (name, fields, r.status_code, r.text)
        if "/" not in name:
            assert r.status_code == 422, (name, fields, r.text)
    r = send_raw(client, templates_url(team.org, "ok"),
                 '{"category": "assistant", "active": true, "template": "\\udc00"}', team.ann)
    assert 400 <= r.status_code < 500, r.text


def test_the_active_assistant_template_is_the_one_answers_use(client: TestClient,
                                                             runtime: Runtime) -> None:
    team, _, _ = garden(client, runtime)
    conversation = start(client, team.org, team.ann)["id"]
    saved = ok(save(client, team.org, team.ann, "terse", category="assistant",
                    template="Answer in one line: {question}\n{context}", active=True))
    r = ask(client, team.org, team.ann, conversation, "compost?", saved["position"])
    assert r.json()["template"] == "terse", r.text
    # A template of another category is not the assistant's, even saved later.
    other = ok(save(client, team.org, team.ann, "mail", category="email",
                    template="Dear {question}", active=True))
    r = ask(client, team.org, team.ann, conversation, "compost?", other["position"])
    assert r.json()["template"] == "terse"
    # Bob's answers use the organization's template too.
    bobs = start(client, team.org, team.bob)["id"]
    assert ask(client, team.org, team.bob, bobs, "compost?").json()["template"] == "terse"
    off = ok(save(client, team.org, team.ann, "terse", category="assistant",
                  template="Answer in one line: {question}\n{context}", active=False))
    r = ask(client, team.org, team.ann, conversation, "compost?", off["position"])
    assert r.json()["template"] == "built-in"
    # Of two active ones, the one saved last.
    for name in ("first", "second"):
        latest = ok(save(client, team.org, team.ann, name, category="assistant",
                         template=f"{name}: {{question}} {{context}}", active=True))
    assert ask(client, team.org, team.ann, conversation, "compost?",
               latest["position"]).json()["template"] == "second"
    latest = ok(save(client, team.org, team.ann, "first", category="assistant",
                     template="first, revised: {question} {context}", active=True))
    assert ask(client, team.org, team.ann, conversation, "compost?",
               latest["position"]).json()["template"] == "first"
    r = ask(client, team.org, team.ann, conversation, "compost?", off["position"])
    listed = turns(client, team.org, team.ann, conversation, r.json()["position"])
    assert [t["metadata"]["template"] for t in listed if t["role"] == "assistant"] == [
        "terse", "terse", "built-in", "second", "first", "first"]
    # Another organization's active template is not this one's.
    other_team = new_team(client)
    theirs = start(client, other_team.org, other_team.ann)["id"]
    r = ask(client, other_team.org, other_team.ann, theirs, "compost?", off["position"])
    assert r.json()["template"] == "built-in"


def test_the_contract_of_an_answer_is_valid_json_even_for_odd_text(
    client: TestClient, runtime: Runtime,
) -> None:
    """Questions in every plane and with JSON-significant characters come back intact."""
    team = new_team(client)
    odd = 'Quote " backslash \\ emoji \U0001f600 rtl \u202e end </script>'
    task = create_task(client, team, title=odd, description=odd)
    embedded(runtime, task["position"])
    conversation = start(client, team.org, team.bob)["id"]
    r = ask(client, team.org, team.bob, conversation, odd, task["position"])
    assert r.status_code == 201, r.text
    assert odd in json.loads(r.text)["answer"]
    listed = turns(client, team.org, team.bob, conversation, r.json()["position"])
    assert listed[0]["content"] == odd
