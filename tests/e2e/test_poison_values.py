"""Poison values over HTTP: numbers PostgreSQL or orjson cannot hold, text that is not valid
Unicode, forged cursors. Every one answers a 4xx problem naming the field and appends
nothing to the log, so no read model can ever be stopped by an event it cannot store.

Bodies are sent as raw JSON text: an HTTP client would refuse to encode NaN or a lone
surrogate, an attacker's client does not."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from tests.e2e.test_tasks_api import Team, create_task, new_team
from tests.helpers import Person, fresh, log_head
from vistone.runtime import Runtime

LONE_SURROGATES = ["\\ud800", "\\udfff", "a\\udc00b", "\\udc00\\ud800", "x\\ud83d"]
NUL = "\\u0000"


@dataclass
class World:
    """A team (ann Organizer and project Lead, bob Contributor and project Member) with a
    task, a checklist item, a team channel with a message, and a time log of ann's."""

    team: Team
    task: str
    item: str
    channel: str
    message: str
    time_log: str

    @property
    def org_url(self) -> str:
        return f"/v1/organizations/{self.team.org}"


@pytest.fixture(scope="module")
def world(client: TestClient) -> Iterator[World]:
    team = new_team(client)
    ann = team.ann
    task = create_task(client, team)["id"]
    r = client.post(team.task_url(task, "/checklist"), json={"text": "step"},
                    headers=ann.headers)
    assert r.status_code == 201, r.text
    item = r.json()["item_id"]
    base = f"/v1/organizations/{team.org}"
    r = client.post(f"{base}/channels", json={"kind": "team", "name": "general"},
                    headers=ann.headers)
    assert r.status_code == 201, r.text
    channel = r.json()["id"]
    r = client.post(f"{base}/channels/{channel}/messages", json={"content": "hello"},
                    headers=ann.headers)
    assert r.status_code == 201, r.text
    message = r.json()["id"]
    r = client.post(f"{base}/time-logs", json={"task_id": task, "work_date": "2030-01-02",
                                               "hours": "1.5"}, headers=ann.headers)
    assert r.status_code == 201, r.text
    yield World(team, task, item, channel, message, r.json()["id"])


def send(client: TestClient, method: str, url: str, body: str,
         who: Person | None = None) -> Response:
    headers = {"content-type": "application/json", **(who.headers if who else {})}
    return client.request(method, url, content=body.encode("ascii"), headers=headers)


def head(runtime: Runtime) -> int | None:
    return log_head(runtime)


def assert_refused(r: Response, runtime: Runtime, before: int | None,
                   field: str | None = None) -> None:
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/problem+json"), r.text
    if field is not None:
        assert field in r.text, r.text
    assert head(runtime) == before, "a refused request appended to the log"


