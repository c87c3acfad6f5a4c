"""The contract of every consumer of the log: what the domain accepts, every registered read
model can store and serve.

Hypothesis drives the domain through the command functions with extreme values the rules
accept (text from every Unicode plane at its maximum length, money and hours at their
bounds, settings at the depth and number bounds, dates from date.min to date.max), over
every aggregate and event type; then every read model of the registry applies the events on
a fresh database (``catch_up`` raises the first error), and the API serves what they hold
without a 500. A read model added to ``projections.registry`` is covered without a new test.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.main import create_app
from domain.assistant import (
    MAX_QUESTION,
    MAX_TEMPLATE,
    MAX_TEMPLATE_NAME,
    AnswerMode,
    ContentType,
    SearchMode,
    TurnRole,
)
from domain.assistant import MAX_TITLE as MAX_CONVERSATION_TITLE
from domain.base import CommandContext, InvalidValue
from domain.channel import ChannelKind, ChannelRole
from domain.client import ADDRESS_FIELDS, COUNTRY_CODES, validate_email_address
from domain.message import MAX_ATTACHMENTS, MAX_CONTENT_LENGTH, MAX_FILE_TYPE_LENGTH
from domain.project import ProjectRole, ProjectStatus
from domain.proposal import ProposalStatus
from domain.roles import Permission, Role
from domain.task import MAX_CHECKLIST_TEXT, MAX_DESCRIPTION, MAX_TITLE, TaskPriority, TaskStatus
from domain.user import SPACE
from domain.values import INT64_MAX, JSON_NUMBER_LIMIT, MAX_JSON_DEPTH, MAX_MONEY
from projections.registry import all_read_models
from projections.runner import catch_up
from vistone.ai.embedders import configured_embedder
from vistone.app import Command
from vistone.commands import (
    assistant,
    channels,
    client_feedback,
    clients,
    organizations,
    projects,
    proposals,
    tasks,
    timelogs,
    users,
)
from vistone.runtime import Runtime
from workers.embedding import EmbeddingWorker, wait_until_idle

# --- accepted extremes ----------------------------------------------------------------------

# One code point from every plane (planes 3-13 are unassigned: still valid text), and the
# usual troublemakers: controls, BOM, noncharacters, separators, bidi, combining, quotes.
PLANES = [chr(plane * 0x10000 + offset) for plane in range(17) for offset in (0x100, 0xFFFD)]
ODD = ["\x01", "\x1f", "\x7f", "\x85", "\u00a0", "\u0301", "\u2028", "\u202e", "\ufeff",
       "\ufffe", "\uffff", "\U0010ffff", "\U000e0001", "\\", "'", '"', "%", "`"]
char = st.one_of(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"),
                 st.sampled_from(PLANES + ODD))
# Accepted text: no lone surrogate (category Cs), no NUL.
chunk = st.text(char, min_size=1, max_size=12)


def text(max_length: int) -> st.SearchStrategy[str]:
    """Text of 1 to ``max_length`` characters, often exactly ``max_length`` (a drawn chunk
    repeated: hypothesis would not draw 10,000 characters one by one)."""
    at_max = chunk.map(lambda s: (s * (max_length // len(s) + 1))[:max_length])
    return st.one_of(chunk.map(lambda s: s[:max_length]), at_max).filter(lambda s: s.strip())


decimals_2 = st.decimals(min_value=Decimal("0.01"), max_value=MAX_MONEY, places=2)
money = st.one_of(st.sampled_from([Decimal(0), Decimal("0.01"), MAX_MONEY]), decimals_2)
hours = st.one_of(st.sampled_from([Decimal("0.01"), Decimal(24)]),
                  st.decimals(min_value=Decimal("0.01"), max_value=Decimal(24), places=2))
dates = st.one_of(st.sampled_from([date.min, date.max]), st.dates())
json_text = st.text(char, max_size=12)
json_keys = json_text.filter(lambda k: k not in ("_type_", "_data_"))
scalars = st.one_of(
    st.none(), st.booleans(), json_text,
    st.sampled_from([-JSON_NUMBER_LIMIT, JSON_NUMBER_LIMIT, 0, -1, 1.7e308 / 1e290, -0.0,
                     5e-324, -5e-324, 9.2233720368547748e18, -9.2233720368547748e18,
                     2.2250738585072014e-308]),
    st.integers(min_value=-JSON_NUMBER_LIMIT, max_value=JSON_NUMBER_LIMIT),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-9.2233720368547748e18,
              max_value=9.2233720368547748e18),
)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(json_keys, inner,
                                                                         max_size=3),
    max_leaves=12)


def nested(depth: int, leaf: Any) -> Any:
    """``leaf`` under ``depth`` levels of alternating objects and arrays."""
    value = leaf
    for level in range(depth):
        value = {"\U0001f600": value} if level % 2 else [value]
    return value


@st.composite
def settings_documents(draw: st.DrawFn) -> dict[str, Any]:
    document = draw(st.dictionaries(json_keys, json_values, max_size=4))
    document.update({
        "max": JSON_NUMBER_LIMIT, "min": -JSON_NUMBER_LIMIT, "neg_zero": -0.0, "tiny": 5e-324,
        "big": 9.2233720368547748e18, "small": -9.2233720368547748e18,
        draw(json_keys.filter(lambda k: k not in ("max", "min"))): draw(json_text),
        # The settings object is level 1: MAX_JSON_DEPTH - 1 more levels reach the bound.
        "deep": nested(MAX_JSON_DEPTH - 1, draw(scalars)),
    })
    return document


# What an email address may hold (domain/user.py): no "@", white space or control character.
EMAIL_PART = re.compile(rf"[^@\x00-\x1f\x7f-\x9f{SPACE}]+")
email_part = st.text(char, min_size=1, max_size=20).filter(lambda s: bool(EMAIL_PART.fullmatch(s)))


@st.composite
def emails(draw: st.DrawFn) -> str:
    return f"{draw(email_part)}-{uuid.uuid4().hex[:12]}@{draw(email_part)}.{draw(email_part)}"


@dataclass
class Values:
    names: list[str]
    emails: list[str]
    phone: str
    password: str
    organization_name: str
    slug: str
    settings: dict[str, Any]
    project_name: str
    project_rename: str
    description: str
    dates: list[date]
    budgets: list[Decimal]
    progress: int
    titles: list[str]
    task_description: str
    priority: TaskPriority
    checklist: list[str]
    channel_name: str
    content: list[str]
    attachments: list[dict[str, str]]
    hours: list[Decimal]
    work_dates: list[date]
    log_description: str


@st.composite
def values(draw: st.DrawFn) -> Values:
    url_path = text(1900).map(lambda s: s.strip())
    long_slug = f"{uuid.uuid4().hex}-{'z' * 30}"  # 63 characters, the maximum
    return Values(
        names=[draw(text(200)) for _ in range(4)],
        emails=[draw(emails()) for _ in range(3)],
        phone=draw(st.from_regex(r"\+?[0-9 ()-]{5,19}", fullmatch=True)),  # ≤ 20 in all
        password=draw(st.one_of(text(1024), text(64))).ljust(8, "\u00e9"),
        organization_name=draw(text(200)),
        slug=draw(st.sampled_from([f"s{uuid.uuid4().hex[:10]}", long_slug])),
        settings=draw(settings_documents()),
        project_name=draw(text(200)),
        project_rename=draw(text(200)),
        description=draw(text(10_000)),
        dates=sorted(draw(st.lists(dates, min_size=2, max_size=2))),
        budgets=[draw(money) for _ in range(3)],
        progress=draw(st.sampled_from([0, 100]) | st.integers(0, 100)),
        titles=[draw(text(MAX_TITLE)) for _ in range(3)],
        task_description=draw(text(MAX_DESCRIPTION)),
        priority=draw(st.sampled_from(list(TaskPriority))),
        checklist=[draw(text(MAX_CHECKLIST_TEXT)) for _ in range(3)],
        channel_name=draw(text(100)),
        content=[draw(text(MAX_CONTENT_LENGTH)) for _ in range(2)],
        attachments=[{"url": f"https://x.example/{draw(url_path)}",
                      "file_type": draw(text(MAX_FILE_TYPE_LENGTH))}
                     for _ in range(draw(st.sampled_from([1, MAX_ATTACHMENTS])))],
        hours=[draw(hours) for _ in range(3)],
        work_dates=draw(st.lists(dates, min_size=3, max_size=3, unique=True)),
        log_description=draw(text(2000)),
    )


# --- the scenario ---------------------------------------------------------------------------

@dataclass
class World:
    ann: UUID
    bob: UUID
    org: UUID
    project: UUID
    tasks: list[UUID]
    channel: UUID
    message: UUID


def run_every_command(runtime: Runtime, v: Values) -> World:
    """Every aggregate and event type, through the command functions."""
    app = runtime.app
    anonymous = CommandContext(actor_id=None, correlation_id=v.names[3][:200],
                               user_agent=v.names[2])
    ann = users.register_user(Command(app, anonymous), email=v.emails[0], name=v.names[0],
                              password=v.password, phone=v.phone).id
    bob = users.register_user(Command(app, anonymous), email=v.emails[1], name=v.names[1],
                              password=v.password).id
    cli = users.register_user(Command(app, anonymous), email=v.emails[2], name=v.names[2],
                              password=v.password, phone=v.phone).id
    users.update_profile(Command(app, CommandContext(bob)), bob,
                         changes={"name": v.names[3], "phone": v.phone})

    a = CommandContext(actor_id=ann, correlation_id=v.names[0][:200])
    org = organizations.create_organization(Command(app, a), name=v.organization_name,
                                            slug=v.slug).id
    organizations.update_organization(Command(app, a), org, name=v.names[3], settings=v.settings)
    organizations.add_member(Command(app, a), org, role=Role.CONTRIBUTOR, user_id=bob)
    organizations.add_member(Command(app, a), org, role=Role.CLIENT, email=v.emails[2])
    organizations.change_member_role(Command(app, a), org, bob, role=Role.MANAGER)
    organizations.change_member_role(Command(app, a), org, bob, role=Role.CONTRIBUTOR)

    start, end = v.dates
    project = projects.create_project(
        Command(app, a), org, name=v.project_name, description=v.description,
        start_date=start, end_date=end, budget=v.budgets[0]).id
    projects.update_project(Command(app, a), org, project, changes={
        "name": v.project_rename, "description": v.description[::-1].strip() or None,
        "budget": v.budgets[1], "spent_budget": v.budgets[2], "progress": v.progress,
        "start_date": start, "end_date": end})
    for status in (ProjectStatus.ACTIVE, ProjectStatus.ON_HOLD, ProjectStatus.ACTIVE):
        projects.change_project_status(Command(app, a), org, project, status=status)
    projects.add_project_member(Command(app, a), org, project, user_id=bob, role=ProjectRole.MEMBER)
    projects.add_project_member(Command(app, a), org, project, user_id=cli, role=ProjectRole.VIEWER)
    projects.change_project_member_role(Command(app, a), org, project, bob, role=ProjectRole.LEAD)
    projects.remove_project_member(Command(app, a), org, project, cli)

    first = tasks.create_task(Command(app, a), org, project, title=v.titles[0],
                              description=v.task_description, priority=v.priority,
                              due_date=end, assignee_id=bob).id
    second = tasks.create_task(Command(app, a), org, project, title=v.titles[1], parent_id=first,
                               due_date=start).id
    tasks.update_task(Command(app, a), org, second, changes={
        "title": v.titles[2], "description": v.task_description, "priority": TaskPriority.URGENT,
        "due_date": date.max})
    tasks.assign_task(Command(app, a), org, second, assignee_id=ann)
    tasks.assign_task(Command(app, a), org, second, assignee_id=None)
    tasks.change_task_status(Command(app, a), org, first, status=TaskStatus.IN_PROGRESS)
    tasks.change_task_status(Command(app, a), org, first, status=TaskStatus.COMPLETED)
    items = [tasks.add_checklist_item(Command(app, a),
                                      org, first, text=t)[1] for t in v.checklist[:2]]
    tasks.update_checklist_item(Command(app, a),
                                org, first, items[0], text=v.checklist[2], done=True)
    tasks.remove_checklist_item(Command(app, a), org, first, items[1])
    tasks.add_dependency(Command(app, a), org, second, depends_on_id=first)
    tasks.remove_dependency(Command(app, a), org, second, depends_on_id=first)
    tasks.add_dependency(Command(app, a), org, second, depends_on_id=first)

    team = channels.create_channel(Command(app, a),
                                   org, kind=ChannelKind.TEAM, name=v.channel_name).id
    channels.create_channel(Command(app, a), org, kind=ChannelKind.PROJECT, name=v.channel_name,
                            project_id=project)
    channels.create_channel(Command(app, a), org, kind=ChannelKind.DIRECT, user_id=bob)
    channels.add_channel_member(Command(app, a), org, team, bob)
    message = channels.post_message(Command(app, a),
                                    org, team, content=v.content[0], mentions=[bob],
                                    attachments=v.attachments).id
    channels.edit_message(Command(app, a), org, message, content=v.content[1])
    doomed = channels.post_message(Command(app, a), org, team, content=v.content[1]).id
    channels.delete_message(Command(app, a), org, doomed)
    channels.remove_channel_member(Command(app, a), org, team, bob)

    d1, d2, d3 = v.work_dates
    kept = timelogs.log_time(Command(app, a), org, task_id=first, work_date=d1, hours=v.hours[0],
                             description=v.log_description).id
    moved = timelogs.log_time(Command(app, a),
                              org, task_id=second, work_date=d2, hours=v.hours[1]).id
    timelogs.edit_time_log(Command(app, a), org, kept, changes={"hours": v.hours[2],
                                                       "description": None})
    timelogs.edit_time_log(Command(app, a), org, moved, changes={"work_date": d3,
                                                        "description": v.log_description})
    gone = timelogs.log_time(Command(app, a),
                             org, task_id=first, work_date=d2, hours=Decimal("0.01"))
    timelogs.delete_time_log(Command(app, a), org, gone.id)
    return World(ann, bob, org, project, [first, second], team, message)


def assert_served(runtime: Runtime, w: World, v: Values) -> None:
    """What the read models hold is served as it was accepted, never a 500."""
    app = create_app(runtime, run_projections=False)
    token, _ = app.state.tokens.issue(w.ann)
    headers = {"Authorization": f"Bearer {token}"}
    o = f"/v1/organizations/{w.org}"
    p = f"{o}/projects/{w.project}"
    with TestClient(app, raise_server_exceptions=False) as client:
        for url in ["/v1/me", "/v1/organizations", o, f"{o}/members", f"{o}/projects", p,
                    f"{p}/members", f"{p}/tasks", *(f"{o}/tasks/{t}" for t in w.tasks),
                    f"{o}/channels", f"{o}/channels/{w.channel}",
                    f"{o}/channels/{w.channel}/messages", f"{o}/time-logs",
                    f"{o}/time-totals/projects/{w.project}"]:
            r = client.get(url, headers=headers)
            assert r.status_code == 200, (url, r.status_code, r.text[:500])
        for d in v.work_dates:
            day = {"from": d.isoformat(), "to": d.isoformat()}
            for url in (f"{o}/time-logs", f"{o}/time-totals/people/{w.ann}"):
                r = client.get(url, params=day, headers=headers)
                assert r.status_code == 200, (url, d, r.text[:500])
        organization = client.get(o, headers=headers).json()
        assert organization["name"] == v.names[3].strip()
        served = organization["settings"]
        assert served["max"] == JSON_NUMBER_LIMIT and served["min"] == -JSON_NUMBER_LIMIT
        assert float(served["big"]) == 9.2233720368547748e18 and served["tiny"] == 5e-324
        project = client.get(p, headers=headers).json()
        assert project["name"] == v.project_rename.strip()
        assert Decimal(project["budget"]) == v.budgets[1]
        assert Decimal(project["spent_budget"]) == v.budgets[2]
        assert project["start_date"] == v.dates[0].isoformat()
        task = client.get(f"{o}/tasks/{w.tasks[0]}", headers=headers).json()
        assert task["title"] == v.titles[0].strip()
        messages = client.get(f"{o}/channels/{w.channel}/messages", headers=headers).json()
        assert v.content[1] in [m["content"] for m in messages["items"]]


# --- the client context ---------------------------------------------------------------------

def _accepted_email(email: str) -> bool:
    try:
        validate_email_address(email)
    except InvalidValue:
        return False
    return True


# Long, internationalized (normalized to NFC, domain lower-cased) and ordinary addresses.
client_emails = st.one_of(
    st.sampled_from(["\u00d1and\u00fa@\u4f8b\u3048.jp", "U\u0308ml@EXAMPLE.com",
                     f"{'a' * 64}@{'b' * 63}.{'c' * 63}.{'d' * 60}.com"]),
    st.emails(),
).filter(_accepted_email)
phones = st.from_regex(r"\+?[0-9 ().\-]{5,32}", fullmatch=True).filter(
    lambda p: 5 <= len(p.strip()) <= 32 and sum(c.isdigit() for c in p) >= 5)


@dataclass
class ClientValues:
    names: list[str]
    email: str
    phone: str
    address: dict[str, str | None]
    proposal_titles: list[str]
    proposal_content: str
    amounts: list[Decimal]
    reason: str
    ratings: list[int]
    comments: list[str]
    response: str


@st.composite
def client_values(draw: st.DrawFn) -> ClientValues:
    address: dict[str, str | None] = {key: draw(text(200)) for key in ADDRESS_FIELDS}
    address["country"] = draw(st.sampled_from(sorted(COUNTRY_CODES)))
    return ClientValues(
        names=[draw(text(200)) for _ in range(2)],
        email=draw(client_emails),
        phone=draw(phones),
        address=address,
        proposal_titles=[draw(text(200)) for _ in range(3)],
        proposal_content=draw(text(20_000)),
        amounts=[draw(money) for _ in range(2)],
        reason=draw(text(2000)),
        ratings=[draw(st.integers(1, 5)) for _ in range(2)],
        comments=[draw(text(5000)) for _ in range(2)],
        response=draw(text(5000)),
    )


@dataclass
class ClientWorld:
    client: UUID
    proposals: list[UUID]
    feedback: list[UUID]


def run_client_commands(runtime: Runtime, w: World, v: ClientValues) -> ClientWorld:
    """Every event of Client, Proposal and ClientFeedback, through the command functions."""
    app = runtime.app
    anonymous = CommandContext(actor_id=None, correlation_id=v.names[0][:200])
    portal = users.register_user(Command(app, anonymous), email=f"p-{uuid.uuid4().hex}@x.io",
                                 name=v.names[0], password="correct horse").id
    a = CommandContext(actor_id=w.ann, correlation_id=v.names[1][:200])
    organizations.add_member(Command(app, a), w.org, role=Role.CLIENT, user_id=portal)
    client = clients.create_client(Command(app, a), w.org, name=v.names[0], email=v.email,
                                   phone=v.phone, address=v.address, portal_access=True).id
    clients.update_client(Command(app, a), w.org, client, changes={
        "name": v.names[1], "email": None, "phone": None, "address": None,
        "portal_access": False})
    clients.update_client(Command(app, a), w.org, client, changes={
        "email": v.email, "phone": v.phone, "address": v.address, "portal_access": True})
    clients.link_portal_user(Command(app, a), w.org, client, user_id=portal)
    clients.unlink_portal_user(Command(app, a), w.org, client, portal)
    clients.link_portal_user(Command(app, a), w.org, client, user_id=portal)
    clients.archive_client(Command(app, a), w.org, client)
    clients.restore_client(Command(app, a), w.org, client)
    project = projects.create_project(Command(app, a), w.org, name=f"for {uuid.uuid4().hex}",
                                      client_id=client).id
    projects.unlink_client(Command(app, a), w.org, project, client)
    projects.link_client(Command(app, a), w.org, project, client_id=client)

    p = CommandContext(actor_id=portal, correlation_id=v.names[0][:200])
    made = [proposals.create_proposal(Command(app, a), w.org, client, title=title,
                                      content=v.proposal_content, amount=v.amounts[0],
                                      project_id=project).id
            for title in v.proposal_titles]
    proposals.update_proposal(Command(app, a), w.org, made[0], changes={
        "title": v.proposal_titles[2], "content": None, "amount": v.amounts[1]})
    for proposal in made[:2]:
        proposals.send_proposal(Command(app, a), w.org, proposal)
    proposals.accept_proposal(Command(app, p), w.org, made[0])
    proposals.reject_proposal(Command(app, p), w.org, made[1], reason=v.reason)
    proposals.withdraw_proposal(Command(app, a), w.org, made[2])

    feedback = [
        client_feedback.give_feedback(Command(app, p), w.org, client, rating=v.ratings[0],
                                      comment=v.comments[0], project_id=project).id,
        client_feedback.give_feedback(Command(app, a), w.org, client, rating=v.ratings[1]).id,
    ]
    client_feedback.edit_feedback(Command(app, p), w.org, feedback[0], changes={
        "rating": 6 - v.ratings[0], "comment": v.comments[1]})
    client_feedback.respond_to_feedback(Command(app, a), w.org, feedback[0],
                                        response=v.response)
    return ClientWorld(client, made, feedback)


def assert_clients_served(runtime: Runtime, w: World, cw: ClientWorld, v: ClientValues) -> None:
    app = create_app(runtime, run_projections=False)
    token, _ = app.state.tokens.issue(w.ann)
    headers = {"Authorization": f"Bearer {token}"}
    o = f"/v1/organizations/{w.org}"
    c = f"{o}/clients/{cw.client}"
    with TestClient(app, raise_server_exceptions=False) as http:
        for url in [f"{o}/clients", c, f"{c}/proposals", f"{c}/feedback",
                    *(f"{o}/proposals/{p}" for p in cw.proposals),
                    *(f"{o}/feedback/{f}" for f in cw.feedback)]:
            r = http.get(url, headers=headers)
            assert r.status_code == 200, (url, r.status_code, r.text[:500])
        served = http.get(c, headers=headers).json()
        assert served["name"] == v.names[1].strip()
        assert served["email"] == validate_email_address(v.email)
        assert served["address"]["country"] == v.address["country"]
        assert [u for u in served["portal_users"]] and served["project_ids"]
        first = http.get(f"{o}/proposals/{cw.proposals[0]}", headers=headers).json()
        assert first["title"] == v.proposal_titles[2].strip()
        assert Decimal(first["amount"]) == v.amounts[1] and first["status"] == "ACCEPTED"
        rejected = http.get(f"{o}/proposals/{cw.proposals[1]}", headers=headers).json()
        assert rejected["rejection_reason"] == v.reason
        feedback = http.get(f"{o}/feedback/{cw.feedback[0]}", headers=headers).json()
        assert (feedback["rating"], feedback["comment"], feedback["response"]) == (
            6 - v.ratings[0], v.comments[1], v.response.strip())


def question_of(v: Values) -> str:
    return v.content[0][:MAX_QUESTION].strip() or "?"


def run_assistant_commands(runtime: Runtime, w: World, v: Values) -> UUID:
    """Every event of SearchAccess, PromptTemplate and Conversation, with extreme text."""
    app = runtime.app
    a = CommandContext(actor_id=w.ann, correlation_id=v.names[1][:200])
    for content_type in ContentType:
        assistant.set_search_content_type(Command(app, a), w.org, content_type, False)
    assistant.set_search_content_type(Command(app, a), w.org, ContentType.TASK, True)
    name = v.names[2][:MAX_TEMPLATE_NAME].strip() or "t"
    assistant.save_prompt_template(Command(app, a), w.org, name,
                                   category=v.names[0][:100].strip() or "c",
                                   template=v.description[:MAX_TEMPLATE].strip() or "x",
                                   active=True)
    assistant.save_prompt_template(Command(app, a), w.org, name, category="assistant",
                                   template=v.task_description[:MAX_TEMPLATE].strip() or "x",
                                   active=False)
    conversation = assistant.start_conversation(Command(app, a), w.org,
                                                v.titles[0][:MAX_CONVERSATION_TITLE]).id
    assistant.record_exchange(
        Command(app, a), w.org, conversation, question=question_of(v), answer=v.content[1],
        citations=[{"source_id": str(w.tasks[0]), "title": v.titles[1], "cited": True}],
        mode="extracted", model=v.names[3], prompt_tokens=INT64_MAX // 4,
        completion_tokens=INT64_MAX // 4, template=name)
    return conversation


# --- personal values ---------------------------------------------------------------------

# Words of the domain: hypothesis also draws text from the code's constants, so a person
# may be named "Manager".
DOMAIN_WORDS = frozenset(member.value for enum in (
    AnswerMode, ContentType, SearchMode, TurnRole, ChannelKind, ChannelRole, ProjectRole,
    ProjectStatus, ProposalStatus, Permission, Role, TaskPriority, TaskStatus)
    for member in enum)
# A value spelled like a code identifier ("status", "period_start") may be a field name,
# an action or a type that the copies of the log write themselves: not searched for.
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
# What the system writes itself: ids, times, dates and numbers as text. A phone number
# may be part of one by chance ("2026-11-2"), but never the whole of it.
SYSTEM_TOKEN = re.compile(r"[0-9a-fA-F:.+\-TZ ]+")


def strings_in(value: Any) -> Iterator[str]:
    """Every text in ``value``, keys included (a settings key becomes a field name in
    the timeline's changes: ``settings.<key>``)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from strings_in(k)
            yield from strings_in(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings_in(v)


def personal_values(v: Values, cv: ClientValues, *, also: list[str] | None = None) -> set[str]:
    """The values the worlds above put in personal fields only (names also name
    organizations and templates there, which are not personal: only Bob's is his alone;
    the conversation's question and answer are what Ann wrote and read), long enough to
    search for. A value hypothesis also drew for a public field, a word of the domain or
    an identifier is left out: found in a copy of the log, it would be there under its
    public meaning."""
    personal = [*v.emails, v.names[1], v.phone, *v.content, question_of(v), cv.email,
                cv.phone, *(x for x in cv.address.values() if x), *cv.comments, cv.response,
                *(also or [])]
    public = [*strings_in(asdict(v) | {
        "emails": [], "names": [n for i, n in enumerate(v.names) if i != 1], "phone": "",
        "content": [], "password": ""}), *strings_in(asdict(cv) | {
            "email": "", "phone": "", "address": {}, "comments": [], "response": ""}),
        *DOMAIN_WORDS]
    return {secret for secret in (p.strip() for p in personal)
            if len(secret) >= 6 and not IDENTIFIER.fullmatch(secret)
            and not any(secret in word for word in public)}


def leaks(secrets: set[str], document: Any) -> list[str]:
    """The secrets found in any text of ``document`` (JSON as Python values)."""
    texts = list(strings_in(document))
    return [secret for secret in secrets if any(
        text == secret or (secret in text and not SYSTEM_TOKEN.fullmatch(text))
        for text in texts)]


def assert_searchable(runtime: Runtime, w: World, v: Values) -> None:
    """Every chunk of extreme text gets a finite vector, and search serves it."""
    index = runtime.search_index()
    assert index is not None
    worker = EmbeddingWorker(runtime.pool, index, configured_embedder)
    wait_until_idle(worker, timeout=120)
    with runtime.pool.connection() as conn:
        assert conn.execute("SELECT count(*) FROM ai_engine.chunks "
                            "WHERE embedding IS NULL").fetchone() == (0,)
    app = create_app(runtime, run_projections=False)
    token, _ = app.state.tokens.issue(w.ann)
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(app, raise_server_exceptions=False) as client:
        for q in (v.titles[0][:500], v.content[1][:500], v.names[0][:500]):
            if not q.strip():
                continue
            r = client.get(f"/v1/organizations/{w.org}/search", params={"q": q},
                           headers=headers)
            assert r.status_code == 200, (q, r.text[:500])


@settings(max_examples=25, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large, HealthCheck.filter_too_much])
@given(v=values(), cv=client_values())
def test_every_read_model_stores_and_serves_every_accepted_event(
    fresh_runtime: Runtime, v: Values, cv: ClientValues
) -> None:
    runtime = fresh_runtime
    registered = {m.name for m in all_read_models()}
    assert {m.name for m in runtime.read_models} == registered  # every one, no exception
    world = run_every_command(runtime, v)
    client_world = run_client_commands(runtime, world, cv)
    run_assistant_commands(runtime, world, v)
    catch_up(runtime.app, runtime.pool, runtime.read_models)  # raises the first error
    assert_served(runtime, world, v)
    assert_clients_served(runtime, world, client_world, cv)
    assert_searchable(runtime, world, v)
    # Archiving the project and deleting the organization are events too.
    ctx = CommandContext(world.ann)
    projects.archive_project(Command(runtime.app, ctx), world.org, world.project)
    organizations.delete_organization(Command(runtime.app, ctx), world.org)
    catch_up(runtime.app, runtime.pool, runtime.read_models)