def text_commands(w: World) -> list[tuple[str, str, str, str, Person | None]]:
    """(method, url, body with {v} where a JSON string goes, field, who): every text field
    of every command."""
    t, o, ann = w.team, w.org_url, w.team.ann
    project = f"{o}/projects/{t.project}"
    task = t.task_url(w.task)
    email = f"poison-{uuid.uuid4().hex[:8]}@example.test"
    return [
        ("POST", "/v1/auth/register",
         f'{{"email": "{email}", "name": {{v}}, "password": "long enough"}}', "name", None),
        ("POST", "/v1/auth/register",
         '{"email": {v}, "name": "N", "password": "long enough"}', "email", None),
        ("POST", "/v1/auth/register",
         f'{{"email": "{email}", "name": "N", "password": {{v}}}}', "password", None),
        ("POST", "/v1/auth/register",
         f'{{"email": "{email}", "name": "N", "password": "long enough", "phone": {{v}}}}',
         "phone", None),
        ("POST", "/v1/auth/login", '{"email": {v}, "password": "long enough"}', "email", None),
        ("POST", "/v1/auth/login", f'{{"email": "{ann.email}", "password": {{v}}}}',
         "password", None),
        ("PATCH", "/v1/me", '{"name": {v}}', "name", ann),
        ("PATCH", "/v1/me", '{"phone": {v}}', "phone", ann),
        ("POST", "/v1/organizations", '{"name": {v}, "slug": "poison-org"}', "name", ann),
        ("POST", "/v1/organizations", '{"name": "Poison", "slug": {v}}', "slug", ann),
        ("PATCH", o, '{"name": {v}}', "name", ann),
        ("PATCH", o, '{"slug": {v}}', "slug", ann),
        ("PATCH", o, '{"settings": {"theme": {v}}}', "settings", ann),
        ("PATCH", o, '{"settings": {"nested": [1, {"deeper": [{v}]}]}}', "settings", ann),
        ("PATCH", o, '{"settings": {{v}: 1}}', "settings", ann),
        ("PATCH", o, '{"settings": {"a": {{v}: true}}}', "settings", ann),
        ("POST", f"{o}/members", '{"email": {v}, "role": "Contributor"}', "email", ann),
        ("POST", f"{o}/members", f'{{"user_id": "{t.bob.id}", "role": {{v}}}}', "role", ann),
        ("PATCH", f"{o}/members/{t.bob.id}", '{"role": {v}}', "role", ann),
        ("POST", f"{o}/projects", '{"name": {v}}', "name", ann),
        ("POST", f"{o}/projects", '{"name": "P", "description": {v}}', "description", ann),
        ("PATCH", project, '{"name": {v}}', "name", ann),
        ("PATCH", project, '{"description": {v}}', "description", ann),
        ("POST", f"{project}/status", '{"status": {v}}', "status", ann),
        ("POST", f"{project}/members", f'{{"user_id": "{t.bob.id}", "role": {{v}}}}', "role",
         ann),
        ("PATCH", f"{project}/members/{t.bob.id}", '{"role": {v}}', "role", ann),
        ("POST", t.tasks_url, '{"title": {v}}', "title", ann),
        ("POST", t.tasks_url, '{"title": "T", "description": {v}}', "description", ann),
        ("POST", t.tasks_url, '{"title": "T", "priority": {v}}', "priority", ann),
        ("PATCH", task, '{"title": {v}}', "title", ann),
        ("PATCH", task, '{"description": {v}}', "description", ann),
        ("PATCH", task, '{"priority": {v}}', "priority", ann),
        ("POST", f"{task}/status", '{"status": {v}}', "status", ann),
        ("POST", f"{task}/checklist", '{"text": {v}}', "text", ann),
        ("PATCH", f"{task}/checklist/{w.item}", '{"text": {v}}', "text", ann),
        ("POST", f"{o}/channels", '{"kind": "team", "name": {v}}', "name", ann),
        ("POST", f"{o}/channels", '{"kind": {v}, "name": "n"}', "kind", ann),
        ("POST", f"{o}/channels/{w.channel}/messages", '{"content": {v}}', "content", ann),
        ("POST", f"{o}/channels/{w.channel}/messages",
         '{"content": "c", "attachments": [{"url": {v}, "file_type": "image/png"}]}', "url",
         ann),
        ("POST", f"{o}/channels/{w.channel}/messages",
         '{"content": "c", "attachments": [{"url": "https://x.test/a", "file_type": {v}}]}',
         "file_type", ann),
        ("PATCH", f"{o}/messages/{w.message}", '{"content": {v}}', "content", ann),
        ("POST", f"{o}/time-logs",
         f'{{"task_id": "{w.task}", "work_date": "2030-01-03", "hours": 1, '
         f'"description": {{v}}}}', "description", ann),
        ("PATCH", f"{o}/time-logs/{w.time_log}", '{"description": {v}}', "description", ann),
        # A stray field whose *name* is not valid Unicode.
        ("PATCH", task, '{{v}: 1}', "", ann),
    ]


def test_every_text_field_of_every_command_refuses_lone_surrogates_and_nul(
    client: TestClient, runtime: Runtime, world: World
) -> None:
    wrong = []
    for method, url, template, field, who in text_commands(world):
        for bad in [*LONE_SURROGATES, f"a{NUL}b"]:
            before = head(runtime)
            r = send(client, method, url, template.replace("{v}", f'"{bad}"'), who)
            refused = (400 <= r.status_code < 500 and head(runtime) == before
                       and r.headers["content-type"].startswith("application/problem+json"))
            # The problem names the field, unless the body as a whole was refused.
            named = field in r.text or '"field":"body"' in r.text or "nul-character" in r.text
            if not (refused and named):
                wrong.append((method, url, field, bad, r.status_code, r.text[:200]))
    assert not wrong, "\n".join(map(str, wrong))


def test_valid_escaped_surrogate_pairs_are_ordinary_text(
    client: TestClient, world: World
) -> None:
    """Clients that escape non-ASCII (Python's json.dumps does) send emoji as pairs."""
    t = world.team
    r = send(client, "POST", t.tasks_url, '{"title": "launch \\ud83d\\ude80 \\u00e9"}',
             t.ann)
    assert r.status_code == 201, r.text
    r = client.get(t.task_url(r.json()["id"]),
                   headers={**t.ann.headers, **fresh(r.json()["position"])})
    assert r.status_code == 200 and r.json()["title"] == "launch \U0001f680 \u00e9"


POISON_NUMBERS = [
    "NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1E999999999",
    "9223372036854775807", "9223372036854774785", "-9223372036854775808",
    "-9223372036854774785",
    "123456789012345678901234567890",
    # Finite floats beyond the signed 64-bit range: jsonb gives them back as integers, which
    # bigint columns, typed consumers and (past 2**64) orjson cannot hold.
    "1e19", "1e20", "-1.7976931348623157e308", "9.223372036854775808e18",
    "-9.223372036854775808e18",
]


@pytest.mark.parametrize("number", POISON_NUMBERS)
def test_settings_refuse_numbers_no_consumer_can_hold(
    client: TestClient, runtime: Runtime, world: World, number: str
) -> None:
    ann = world.team.ann
    for settings in (f'{{"n": {number}}}', f'{{"a": [1, {{"b": [{number}]}}]}}'):
        before = head(runtime)
        r = send(client, "PATCH", world.org_url, f'{{"settings": {settings}}}', ann)
        if number.lstrip("-") in ("NaN", "Infinity"):  # not JSON at all
            assert_refused(r, runtime, before)
            assert r.status_code == 400 and r.json()["type"].endswith("/malformed-json")
        else:
            assert_refused(r, runtime, before, "settings")
            assert r.status_code == 422


EXACT_ONLY = ["1e-400", "99999999999999.99", "0.1000000000000000055511151231257827"]


@pytest.mark.parametrize("number", EXACT_ONLY)
def test_settings_refuse_fractions_a_double_would_round(
    client: TestClient, runtime: Runtime, world: World, number: str
) -> None:
    """Settings numbers stay JSON numbers (doubles); one a double cannot hold exactly is
    refused, never stored rounded."""
    before = head(runtime)
    r = send(client, "PATCH", world.org_url, f'{{"settings": {{"n": {number}}}}}',
             world.team.ann)
    assert_refused(r, runtime, before, "settings")
    assert r.status_code == 422


def test_settings_refuse_event_store_type_tags_and_deep_nesting(
    client: TestClient, runtime: Runtime, world: World
) -> None:
    """``{"_type_", "_data_"}`` is how the event store tags its own types: stored, it would
    be decoded into something else (or fail to decode) when the event is read back."""
    ann = world.team.ann
    deep = "[" * 32 + "1" + "]" * 32  # 33 levels with the settings object
    for settings in ('{"x": {"_type_": "decimal_str", "_data_": "1"}}',
                     '{"x": [{"_type_": "no_such_type", "_data_": 1}]}',
                     '{"_type_": "uuid_hex", "_data_": "zz"}',
                     f'{{"deep": {deep}}}'):
        before = head(runtime)
        r = send(client, "PATCH", world.org_url, f'{{"settings": {settings}}}', ann)
        assert_refused(r, runtime, before, "settings")
    # The organization is untouched and still served.
    r = client.get(world.org_url, headers=ann.headers)
    assert r.status_code == 200, r.text


def test_settings_at_the_bounds_are_stored_and_served(
    client: TestClient, world: World
) -> None:
    ann = world.team.ann
    # The settings object is level 1: 31 more levels reach the bound of 32.
    nested = '[{"k": ' * 15 + "[0]" + "}]" * 15
    settings = ('{"max": 9223372036854774784, "min": -9223372036854774784, '
                '"big": 9.2233720368547748e18, "small": -9.2233720368547748e18, '
                '"tiny": 5e-324, "neg_zero": -0.0, '
                '"\\u00e9\\ud83d\\ude80": "\\uffff\\udbff\\udfff", "deep": ' + nested + '}')
    r = send(client, "PATCH", world.org_url, f'{{"settings": {settings}}}', ann)
    assert r.status_code == 200, r.text
    r = client.get(world.org_url, headers={**ann.headers, **fresh(r.json()["position"])})
    assert r.status_code == 200, r.text
    got = r.json()["settings"]
    assert got["max"] == 2**63 - 1024 and got["min"] == -(2**63) + 1024
    # jsonb gives large floats back as integers: equal values, within 64 bits.
    assert float(got["big"]) == 9.2233720368547748e18 and got["tiny"] == 5e-324
    assert float(got["small"]) == -9.2233720368547748e18
    assert got["\u00e9\U0001f680"] == "\uffff\U0010ffff"


MONEY_FIELDS = ["budget", "spent_budget"]


@pytest.mark.parametrize("amount", ['"1e-20000"', '"0.001"', '"12.345"', '"1E-3"',
                                    '"999999999999999.999"', '"1000000000000000"',
                                    '"1e400"', '"NaN"', '"-0.01"',
                                    # the same as JSON numbers: read exactly, never rounded
                                    "1e-20000", "0.001", "999999999999999.999", "1e400",
                                    # strings that are not JSON numbers
                                    '"1_0"', '"\\u0661\\u0662"', '"\\uff11\\uff10"', '" 5 "',
                                    '"+5"', '".5"', '"5."', '"0x10"', "true"])
def test_money_refuses_what_numeric_17_2_cannot_hold_exactly(
    client: TestClient, runtime: Runtime, world: World, amount: str
) -> None:
    t = world.team
    projects = f"{world.org_url}/projects"
    before = head(runtime)
    r = send(client, "POST", projects, f'{{"name": "Money {uuid.uuid4().hex[:6]}", '
                                       f'"budget": {amount}}}', t.ann)
    assert_refused(r, runtime, before, "budget")
    assert r.status_code == 422
    for money in MONEY_FIELDS:
        r = send(client, "PATCH", f"{projects}/{t.project}", f'{{"{money}": {amount}}}', t.ann)
        assert_refused(r, runtime, before, money)
        assert r.status_code == 422


def test_money_at_its_bounds_is_stored_and_served(client: TestClient, world: World) -> None:
    t = world.team
    url = f"{world.org_url}/projects"
    r = client.post(url, json={"name": f"Bounds {uuid.uuid4().hex[:6]}",
                               "budget": "999999999999999.99"}, headers=t.ann.headers)
    assert r.status_code == 201, r.text
    project = r.json()["id"]
    r = client.patch(f"{url}/{project}", json={"spent_budget": "0.01", "budget": "12.50"},
                     headers=t.ann.headers)
    assert r.status_code == 200, r.text
    r = client.get(f"{url}/{project}", headers={**t.ann.headers, **fresh(r.json()["position"])})
    assert r.status_code == 200, r.text
    assert r.json()["spent_budget"] == "0.01" and r.json()["budget"] in ("12.50", "12.5")
    # A JSON number keeps every digit: no trip through a binary float.
    r = send(client, "PATCH", f"{url}/{project}", '{"budget": 99999999999999.99}', t.ann)
    assert r.status_code == 200, r.text
    r = client.get(f"{url}/{project}", headers={**t.ann.headers, **fresh(r.json()["position"])})
    assert r.json()["budget"] == "99999999999999.99"


@pytest.mark.parametrize("day", ['"0"', '"86400"', '"-0"', '"1700006400000"', '"2024-1-5"',
                                 '"2024-02-30"', '"20240105"', '"2024-01-05T00:00:00"', "0"])
def test_dates_are_calendar_dates_written_yyyy_mm_dd(
    client: TestClient, runtime: Runtime, world: World, day: str
) -> None:
    t = world.team
    before = head(runtime)
    r = send(client, "PATCH", f"{world.org_url}/projects/{t.project}",
             f'{{"start_date": {day}}}', t.ann)
    assert_refused(r, runtime, before, "start_date")
    r = send(client, "POST", f"{world.org_url}/time-logs",
             f'{{"task_id": "{world.task}", "work_date": {day}, "hours": 1}}', t.ann)
    assert_refused(r, runtime, before, "work_date")
    for url in (f"{world.org_url}/time-logs", f"{world.org_url}/time-totals/people/{t.ann.id}"):
        r = client.get(url, params={"from": day.strip('"'), "to": "2030-01-01"},
                       headers=t.ann.headers)
        assert r.status_code == 422, r.text


def test_a_date_error_names_the_field(client: TestClient, world: World) -> None:
    t = world.team
    r = client.get(f"{world.org_url}/time-totals/people/{t.ann.id}",
                   params={"from": "2030-01-02", "to": "2030-02-30"}, headers=t.ann.headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "to", r.text


def test_json_beyond_what_any_field_holds_is_a_clear_400(
    client: TestClient, runtime: Runtime, world: World
) -> None:
    before = head(runtime)
    for body in ('{"progress": 1' + "0" * 5000 + "}", '{"settings": ' + "[" * 5000 + "]" * 5000
                 + "}"):
        r = send(client, "PATCH", world.org_url, body, world.team.ann)
        assert_refused(r, runtime, before)
        assert r.status_code == 400 and r.json()["type"].endswith("/malformed-json"), r.text


def forged(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


def test_forged_cursors_holding_nul_or_lone_surrogates_are_400(
    client: TestClient, world: World
) -> None:
    t, o = world.team, world.org_url
    some_id = str(uuid.uuid4())
    lists = [f"{o}/members", f"{o}/projects", f"{o}/projects/{t.project}/members",
             f"{o}/channels", f"{o}/channels/{world.channel}/messages", t.tasks_url,
             f"{o}/time-logs"]
    bad_texts = [NUL, "a" + NUL, *LONE_SURROGATES]
    cursors = [forged(f'["{bad}", "{some_id}"]') for bad in bad_texts]
    cursors += [forged(f'["2030-01-01", "{bad}"]') for bad in bad_texts]
    cursors += [forged("[" * 5000 + "]" * 5000)[:500], forged(json.dumps(["x" * 10, 2**70]))]
    for url in lists:
        for cursor in cursors:
            r = client.get(url, params={"cursor": cursor}, headers=t.ann.headers)
            assert r.status_code == 400, (url, cursor, r.text)
            assert r.json()["type"].endswith("invalid-cursor"), r.text


def test_a_new_person_with_poison_free_extremes_can_register(client: TestClient) -> None:
    """Text from every plane, at its maximum length, is accepted and served back."""
    name = ("\U00010348\u0800\u00e9a\U000e0001\U0010fffd" * 40)[:200]
    email = f"\u00e9l\u00e8ve-{uuid.uuid4().hex[:8]}@exampl\u00e9.test"
    body = json.dumps({"email": email, "name": name, "password": "\U0001f511" * 8})
    r = send(client, "POST", "/v1/auth/register", body)
    assert r.status_code == 201, r.text
    r = send(client, "POST", "/v1/auth/login",
             json.dumps({"email": email.upper(), "password": "\U0001f511" * 8}))
    assert r.status_code == 200, r.text
