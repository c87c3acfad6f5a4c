"""Search at scale: latency of the product's search at 100,000 chunks, recall of its vector
ranking against an exact scan, the embedding lag under a steady command rate, the
embedding worker's throughput and a server's memory with each offline model. One
throw-away embedded PostgreSQL; nothing of ``.vistone/`` is touched.

    .venv/bin/python -m bench.search [--chunks N] [--quick] [--try SETTINGS ...]
                                     [--json PATH] [--wait-idle S]

1. **Population** through the command functions (vistone/commands/*, no HTTP): one
   organization with an Organizer, Managers and Contributors, ``--projects`` projects
   with a channel each, a team channel, direct channels between the Organizer and the
   Managers, clients. Every read model is brought to the head (``catch_up``), so
   ``caller_scope`` reads the product's own project members and channels.
2. **Corpus**: documents generated from word pools in an agency's words (tasks with
   descriptions and checklists, channel messages, proposals, client feedback; a few long
   enough for several chunks), spread over the projects with a skew, chunked by the
   product's chunker (vistone/ai/chunking.py), until the index holds ``--chunks`` chunks
   with the real ones. Two Contributors are made members of projects chosen so that their
   scope keeps about 10 % and 1 % of the chunks (the team channel and the clients, which
   every Contributor reads, included). Documents and chunks are written with ``COPY``
   straight into the active search-index generation's tables (the schema named in
   ``public.read_model_versions``; the views ``ai_engine.*`` point at it), with
   ``embedding`` NULL — queued, as the projection leaves a new chunk — and the secondary
   indexes dropped for the load and re-created after it, except the HNSW index.
3. **Worker throughput**: the real ``EmbeddingWorker`` (claim, embedding cache, wordllama,
   store) runs until nothing is pending: chunks/s end to end and of the model alone. This
   is a new index being filled, as when a model changes: a building generation has no
   HNSW index either. Then the HNSW index is built (timed), ``VACUUM ANALYZE``; then
   ``--reembed`` chunks are queued again (their cache rows removed) and embedded with the
   HNSW index in place: the live worker's throughput.
4. **Latency**: ``--runs`` searches per caller after a warm-up, each made as the API route
   makes it: ``caller_scope``, ``Runtime.query_vector`` (the active index's model check
   and the wordllama embedding), ``search_index.search`` (both rankings, the fusion, the
   page read), on a pooled autocommit connection. Callers: the Organizer (every chunk) and
   the two Contributors. A second pass times the parts alone: the model's embedding, the
   vector ranking and the full-text ranking. Goal: p95 of the whole < 50 ms.
5. **Recall**: ``--queries`` query texts embedded by wordllama; for each caller's
   ``visible_where``, ``search_index.vector_ranking`` (as search calls it, with
   ``CANDIDATES`` rows) against an exact scan (``enable_indexscan = off``, ``ORDER BY``
   distance). recall@k counts the returned chunks no farther than the exact k-th one (a
   tie at the k-th distance — generated texts repeat — counts as found); the id-based
   figure is printed beside it. Which path each scope took: exact below
   ``EXACT_BELOW`` visible chunks, else HNSW with iterative scans. Goal: recall@10 ≥ 0.95.
   ``--try`` measures recall and latency (a third of ``--runs``) with other settings: a
   copy of the ranking (checked first to answer exactly what the product's does with the
   product's settings) is put in ``search_index`` for the trial, so ``search`` runs it.
   ``--try ef_search=400,max_scan_tuples=100000`` or ``exact_below=3000`` or
   ``iterative=strict_order`` or ``m=24,ef_construction=128`` (the HNSW index rebuilt for
   that trial; the product's index is rebuilt after the trials). Two ideas of the bench's:
   ``scope_index=1`` adds to a restricted scope's condition one it implies,
   ``project_id = ANY(projects) OR channel_id = ANY(channels) OR (both NULL)``, with a
   partial index for the chunks of neither (a bitmap of the visible chunks instead of a
   scan of the organization's); ``single_pass=1`` makes the exact path one query (the
   visible chunks, capped, their distances and their count) instead of a count first.
6. **Embedding lag**: the Runtime runs its projections and its in-process embedding
   worker, as ``vistone serve`` does; commands (task creates with a description, and
   messages, alternating) are sent at ``--rate`` per second for ``--lag-seconds``; for
   each answer, a poller (every 20 ms, its own thread and connection) notes when the
   record's chunks appear in ``ai_engine.chunks`` (the projection) and when all of them
   have an embedding: p50/p95/max of both.
7. **Memory**: a fresh Python process per model opens a Runtime on the same database
   (``prepare=False``) and builds the FastAPI app (a server's imports), loads the model,
   embeds a query and searches, then embeds one worker batch: VmRSS and VmHWM from
   ``/proc/self/status`` after each step. MiniLM's index would be another generation, so
   its search is by full text (its query vector has another dimension).

Timings are printed, never asserted. The load average is printed before every phase: on
a shared 2-core machine other work moves every figure.
"""

from __future__ import annotations

import os

# Cheap argon2id for the people the population registers (read when vistone.security is
# imported); the offline default model, whatever the shell says: the figures are
# wordllama's.
os.environ.setdefault("VISTONE_ARGON2_MEMORY_KIB", "8192")
os.environ.setdefault("VISTONE_ARGON2_TIME_COST", "1")
os.environ.pop("MISTRAL_API_KEY", None)
os.environ.pop("VISTONE_EMBEDDING_MODEL", None)

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import secrets  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Callable, Iterator, Sequence  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import asdict, dataclass, field  # noqa: E402
from datetime import UTC, date, datetime, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402
from uuid import UUID  # noqa: E402

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg  # noqa: E402
from psycopg import Connection  # noqa: E402
from psycopg.sql import SQL, Identifier  # noqa: E402

from bench.cpu import CpuMeter, postmaster_pid, wait_idle  # noqa: E402
from bench.stats import percentile  # noqa: E402
from domain.base import CommandContext  # noqa: E402
from domain.channel import ChannelKind  # noqa: E402
from domain.project import ProjectRole  # noqa: E402
from domain.roles import Role  # noqa: E402
from projections import search_index  # noqa: E402
from projections.runner import catch_up  # noqa: E402
from projections.search_index import (  # noqa: E402
    CANDIDATES,
    Filters,
    Scope,
    SearchIndexReadModel,
    caller_scope,
    text_ranking,
)
from projections.versions import deferred_indexes, read_generations  # noqa: E402
from vistone.ai.chunking import chunk_document  # noqa: E402
from vistone.ai.embedders import Embedder, offline_embedder  # noqa: E402
from vistone.app import Command, Vistone  # noqa: E402
from vistone.commands import channels, clients, organizations, projects, tasks, users  # noqa: E402
from vistone.config import Settings  # noqa: E402
from vistone.database import open_database  # noqa: E402
from vistone.runtime import Runtime  # noqa: E402
from workers.embedding import EmbeddingWorker  # noqa: E402

TARGET_P95_MS = 50.0
TARGET_RECALL = 0.95
RECALL_AT = 10
PAGE = 10  # the API's default page of hits
SHARES = (1.0, 0.10, 0.01)  # the callers: the Organizer, and two Contributors' scopes
POLL_SECONDS = 0.020
PASSWORD = "bench-password"  # noqa: S105 - throw-away people of a throw-away database
AGENT = "vistone-bench-search/1.0"


def log(message: str) -> None:
    print(f"[search {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=None,
                        help="chunks in the index (default 100,000; 10,000 with --quick)")
    parser.add_argument("--quick", action="store_true",
                        help="10,000 chunks, 40 runs, 50 recall queries, 15 s of lag: "
                        "checks the harness")
    parser.add_argument("--projects", type=int, default=None,
                        help="projects of the organization (default 200; 40 with --quick)")
    parser.add_argument("--runs", type=int, default=None,
                        help="measured searches per caller (default 300; 40 with --quick)")
    parser.add_argument("--queries", type=int, default=None,
                        help="query vectors of the recall phase (default 100; 50 with "
                        "--quick)")
    parser.add_argument("--reembed", type=int, default=None,
                        help="chunks embedded again with the HNSW index in place "
                        "(default 5,000; 1,000 with --quick)")
    parser.add_argument("--rate", type=float, default=20.0,
                        help="commands per second of the lag phase (default 20)")
    parser.add_argument("--lag-seconds", type=float, default=None,
                        help="length of the lag phase (default 60; 15 with --quick)")
    parser.add_argument("--try", dest="trials", action="append", default=[],
                        metavar="SETTINGS",
                        help="key=value[,key=value...] of ef_search, max_scan_tuples, "
                        "exact_below, iterative (relaxed_order|strict_order|off), m, "
                        "ef_construction, scope_index=1, single_pass=1: recall and "
                        "latency with them (a third of --runs)")
    parser.add_argument("--skip-lag", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--keep", action="store_true",
                        help="leave the data directory (its path is logged) to explore the "
                        "index afterwards, e.g. with EXPLAIN")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--json", type=Path, help="write the results to this file")
    parser.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                        help="first wait up to this long for the 1-minute load average to "
                        "drop below 1")
    # The memory probe: this module run again in a fresh process (phase 7).
    parser.add_argument("--memory-probe", metavar="MODEL", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--organization", type=UUID, help=argparse.SUPPRESS)
    parser.add_argument("--caller", type=UUID, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    quick = args.quick
    for name, full, small in (("chunks", 100_000, 10_000), ("projects", 200, 40),
                              ("runs", 300, 40), ("queries", 100, 50),
                              ("reembed", 5_000, 1_000), ("lag_seconds", 60.0, 15.0)):
        if getattr(args, name) is None:
            setattr(args, name, small if quick else full)
    args.trial_settings = [parse_trial(spec) for spec in args.trials]
    args.trial_runs = max(20, args.runs // 3)
    return args


# --------------------------------------------------------------------------- words

CLIENT_NAMES = (
    "Harbour Bakery", "Northwind Cycles", "Lumen Dental", "Oakridge Law", "Blue Fern Spa",
    "Copperline Brewing", "Atlas Logistics", "Maple & Finch", "Greywater Marine",
    "Solace Hotels", "Kestrel Outdoor", "Pinecrest School", "Vela Fintech", "Marrow Kitchen",
    "Tidepool Aquarium", "Brightside Pharmacy", "Quarry Climbing", "Saffron Street Food",
    "Nimbus Storage", "Juniper Florists", "Redwood Realty", "Orbit Games", "Silverleaf Tea",
    "Cobalt Energy", "Meadow Dairy", "Ironclad Fitness", "Sable Fashion", "Willow Pediatrics",
    "Granite Architects", "Helix Biotech", "Lantern Books", "Fjord Travel", "Ember Candles",
    "Polar Ice Cream", "Crescent Opticians", "Verdant Gardens", "Summit Insurance",
    "Mosaic Museum", "Driftwood Surf", "Paper Crane Stationery",
)
DELIVERABLES = (
    "homepage", "landing page", "logo", "brand guidelines", "newsletter template",
    "product photos", "onboarding emails", "checkout flow", "mobile app", "pricing page",
    "blog post", "press release", "social media calendar", "trade show booth",
    "packaging design", "explainer video", "annual report", "menu redesign",
    "booking widget", "wireframes", "style guide", "icon set", "podcast intro", "sales deck",
    "case study", "SEO audit", "analytics dashboard", "contact form", "FAQ page",
    "loyalty flyer", "billboard", "radio spot", "email signature", "careers page",
    "event invitation", "customer survey", "ad campaign", "product catalogue",
    "storefront signage", "gift card design", "recipe cards", "app store screenshots",
    "investor one-pager", "webinar slides", "product tour", "store locator", "size guide",
    "shipping policy page", "welcome pack", "trailer cut",
)
VERBS = (
    "draft", "review", "finalize", "update", "redesign", "proofread", "schedule", "approve",
    "test", "migrate", "translate", "resize", "export", "publish", "audit", "prototype",
    "fix", "refresh", "shoot", "record", "localize", "optimize", "archive", "present",
    "estimate", "sketch", "storyboard", "retouch", "annotate", "benchmark",
)
ASPECTS = (
    "copy", "colour palette", "typography", "layout", "navigation", "hero image",
    "call to action", "accessibility", "load time", "tracking pixels", "alt texts",
    "print bleed", "file formats", "legal disclaimer", "price table", "image rights",
    "tone of voice", "mobile breakpoints", "font licences", "cookie banner", "subtitles",
    "voice-over", "photo crops", "meta descriptions", "contrast ratios", "spacing",
    "product names", "opening hours", "newsletter signup", "map embed",
)
PEOPLE = ("Ana", "Ben", "Chloe", "Dario", "Emeka", "Fatima", "Goran", "Hana", "Ilse", "Jonas",
          "Kofi", "Lena", "Marco", "Nora", "Omar", "Pia", "Quentin", "Rosa", "Sami", "Tove",
          "Ugo", "Vera", "Wen", "Yusuf", "Zofia")
TIMES = (
    "by Friday", "before the kickoff", "next sprint", "this afternoon", "before the launch",
    "by the end of the month", "after the client call", "tomorrow morning",
    "before the print deadline", "on Monday", "before the board meeting", "this week",
    "before the trade fair", "in the next release", "before the holidays",
)
ISSUES = (
    "the fonts are missing from the export", "the staging server is down",
    "the client wants a warmer colour", "the invoice went to the wrong address",
    "the logo looks blurry on retina screens", "legal has not signed off yet",
    "the budget is almost spent", "the photographer cancelled the shoot",
    "the copy is too long for the banner", "sign-ups dropped since the redesign",
    "the printer needs CMYK files", "the domain renewal failed",
    "the video render keeps crashing", "the client changed the launch date",
    "two pages have broken links", "the newsletter landed in spam folders",
    "the stock photo licence expired", "the translations are late",
    "the app was rejected by the store review", "the payment form times out on mobile",
    "the brand colours differ between print and screen", "the courier lost the samples",
    "the survey has too few answers", "the booking calendar shows the wrong time zone",
)
TOOLS = ("Figma", "the CMS", "the analytics account", "the mailing tool", "the shared drive",
         "the video editor", "the staging site", "the shop backend", "the wiki",
         "the booking system", "the ticket tracker", "the print portal")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")
TASK_SENTENCES = (
    "{Verb} the {aspect} of the {deliverable} for {client} {time}.",
    "{person} noticed that {issue}; check with {person2} before anything goes out.",
    "Use {tool} to {verb} the {deliverable} and share the link in the project channel.",
    "{client} asked for {n} variants of the {deliverable} with a different {aspect}.",
    "The {deliverable} must follow the {aspect} rules of the brand guidelines.",
    "Estimate: {n} hours. Blocked until {issue} is sorted out.",
    "Keep the {aspect} consistent with the {deliverable2} we shipped in {month}.",
    "Done when {client} approves the {aspect} and the {deliverable} is live.",
    "Budget for this part is {n}00 euros; ask {person} before going over it.",
    "Reference: ticket {ticket}, see the notes from the {month} workshop.",
    "Compare the {deliverable} with the competitor examples {person} collected.",
    "The last round of feedback was about the {aspect}; the {aspect2} is fine.",
    "Send the {deliverable} to {person} for a second review {time}.",
    "{client} will reuse the {deliverable} for the {deliverable2}, so keep the source files.",
    "Invoice {ticket} covers the {deliverable}; the {deliverable2} is billed separately.",
    "Mobile first: the {aspect} has to work on small screens too.",
)
MESSAGE_SENTENCES = (
    "@{person} can you {verb} the {deliverable} {time}?",
    "Heads up: {issue}.",
    "{client} loved the {deliverable}, only the {aspect} needs another pass.",
    "I uploaded the {deliverable} to {tool}, comments welcome.",
    "Quick question about the {aspect} of the {deliverable}: keep it or drop it?",
    "Call with {client} moved to {day} at {hour}.",
    "Thanks {person}! The {deliverable} looks great.",
    "Who has the latest {deliverable} for {client}? The one in {tool} is from {month}.",
    "Reminder: {verb} the {deliverable2} {time}.",
    "{person} is off {day}, {person2} covers the {client} account.",
    "Status: {deliverable} at {n}0 %, the {aspect} is still open.",
    "Ticket {ticket} is fixed on staging, please check the {aspect}.",
    "Can we push the {deliverable} to {day}? {issue}.",
    "Lunch at {hour}? Then we {verb} the {deliverable} together.",
)
PROPOSAL_SENTENCES = (
    "We propose to {verb} the {deliverable} and the {deliverable2} for {client}.",
    "Phase {n}: {verb} the {aspect}, then the {aspect2}, with one review round each.",
    "The fixed price of {n}000 euros covers design, copy and two rounds of changes.",
    "Timeline: kickoff in {month}, delivery {time}.",
    "Out of scope: photography, printing costs and the {deliverable2}.",
    "{client} provides the {aspect} and access to {tool}.",
    "Our team: {person} leads, {person2} designs, a developer joins for the {deliverable}.",
    "Risks: {issue}; we plan a buffer of {n} days for it.",
)
FEEDBACK_SENTENCES = (
    "The {deliverable} came out great, the {aspect} especially.",
    "We expected the {deliverable} {time}, it was late.",
    "Communication with {person} was excellent.",
    "The {aspect} still does not feel like our brand.",
    "Good value for the money, we will book the {deliverable2} too.",
    "Too many review rounds for the {aspect}.",
)
CHECKLIST_ITEMS = (
    "{Verb} the {aspect}", "Check the {aspect} on mobile", "Send to {person} for review",
    "Export the {deliverable} as PDF", "Update {tool}", "Ask {client} for the {aspect}",
    "Fix ticket {ticket}", "Archive the old {deliverable}",
)
QUERIES = (
    "{deliverable} {aspect}", "{client} {deliverable}", "{aspect} for {client}",
    "who is working on the {aspect} of the {deliverable}?", "{issue}",
    "{verb} {deliverable} {time}", "invoice for the {client} {deliverable}",
    "feedback on the {deliverable}", "proposal {deliverable} {client}",
    "what did {client} say about the {aspect}", "{deliverable} blocked", "{tool} {deliverable}",
)


class Writer:
    """Texts in an agency's words, from the pools above (seeded: the same corpus each run)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def fill(self, template: str) -> str:
        r = self.rng
        verb = r.choice(VERBS)
        values = {
            "verb": verb, "Verb": verb.capitalize(), "aspect": r.choice(ASPECTS),
            "aspect2": r.choice(ASPECTS), "deliverable": r.choice(DELIVERABLES),
            "deliverable2": r.choice(DELIVERABLES), "client": r.choice(CLIENT_NAMES),
            "person": r.choice(PEOPLE), "person2": r.choice(PEOPLE), "time": r.choice(TIMES),
            "issue": r.choice(ISSUES), "tool": r.choice(TOOLS), "month": r.choice(MONTHS),
            "n": str(r.randint(2, 9)), "ticket": f"#{r.randint(100, 9999)}",
            "day": r.choice(("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")),
            "hour": f"{r.randint(8, 17)}:{r.choice(('00', '15', '30', '45'))}",
        }
        text = template.format(**values)
        return text[0].upper() + text[1:]

    def sentences(self, pool: Sequence[str], count: int) -> str:
        return " ".join(self.fill(self.rng.choice(pool)) for _ in range(count))

    def task(self) -> tuple[str, str]:
        r = self.rng
        title = self.fill(r.choice(("{Verb} the {deliverable} for {client}",
                                    "{Verb} {aspect} of the {deliverable}",
                                    "{client}: {deliverable} {aspect}",
                                    "{Verb} {deliverable} ({client})")))
        roll = r.random()
        count = r.randint(12, 45) if roll < 0.06 else r.randint(0, 6)  # a few long specs
        body = self.sentences(TASK_SENTENCES, count)
        if r.random() < 0.2:
            items = [self.fill(r.choice(CHECKLIST_ITEMS)) for _ in range(r.randint(2, 7))]
            body = f"{body}\nChecklist:\n" + "\n".join(f"- {item}" for item in items)
        return title, body

    def message(self) -> tuple[str, str]:
        r = self.rng
        count = r.randint(8, 25) if r.random() < 0.03 else r.choice((1, 1, 1, 2, 2, 3))
        content = self.sentences(MESSAGE_SENTENCES, count)
        first = content.splitlines()[0]
        return (first if len(first) <= 80 else first[:79] + "…"), content

    def proposal(self) -> tuple[str, str]:
        title = self.fill(self.rng.choice(("Proposal: {deliverable} for {client}",
                                           "{client} {deliverable} and {deliverable2}")))
        return title, self.sentences(PROPOSAL_SENTENCES, self.rng.randint(4, 16))

    def feedback(self) -> tuple[str, str]:
        rating = self.rng.randint(1, 5)
        comment = self.sentences(FEEDBACK_SENTENCES, self.rng.randint(1, 3))
        if self.rng.random() < 0.5:
            comment += "\n" + self.sentences(MESSAGE_SENTENCES, 1)  # the agency's response
        return f"Client feedback, rated {rating} of 5", comment

    def query(self) -> str:
        return self.fill(self.rng.choice(QUERIES))


# --------------------------------------------------------------------------- population


@dataclass
class World:
    org: UUID
    organizer: UUID
    managers: list[UUID]
    contributors: list[UUID]
    projects: list[UUID]
    project_channels: list[UUID]
    team_channel: UUID
    direct_channels: list[UUID]
    clients: list[UUID]
    scoped: dict[float, UUID] = field(default_factory=dict)  # share -> Contributor
    scoped_projects: dict[float, list[int]] = field(default_factory=dict)
    commands: Counter[str] = field(default_factory=Counter)


def run_command(app: Vistone, world_commands: Counter[str], actor: UUID | None,
                func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    ctx = CommandContext(actor_id=actor, correlation_id=secrets.token_hex(8),
                         client_ip="192.0.2.10", user_agent=AGENT)
    world_commands[func.__name__] += 1
    return func(Command(app, ctx), *args, **kwargs)


def populate(app: Vistone, project_count: int) -> World:
    counter: Counter[str] = Counter()

    def run(actor: UUID | None, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return run_command(app, counter, actor, func, *args, **kwargs)

    people = [run(None, users.register_user, email=f"p{i}@search.bench.example",
                  name=f"Person {i}", password=PASSWORD).id for i in range(16)]
    owner = people[0]
    org = run(owner, organizations.create_organization, name="Search Agency",
              slug="search-agency").id
    managers, contributors = people[1:4], people[4:]
    for person in managers:
        run(owner, organizations.add_member, org, user_id=person, role=Role.MANAGER)
    for person in contributors:
        run(owner, organizations.add_member, org, user_id=person, role=Role.CONTRIBUTOR)
    client_ids = [run(owner, clients.create_client, org, name=name).id
                  for name in CLIENT_NAMES[:20]]
    today = date.today()
    project_ids, project_channels = [], []
    rng = random.Random(3)
    for j in range(project_count):
        client = CLIENT_NAMES[j % len(CLIENT_NAMES)]
        project = run(owner, projects.create_project, org,
                      name=f"{client} {DELIVERABLES[j % len(DELIVERABLES)]} {j}",
                      description=f"{client} wants a new {rng.choice(DELIVERABLES)} and a "
                      f"refreshed {rng.choice(ASPECTS)}.",
                      client_id=client_ids[j % len(client_ids)],
                      start_date=today - timedelta(days=200), end_date=today + timedelta(days=90)
                      ).id
        project_ids.append(project)
        project_channels.append(run(owner, channels.create_channel, org,
                                    kind=ChannelKind.PROJECT, name=f"project-{j}",
                                    project_id=project).id)
    team = run(owner, channels.create_channel, org, kind=ChannelKind.TEAM, name="general").id
    direct = [run(owner, channels.create_channel, org, kind=ChannelKind.DIRECT,
                  user_id=person).id for person in managers]
    return World(org, owner, managers, contributors, project_ids, project_channels, team,
                 direct, client_ids, commands=counter)


# --------------------------------------------------------------------------- corpus

# Per generated document: kind, weight. Proposals are longer (often two or three
# chunks); the team channel is small, as every Contributor reads it.
KIND_WEIGHTS = (("task", 0.50), ("project_message", 0.37), ("team_message", 0.004),
                ("direct_message", 0.03), ("proposal", 0.05), ("feedback", 0.046))
DOCUMENT_COLUMNS = ("source_id", "content_type", "organization_id", "project_id",
                    "channel_id", "client_id", "author_id", "title", "content", "link",
                    "content_hash", "searchable", "last_synced_at", "topic", "version",
                    "state")
CHUNK_COLUMNS = ("source_id", "chunk_index", "content_type", "organization_id",
                 "project_id", "channel_id", "author_id", "title", "chunk_text", "text_hash",
                 "queued_at")


@dataclass
class Corpus:
    documents: list[tuple[Any, ...]]
    chunks: list[tuple[Any, ...]]
    by_kind: Counter[str]  # chunks
    # Chunks a Contributor member of project j reads because of it (its tasks, feedback,
    # project channel messages).
    per_project: list[int]
    team_chunks: int
    seconds: float


def generate(world: World, chunks_wanted: int, rng: random.Random) -> Corpus:
    started = time.perf_counter()
    writer = Writer(rng)
    weights = [1 / (j + 1) ** 0.8 for j in range(len(world.projects))]
    kinds, kind_weights = zip(*KIND_WEIGHTS, strict=True)
    documents: list[tuple[Any, ...]] = []
    chunk_rows: list[tuple[Any, ...]] = []
    by_kind: Counter[str] = Counter()
    per_project = [0] * len(world.projects)
    team_chunks = 0
    authors = [world.organizer, *world.managers, *world.contributors]
    now = datetime.now(UTC)
    base = f"/v1/organizations/{world.org}"
    while len(chunk_rows) < chunks_wanted:
        kind = rng.choices(kinds, kind_weights)[0]
        source = UUID(int=rng.getrandbits(128), version=4)
        j = rng.choices(range(len(world.projects)), weights)[0]
        project: UUID | None = world.projects[j]
        channel: UUID | None = None
        client: UUID | None = None
        author: UUID | None = rng.choice(authors)
        if kind == "task":
            content_type = "task"
            title, content = writer.task()
            link = f"{base}/projects/{project}/tasks/{source}"
        elif kind.endswith("message"):
            content_type = "message"
            title, content = writer.message()
            channel = (world.project_channels[j] if kind == "project_message"
                       else world.team_channel if kind == "team_message"
                       else rng.choice(world.direct_channels))
            if kind == "direct_message":
                author = rng.choice((world.organizer, *world.managers))
            project = None  # a message's scope is its channel
            link = f"{base}/messages/{source}"
        elif kind == "proposal":
            content_type = "proposal"
            title, content = writer.proposal()
            client = world.clients[j % len(world.clients)]
            author = None
            link = f"{base}/proposals/{source}"
        else:
            content_type = "client_feedback"
            title, content = writer.feedback()
            client = world.clients[j % len(world.clients)]
            author = None
            link = f"{base}/clients/{client}/feedback"
        pieces = chunk_document(title, content)
        if not pieces:
            continue
        synced = now - timedelta(seconds=rng.uniform(0, 365 * 86400))
        documents.append((
            source, content_type, world.org, project, channel, client, author, title, content,
            link, hashlib.sha256(f"{title}\x00{content}".encode()).hexdigest(), True, synced,
            "bench:generated", 1, b""))
        for piece in pieces:
            chunk_rows.append((source, piece.index, content_type, world.org, project, channel,
                               author, title, piece.text, piece.text_hash, now))
        by_kind[kind] += len(pieces)
        if kind in ("task", "feedback", "project_message"):
            per_project[j] += len(pieces)
        elif kind == "team_message":
            team_chunks += len(pieces)
    return Corpus(documents, chunk_rows, by_kind, per_project, team_chunks,
                  time.perf_counter() - started)


def choose_projects(per_project: list[int], unavoidable: int, wanted: int,
                    rng: random.Random, taken: set[int]) -> list[int]:
    """Projects whose chunks bring a Contributor's scope to at least ``wanted`` chunks,
    not far above (each project also brings its own one-chunk project document)."""
    order = [j for j in range(len(per_project)) if j not in taken]
    rng.shuffle(order)
    chosen, total = [], unavoidable
    for j in order:
        if total + per_project[j] + 1 <= wanted:
            chosen.append(j)
            total += per_project[j] + 1
    if total < wanted:  # close the gap with the smallest project that does
        rest = [j for j in order if j not in chosen]
        closing = [j for j in rest if per_project[j] + 1 >= wanted - total]
        if closing:
            chosen.append(min(closing, key=lambda j: per_project[j]))
        elif rest:
            chosen.append(max(rest, key=lambda j: per_project[j]))
    return chosen


def storage_of(conn: Connection[Any], name: str) -> str:
    active = [g for g in read_generations(conn, [name]) or [] if g.state == "active"]
    if not active:
        raise RuntimeError(f"no active generation of the {name} read model")
    return active[0].storage


def index_statements(model: SearchIndexReadModel) -> list[tuple[str, str, str]]:
    """(index, table, CREATE INDEX ...) of the search model's secondary indexes."""
    found = []
    for statement in deferred_indexes(model):
        match = re.match(r"\s*CREATE INDEX (\w+) ON (\w+)\b", statement, re.IGNORECASE)
        if match:
            found.append((match.group(1), match.group(2), statement))
    return found


def load_corpus(conn: Connection[Any], storage: str, model: SearchIndexReadModel,
                corpus: Corpus) -> dict[str, Any]:
    """COPY into the generation's tables with the secondary indexes dropped; all of them
    but the HNSW index are re-created (the worker needs the queue's index)."""
    indexes = index_statements(model)
    for name, _, _ in indexes:
        conn.execute(SQL("DROP INDEX {}").format(Identifier(storage, name)))
    started = time.perf_counter()
    with conn.cursor() as cur:
        for table, columns, rows in (("documents", DOCUMENT_COLUMNS, corpus.documents),
                                     ("chunks", CHUNK_COLUMNS, corpus.chunks)):
            copy_sql = SQL("COPY {} ({}) FROM STDIN").format(
                Identifier(storage, table), SQL(", ").join(map(Identifier, columns)))
            with cur.copy(copy_sql) as copy:
                for row in rows:
                    copy.write_row(row)
    copied = time.perf_counter()
    conn.execute("SET maintenance_work_mem = '512MB'")
    with conn.transaction():
        conn.execute(SQL("SET LOCAL search_path TO {}, public").format(Identifier(storage)))
        for _, _, statement in indexes:
            if "hnsw" not in statement.lower():
                conn.execute(statement)
    indexed = time.perf_counter()
    conn.execute(SQL("ANALYZE {}").format(Identifier(storage, "chunks")))
    conn.execute(SQL("ANALYZE {}").format(Identifier(storage, "documents")))
    return {"copy_s": round(copied - started, 1), "indexes_s": round(indexed - copied, 1)}


def hnsw_statement(model: SearchIndexReadModel) -> tuple[str, str]:
    for name, _, statement in index_statements(model):
        if "hnsw" in statement.lower():
            return name, statement
    raise RuntimeError("the search model declares no HNSW index")


def build_hnsw(conn: Connection[Any], storage: str, model: SearchIndexReadModel,
               m: int | None = None, ef_construction: int | None = None) -> float:
    """(Re)build the HNSW index, the product's or with other parameters; answers seconds."""
    name, statement = hnsw_statement(model)
    options = {k: v for k, v in (("m", m), ("ef_construction", ef_construction)) if v}
    if options:
        statement = statement.rstrip() + " WITH (" + ", ".join(
            f"{k} = {int(v)}" for k, v in options.items()) + ")"
    conn.execute(SQL("DROP INDEX IF EXISTS {}").format(Identifier(storage, name)))
    conn.execute("SET maintenance_work_mem = '512MB'")
    started = time.perf_counter()
    with conn.transaction():
        conn.execute(SQL("SET LOCAL search_path TO {}, public").format(Identifier(storage)))
        conn.execute(statement)
    seconds = time.perf_counter() - started
    conn.execute(SQL("VACUUM ANALYZE {}").format(Identifier(storage, "chunks")))
    return seconds


# --------------------------------------------------------------------------- the worker


class TimedEmbedder:
    """The model, with the time spent in it counted (the rest of a batch is the database)."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.dimension = inner.dimension
        self.batch_size = inner.batch_size
        self.seconds = 0.0
        self.texts = 0

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        started = time.perf_counter()
        try:
            return self.inner.embed(texts)
        finally:
            self.seconds += time.perf_counter() - started
            self.texts += len(texts)


def drain(pool: Any, model: SearchIndexReadModel, meter: CpuMeter) -> dict[str, Any]:
    """The real worker, batch after batch, until nothing is pending."""
    embedder = TimedEmbedder(offline_embedder("wordllama"))
    worker = EmbeddingWorker(pool, model, lambda: embedder)
    claimed = stored = from_cache = failed = batches = 0
    before = meter.sample()
    started = time.perf_counter()
    while True:
        outcome = worker.run_once()
        if not outcome.claimed:
            break
        batches += 1
        claimed += outcome.claimed
        stored += outcome.stored
        from_cache += outcome.from_cache
        failed += outcome.failed
        if failed:
            raise RuntimeError(f"the worker failed to embed {failed} chunks")
        if batches % 50 == 0:
            log(f"worker: {stored:,} chunks stored")
    seconds = time.perf_counter() - started
    usage = CpuMeter.usage(before, meter.sample(), max(stored, 1))
    return {"chunks": stored, "from_cache": from_cache, "batches": batches,
            "seconds": round(seconds, 1), "chunks_per_s": round(stored / seconds, 1),
            "model_seconds": round(embedder.seconds, 1),
            "model_chunks_per_s": round(embedder.texts / embedder.seconds, 1)
            if embedder.seconds else None,
            "python_cores": usage["client_cores"], "postgres_cores": usage["postgres_cores"]}


def requeue(conn: Connection[Any], storage: str, model: SearchIndexReadModel, count: int,
            seed: int) -> int:
    """Queue ``count`` random embedded chunks again, their cached vectors forgotten: the
    worker then embeds them with the HNSW index in place, as the live index does."""
    conn.execute("SELECT setseed(%s)", (1 / (seed + 1),))
    hashes = [row[0] for row in conn.execute(
        SQL("UPDATE {chunks} c SET embedding = NULL, embedded_at = NULL, queued_at = now() "
            "FROM (SELECT source_id, chunk_index FROM {chunks} WHERE embedding IS NOT NULL "
            "      ORDER BY random() LIMIT %s) p "
            "WHERE c.source_id = p.source_id AND c.chunk_index = p.chunk_index "
            "RETURNING c.text_hash").format(chunks=Identifier(storage, "chunks")),
        (count,)).fetchall()]
    conn.execute("DELETE FROM ai_engine.embedding_cache WHERE model = %s "
                 "AND text_hash = ANY(%s)", (model.embedding.name, hashes))
    return len(hashes)


# --------------------------------------------------------------------------- latency


@dataclass
class Caller:
    label: str
    role: Role
    user: UUID
    share: float


def ms(seconds: float) -> float:
    return seconds * 1000


def figures(samples: list[float]) -> dict[str, float | None]:
    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value, 2)
    return {"p50": rounded(percentile(samples, 50)), "p95": rounded(percentile(samples, 95)),
            "max": rounded(max(samples) if samples else None)}


def visible_chunks(conn: Connection[Any], where: str, params: dict[str, Any]) -> int:
    row = conn.execute(f"SELECT count(*) FROM ai_engine.chunks WHERE {where} "
                       "AND embedding IS NOT NULL", params).fetchone()
    return int(row[0]) if row else 0


def product_path(visible: int, exact_below: int | None = None) -> str:
    cap = search_index.EXACT_BELOW if exact_below is None else exact_below
    return "exact" if visible < cap else "hnsw iterative"


# The product's functions as imported; a trial puts its own in the module for a while
# (search_index.search and the phases below look them up when called).
PRODUCT_RANKING = search_index.vector_ranking
PRODUCT_WHERE = search_index.visible_where


def measure_latency(runtime: Runtime, world: World, callers: list[Caller],
                    queries: list[str], runs: int, rng: random.Random,
                    total_chunks: int, exact_below: int | None = None,
                    ) -> list[dict[str, Any]]:
    embedder = offline_embedder("wordllama")
    results = []
    with runtime.pool.connection() as conn:
        for caller in callers:
            def once(query: str, caller: Caller = caller) -> tuple[float, float, float, int]:
                began = time.perf_counter()
                scope = caller_scope(conn, world.org, caller.role, caller.user)
                scoped = time.perf_counter()
                vector = runtime.query_vector(conn, query)
                embedded = time.perf_counter()
                if vector is None:
                    raise RuntimeError("no query vector: the active index is not wordllama's")
                hits = search_index.search(conn, scope, query, vector, Filters(), limit=PAGE)
                done = time.perf_counter()
                return scoped - began, embedded - scoped, done - embedded, len(hits)

            for _ in range(min(30, runs)):  # warm-up: plans, caches, the pool
                once(rng.choice(queries))
            scope_s, embed_s, search_s, total_s, hits = [], [], [], [], []
            for _ in range(runs):
                a, b, c, n = once(rng.choice(queries))
                scope_s.append(ms(a))
                embed_s.append(ms(b))
                search_s.append(ms(c))
                total_s.append(ms(a + b + c))
                hits.append(n)
            # The parts alone, with other random queries.
            scope = caller_scope(conn, world.org, caller.role, caller.user)
            where, params = search_index.visible_where(scope, Filters())
            visible = visible_chunks(conn, where, params)
            model_s, vector_s, text_s = [], [], []
            for _ in range(runs):
                query = rng.choice(queries)
                began = time.perf_counter()
                vector = embedder.embed([query])[0]
                embedded = time.perf_counter()
                search_index.vector_ranking(conn, where, params, vector, CANDIDATES)
                ranked = time.perf_counter()
                text_ranking(conn, where, params, query, CANDIDATES)
                done = time.perf_counter()
                model_s.append(ms(embedded - began))
                vector_s.append(ms(ranked - embedded))
                text_s.append(ms(done - ranked))
            total = figures(total_s)
            results.append({
                "caller": caller.label, "visible_chunks": visible,
                "visible_share": round(visible / max(total_chunks, 1), 4),
                "path": product_path(visible, exact_below), "runs": runs,
                "scope_ms": figures(scope_s), "query_vector_ms": figures(embed_s),
                "search_sql_ms": figures(search_s), "total_ms": total,
                "model_embed_ms": figures(model_s), "vector_ranking_ms": figures(vector_s),
                "text_ranking_ms": figures(text_s),
                "hits_per_page": round(sum(hits) / len(hits), 1),
                "met": total["p95"] is not None and total["p95"] < TARGET_P95_MS})
            log(f"latency {caller.label}: total p50 {total['p50']} p95 {total['p95']} ms")
    return results


# --------------------------------------------------------------------------- recall


@dataclass(frozen=True)
class RankingSettings:
    label: str
    ef_search: int
    max_scan_tuples: int
    exact_below: int
    iterative: str = "relaxed_order"
    m: int | None = None
    ef_construction: int | None = None
    # The bench's ideas, not the product's: a condition the indexes can answer for a
    # restricted scope (with a partial index for chunks of neither project nor channel),
    # and the exact path as one query (the visible chunks and their count together).
    scope_index: bool = False
    single_pass: bool = False


def product_settings() -> RankingSettings:
    """The settings search_index.vector_ranking uses now, read from the string constants
    of its code (they are literals in its SQL; the code object, not the file, which may
    have changed since the import); the bench's copy is checked against it."""
    literals = " ".join(c for c in PRODUCT_RANKING.__code__.co_consts if isinstance(c, str))

    def setting(name: str) -> str:
        found = re.search(rf"hnsw\.{name}', '(\w+)'", literals)
        if found is None:
            raise RuntimeError(f"hnsw.{name} not found in vector_ranking: update the bench")
        return found.group(1)

    return RankingSettings("product", int(setting("ef_search")),
                           int(setting("max_scan_tuples")), search_index.EXACT_BELOW,
                           setting("iterative_scan"))


def parse_trial(spec: str) -> dict[str, str]:
    values = dict(part.split("=", 1) for part in spec.split(",") if part)
    known = {"ef_search", "max_scan_tuples", "exact_below", "iterative", "m",
             "ef_construction", "scope_index", "single_pass"}
    unknown = set(values) - known
    if unknown:
        raise SystemExit(f"--try: unknown setting(s) {', '.join(sorted(unknown))}; "
                         f"known: {', '.join(sorted(known))}")
    return values


def trial_settings(spec: dict[str, str], base: RankingSettings) -> RankingSettings:
    def number(key: str, default: int | None) -> int | None:
        return int(spec[key]) if key in spec else default

    return RankingSettings(
        ",".join(f"{k}={v}" for k, v in spec.items()),
        number("ef_search", base.ef_search) or base.ef_search,
        number("max_scan_tuples", base.max_scan_tuples) or base.max_scan_tuples,
        number("exact_below", base.exact_below) or base.exact_below,
        spec.get("iterative", base.iterative),
        number("m", base.m), number("ef_construction", base.ef_construction),
        spec.get("scope_index", "0") not in ("0", ""),
        spec.get("single_pass", "0") not in ("0", ""))


def vector_text(vector: Sequence[float]) -> str:
    return "[" + ",".join(repr(float(x)) for x in vector) + "]"


def bench_ranking(conn: Connection[Any], where: str, params: dict[str, Any],
                  vector: Sequence[float], limit: int, settings: RankingSettings,
                  ) -> list[tuple[UUID, int]]:
    """search_index.vector_ranking with its settings as parameters (the same SQL)."""
    params = {**params, "v": vector_text(vector), "limit": limit,
              "cap": settings.exact_below}
    if settings.single_pass:
        found = conn.execute(
            "WITH visible AS MATERIALIZED (SELECT source_id, chunk_index, "
            "embedding <=> %(v)s::vector AS distance FROM ai_engine.chunks "
            f"WHERE {where} AND embedding IS NOT NULL LIMIT %(cap)s) "
            "SELECT source_id, chunk_index, (SELECT count(*) FROM visible) FROM visible "
            "ORDER BY distance, source_id, chunk_index LIMIT %(limit)s", params).fetchall()
        if not found or found[0][2] < settings.exact_below:
            return [(r[0], r[1]) for r in found]
    with conn.transaction():
        visible = conn.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM ai_engine.chunks WHERE {where} "
            "AND embedding IS NOT NULL LIMIT %(cap)s) s", params).fetchone()
        if visible is not None and visible[0] < settings.exact_below:
            rows = conn.execute(
                f"SELECT source_id, chunk_index FROM ai_engine.chunks WHERE {where} "
                "AND embedding IS NOT NULL ORDER BY (embedding <=> %(v)s::vector) + 0, "
                "source_id, chunk_index LIMIT %(limit)s", params).fetchall()
        else:
            conn.execute("SELECT set_config('hnsw.iterative_scan', %s, true), "
                         "set_config('hnsw.ef_search', %s, true), "
                         "set_config('hnsw.max_scan_tuples', %s, true)",
                         (settings.iterative, str(settings.ef_search),
                          str(settings.max_scan_tuples)))
            rows = conn.execute(
                "WITH near AS MATERIALIZED (SELECT source_id, chunk_index, "
                "embedding <=> %(v)s::vector AS distance FROM ai_engine.chunks "
                f"WHERE {where} AND embedding IS NOT NULL "
                "ORDER BY embedding <=> %(v)s::vector LIMIT %(limit)s) "
                "SELECT source_id, chunk_index FROM near "
                "ORDER BY distance, source_id, chunk_index", params).fetchall()
    return [(r[0], r[1]) for r in rows]


def exact_ranking(conn: Connection[Any], where: str, params: dict[str, Any],
                  vector: Sequence[float], limit: int) -> list[tuple[UUID, int, float]]:
    with conn.transaction():
        conn.execute("SET LOCAL enable_indexscan = off")  # no HNSW: every chunk compared
        rows = conn.execute(
            "SELECT source_id, chunk_index, embedding <=> %(v)s::vector AS distance "
            f"FROM ai_engine.chunks WHERE {where} AND embedding IS NOT NULL "
            "ORDER BY distance, source_id, chunk_index LIMIT %(limit)s",
            {**params, "v": vector_text(vector), "limit": limit}).fetchall()
    return [(r[0], r[1], float(r[2])) for r in rows]


def distances_of(conn: Connection[Any], keys: list[tuple[UUID, int]],
                 vector: Sequence[float]) -> list[float]:
    if not keys:
        return []
    rows = conn.execute(
        "SELECT c.source_id, c.chunk_index, c.embedding <=> %s::vector FROM ai_engine.chunks c "
        "JOIN unnest(%s::uuid[], %s::int[]) AS k(source_id, chunk_index) "
        "ON k.source_id = c.source_id AND k.chunk_index = c.chunk_index",
        (vector_text(vector), [k[0] for k in keys], [k[1] for k in keys])).fetchall()
    found = {(r[0], r[1]): float(r[2]) for r in rows}
    return [found.get(k, float("inf")) for k in keys]


def recall(found: list[tuple[UUID, int]], found_distances: list[float],
           exact: list[tuple[UUID, int, float]], k: int) -> tuple[float, float]:
    """(by distance, by id) recall@k: the share of the exact k nearest the ranking found;
    by distance, a chunk as near as the exact k-th counts (equal texts tie)."""
    wanted = min(k, len(exact))
    if wanted == 0:
        return 1.0, 1.0
    bound = exact[wanted - 1][2] + 1e-6
    by_distance = sum(1 for d in found_distances[:k] if d <= bound)
    by_id = len({(s, i) for s, i in found[:k]} & {(s, i) for s, i, _ in exact[:wanted]})
    return min(by_distance, wanted) / wanted, by_id / wanted


def measure_recall(conn: Connection[Any], world: World, callers: list[Caller],
                   vectors: list[list[float]], exact_below: int,
                   exact_cache: dict[tuple[str, int], list[tuple[UUID, int, float]]],
                   ) -> list[dict[str, Any]]:
    """search_index.vector_ranking (the product's, or a trial's in its place) against an
    exact scan of the product's visible chunks."""
    results = []
    for caller in callers:
        scope = caller_scope(conn, world.org, caller.role, caller.user)
        exact_where, exact_params = PRODUCT_WHERE(scope, Filters())
        where, params = search_index.visible_where(scope, Filters())
        visible = visible_chunks(conn, where, params)
        at_k, at_k_id, at_all, latencies = [], [], [], []
        for n, vector in enumerate(vectors):
            key = (caller.label, n)
            if key not in exact_cache:
                exact_cache[key] = exact_ranking(conn, exact_where, exact_params, vector,
                                                 CANDIDATES)
            exact = exact_cache[key]
            began = time.perf_counter()
            found = search_index.vector_ranking(conn, where, params, vector, CANDIDATES)
            latencies.append(ms(time.perf_counter() - began))
            distances = distances_of(conn, found, vector)
            r_k, r_k_id = recall(found, distances, exact, RECALL_AT)
            r_all, _ = recall(found, distances, exact, CANDIDATES)
            at_k.append(r_k)
            at_k_id.append(r_k_id)
            at_all.append(r_all)
        mean = sum(at_k) / len(at_k)
        results.append({
            "caller": caller.label, "visible_chunks": visible,
            "path": product_path(visible, exact_below), "queries": len(vectors),
            f"recall@{RECALL_AT}": round(mean, 4), f"min_recall@{RECALL_AT}": round(min(at_k), 2),
            f"id_recall@{RECALL_AT}": round(sum(at_k_id) / len(at_k_id), 4),
            f"recall@{CANDIDATES}": round(sum(at_all) / len(at_all), 4),
            "queries_below_goal": sum(1 for r in at_k if r < TARGET_RECALL),
            "ranking_ms": figures(latencies), "met": mean >= TARGET_RECALL})
    return results


def check_copy(conn: Connection[Any], world: World, callers: list[Caller],
               vectors: list[list[float]], settings: RankingSettings) -> int:
    """How many rankings of the bench's copy differ from the product's (0 expected:
    otherwise the trials measure something else than the product)."""
    differ = 0
    for caller in callers:
        scope = caller_scope(conn, world.org, caller.role, caller.user)
        where, params = PRODUCT_WHERE(scope, Filters())
        for vector in vectors:
            ours = bench_ranking(conn, where, params, vector, CANDIDATES, settings)
            theirs = PRODUCT_RANKING(conn, where, params, vector, CANDIDATES)
            differ += ours != theirs
    return differ


SCOPE_CONDITION = (" AND (project_id = ANY(%(projects)s) OR channel_id = ANY(%(channels)s) "
                   "OR (project_id IS NULL AND channel_id IS NULL))")
UNSCOPED_INDEX = ("CREATE INDEX IF NOT EXISTS chunks_unscoped ON chunks (organization_id) "
                  "WHERE project_id IS NULL AND channel_id IS NULL")


def scoped_where(scope: Scope, filters: Filters) -> tuple[str, dict[str, Any]]:
    """The product's condition and, for a restricted scope, one it implies that the
    indexes on project_id and channel_id (and the partial index of the chunks of neither)
    answer: a bitmap of the visible chunks instead of a scan of the organization's."""
    where, params = PRODUCT_WHERE(scope, filters)
    if not scope.all_projects:
        where += SCOPE_CONDITION
    return where, params


@contextmanager
def trial_in_place(conn: Connection[Any], storage: str,
                   settings: RankingSettings) -> Iterator[None]:
    """The trial's ranking (and condition) in search_index for a while."""
    if settings.scope_index:
        with conn.transaction():
            conn.execute(SQL("SET LOCAL search_path TO {}, public").format(Identifier(storage)))
            conn.execute(UNSCOPED_INDEX)
        conn.execute(SQL("ANALYZE {}").format(Identifier(storage, "chunks")))

    def ranking(c: Connection[Any], where: str, params: dict[str, Any],
                vector: Sequence[float], limit: int) -> list[tuple[UUID, int]]:
        return bench_ranking(c, where, params, vector, limit, settings)

    search_index.vector_ranking = ranking  # type: ignore[assignment]
    if settings.scope_index:
        search_index.visible_where = scoped_where
    try:
        yield
    finally:
        search_index.vector_ranking = PRODUCT_RANKING
        search_index.visible_where = PRODUCT_WHERE
        if settings.scope_index:
            conn.execute(SQL("DROP INDEX IF EXISTS {}").format(
                Identifier(storage, "chunks_unscoped")))


# --------------------------------------------------------------------------- lag


def embedding_lag(runtime: Runtime, world: World, rate: float, seconds: float,
                  rng: random.Random, meter: CpuMeter) -> dict[str, Any]:
    """Commands at ``rate``/s with the projections and the embedding worker running in
    this process, as in ``vistone serve``; per answer, when its chunks appear and when
    they are all embedded."""
    writer = Writer(rng)
    app = runtime.app
    counter: Counter[str] = Counter()
    lock = threading.Lock()
    pending: dict[UUID, float] = {}  # record -> answered at
    indexed: dict[UUID, float] = {}  # record -> lag until its chunks appeared
    indexed_ms: list[float] = []
    embedded_ms: list[float] = []
    stop = threading.Event()
    poll_errors: list[BaseException] = []

    def command(i: int) -> UUID:
        j = i // 2 % 3  # three of the busiest projects
        if i % 2 == 0:
            title, body = writer.task()
            return run_command(app, counter, world.organizer, tasks.create_task, world.org,
                               world.projects[j], title=title[:200], description=body).id
        _, content = writer.message()
        return run_command(app, counter, world.organizer, channels.post_message, world.org,
                           world.project_channels[j], content=content).id

    def poll() -> None:
        try:
            with psycopg.connect(runtime.database.url, autocommit=True) as conn:
                while not stop.is_set() or pending:
                    with lock:
                        ids = list(pending)
                    if ids:
                        rows = conn.execute(
                            "SELECT source_id, bool_and(embedding IS NOT NULL) "
                            "FROM ai_engine.chunks WHERE source_id = ANY(%s) "
                            "GROUP BY source_id", (ids,)).fetchall()
                        seen = time.perf_counter()
                        with lock:
                            for source_id, done in rows:
                                answered = pending.get(source_id)
                                if answered is None:
                                    continue
                                if source_id not in indexed:
                                    indexed[source_id] = ms(seen - answered)
                                    indexed_ms.append(indexed[source_id])
                                if done:
                                    embedded_ms.append(ms(seen - answered))
                                    del pending[source_id]
                    time.sleep(POLL_SECONDS)
        except BaseException as error:  # noqa: BLE001 - reported with the results
            poll_errors.append(error)

    runtime.start_projections()
    assert runtime.embedding is not None, "the runtime runs no embedding worker"
    # The first batch loads the model: not part of the steady state measured.
    warm = command(0)
    deadline = time.monotonic() + 30
    with runtime.pool.connection() as conn:
        while time.monotonic() < deadline and conn.execute(
                "SELECT count(*) FILTER (WHERE embedding IS NOT NULL) FROM ai_engine.chunks "
                "WHERE source_id = %s", (warm,)).fetchone() in (None, (0,)):
            time.sleep(0.05)
    poller = threading.Thread(target=poll, name="lag-poller", daemon=True)
    poller.start()
    total = int(rate * seconds)
    command_ms, slips_ms = [], []
    before = meter.sample()
    started = time.perf_counter()
    for i in range(1, total + 1):
        due = started + (i - 1) / rate
        wait = due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        slips_ms.append(ms(max(0.0, time.perf_counter() - due)))
        began = time.perf_counter()
        record = command(i)
        answered = time.perf_counter()
        command_ms.append(ms(answered - began))
        with lock:
            pending[record] = answered
    sent_s = time.perf_counter() - started
    usage = CpuMeter.usage(before, meter.sample(), total)
    stop.set()
    drain_deadline = time.monotonic() + 30
    while time.monotonic() < drain_deadline:
        with lock:
            if not pending:
                break
        time.sleep(0.1)
    unseen = len(pending)
    with lock:
        pending.clear()
    poller.join(5)
    if poll_errors:
        raise poll_errors[0]
    return {"commands": total, "rate": rate, "achieved_rate": round(total / sent_s, 1),
            "by_kind": dict(counter), "command_ms": figures(command_ms),
            "send_slip_ms": figures(slips_ms), "indexed_ms": figures(indexed_ms),
            "embedded_ms": figures(embedded_ms), "embedded": len(embedded_ms),
            "unseen": unseen, "python_cores": usage["client_cores"],
            "postgres_cores": usage["postgres_cores"],
            "worker_idle_s": getattr(sys.modules["workers.embedding"], "IDLE_SECONDS", None)}


# --------------------------------------------------------------------------- memory


def vm_status() -> dict[str, float]:
    found = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = round(int(value.split()[0]) / 1024, 1)  # kB -> MB
    return found


def memory_probe(args: argparse.Namespace) -> int:
    """Run in a fresh process: a server's imports and runtime, then the model, a search,
    a worker batch; prints one JSON line of VmRSS/VmHWM after each step."""
    model = args.memory_probe
    steps = [{"step": "python + bench imports", **vm_status()}]
    from api.main import create_app

    runtime = Runtime.open(Settings(database_url=args.database_url, db_pool_size=2,
                                    jwt_secret=secrets.token_urlsafe(32)), prepare=False)
    try:
        create_app(runtime)
        steps.append({"step": "server app built (runtime open)", **vm_status()})
        embedder = offline_embedder(model)
        steps.append({"step": f"{model} loaded", **vm_status()})
        query = "who is working on the colour palette of the landing page?"
        with runtime.pool.connection() as conn:
            scope = caller_scope(conn, args.organization, Role.ORGANIZER, args.caller)
            vector: list[float] | None = None
            if model == "wordllama":
                vector = runtime.query_vector(conn, query)  # the route's path
            else:  # another model's vector cannot query this index: full text only
                embedder.embed([query])
            hits = search_index.search(conn, scope, query, vector, Filters(), limit=PAGE)
        steps.append({"step": f"after a search ({'hybrid' if vector else 'text'}, "
                      f"{len(hits)} hits)", **vm_status()})
        writer = Writer(random.Random(5))
        batch = [" ".join(writer.task()) for _ in range(embedder.batch_size)]
        embedder.embed(batch)
        steps.append({"step": f"after a worker batch ({embedder.batch_size} chunks)",
                      **vm_status()})
    finally:
        runtime.close()
    print(json.dumps({"model": model, "steps": steps}))
    return 0


def measure_memory(runtime: Runtime, world: World, model: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("MISTRAL_API_KEY", "VISTONE_EMBEDDING_MODEL")}
    completed = subprocess.run(  # noqa: S603 - this module, run again
        [sys.executable, "-m", "bench.search", "--memory-probe", model, "--database-url",
         runtime.database.url, "--organization", str(world.org), "--caller",
         str(world.organizer)],
        cwd=Path(__file__).resolve().parent.parent, env=env, capture_output=True, text=True,
        timeout=600, check=False)
    if completed.returncode != 0:
        return {"model": model, "error": completed.stderr[-2000:]}
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


# --------------------------------------------------------------------------- output


def cell(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def print_table(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for index, row in enumerate(rows):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if index == 0:
            print("  ".join("-" * w for w in widths))


def pair(f: dict[str, float | None]) -> str:
    return f"{cell(f['p50'])} / {cell(f['p95'])}"


def report(results: dict[str, Any]) -> None:
    machine, index = results["machine"], results["index"]
    print()
    print(f"search index: {index['chunks']:,} chunks ({index['generated_chunks']:,} "
          f"generated in {index['documents']:,} documents, {index['real_chunks']} from the "
          f"population's {results['population']['commands']} commands); by kind: "
          + ", ".join(f"{k} {v:,}" for k, v in index["by_kind"].items()))
    print(f"load: COPY {index['load']['copy_s']} s, indexes {index['load']['indexes_s']} s; "
          f"HNSW build {index['hnsw_build_s']:.1f} s; table {index['table_mb']} MB, "
          f"HNSW index {index['hnsw_mb']} MB, GIN {index['gin_mb']} MB")
    worker, live = results["worker"], results.get("worker_live")
    print("\nembedding worker (wordllama, claim -> cache -> embed -> store), end to end:")
    rows: list[tuple[str, ...]] = [("run", "chunks", "seconds", "chunks/s", "model alone chunks/s",
             "Python cores", "PostgreSQL cores")]
    for label, w in (("fill of a new index (no HNSW index, as a building generation)",
                      worker), ("live index (HNSW index maintained)", live)):
        if w:
            rows.append((label, f"{w['chunks']:,}", cell(w["seconds"]),
                         cell(w["chunks_per_s"], 0), cell(w["model_chunks_per_s"], 0),
                         cell(w["python_cores"], 2), cell(w["postgres_cores"], 2)))
    print_table(rows)

    print(f"\nsearch latency, ms p50 / p95 ({results['settings']['runs']} runs per caller, "
          f"page {PAGE}; total = scope + query_vector + search):")
    rows = [("caller", "visible chunks", "vector path", "caller_scope", "query_vector",
             "search (SQL)", "total", "total max", "goal p95 < 50")]
    for r in results["latency"]:
        rows.append((r["caller"], f"{r['visible_chunks']:,} ({r['visible_share']:.1%})",
                     r["path"], pair(r["scope_ms"]), pair(r["query_vector_ms"]),
                     pair(r["search_sql_ms"]), pair(r["total_ms"]),
                     cell(r["total_ms"]["max"]), "yes" if r["met"] else "**no**"))
    print_table(rows)
    print("\nthe parts alone, ms p50 / p95 (other random queries):")
    rows = [("caller", "model embed", "vector ranking", "text ranking", "hits/page")]
    for r in results["latency"]:
        rows.append((r["caller"], pair(r["model_embed_ms"]), pair(r["vector_ranking_ms"]),
                     pair(r["text_ranking_ms"]), cell(r["hits_per_page"])))
    print_table(rows)

    def trial_latency_rows(latency: list[dict[str, Any]]) -> list[tuple[str, ...]]:
        out: list[tuple[str, ...]] = [(
            "caller", "search runs", "vector ranking", "text ranking", "search (SQL)",
            "total", "goal p95 < 50")]
        for r in latency:
            out.append((r["caller"], str(r["runs"]), pair(r["vector_ranking_ms"]),
                        pair(r["text_ranking_ms"]), pair(r["search_sql_ms"]),
                        pair(r["total_ms"]), "yes" if r["met"] else "**no**"))
        return out

    def recall_rows(recalls: list[dict[str, Any]]) -> list[tuple[str, ...]]:
        out: list[tuple[str, ...]] = [(
            "caller", "visible chunks", "path", f"recall@{RECALL_AT}", "min",
            f"id recall@{RECALL_AT}", f"recall@{CANDIDATES}", "queries < 0.95",
            "ranking ms p50 / p95", "goal >= 0.95")]
        for r in recalls:
            out.append((r["caller"], f"{r['visible_chunks']:,}", r["path"],
                        f"{r[f'recall@{RECALL_AT}']:.3f}", f"{r[f'min_recall@{RECALL_AT}']:.2f}",
                        f"{r[f'id_recall@{RECALL_AT}']:.3f}", f"{r[f'recall@{CANDIDATES}']:.3f}",
                        str(r["queries_below_goal"]), pair(r["ranking_ms"]),
                        "yes" if r["met"] else "**no**"))
        return out

    product = results["product_settings"]
    print(f"\nrecall of search_index.vector_ranking against an exact scan "
          f"({results['settings']['queries']} query vectors; product: ef_search "
          f"{product['ef_search']}, max_scan_tuples {product['max_scan_tuples']}, "
          f"iterative {product['iterative']}, EXACT_BELOW {product['exact_below']:,}, "
          f"{CANDIDATES} candidates):")
    print_table(recall_rows(results["recall"]))
    if results.get("copy_differs") is not None:
        print(f"bench copy of the ranking vs the product's: {results['copy_differs']} "
              "rankings differ (0 expected)")
    for trial in results.get("trials", []):
        extra = f" (HNSW index rebuilt in {trial['build_s']:.1f} s)" if trial.get(
            "build_s") else ""
        print(f"\ntrial {trial['settings']['label']}{extra}:")
        print_table(recall_rows(trial["recall"]))
        print_table(trial_latency_rows(trial["latency"]))

    lag = results.get("lag")
    if lag:
        print(f"\nembedding lag: {lag['commands']} commands at {lag['rate']:.0f}/s "
              f"(achieved {lag['achieved_rate']}/s; {lag['by_kind']}), in-process "
              f"projections + embedding worker (idle poll {lag['worker_idle_s']} s), "
              f"polled every {POLL_SECONDS * 1000:.0f} ms:")
        rows = [("from the command's answer until", "p50 ms", "p95 ms", "max ms")]
        rows.append(("its chunks are in ai_engine.chunks (projection)",
                     cell(lag["indexed_ms"]["p50"]), cell(lag["indexed_ms"]["p95"]),
                     cell(lag["indexed_ms"]["max"])))
        rows.append(("all its chunks have an embedding",
                     cell(lag["embedded_ms"]["p50"]), cell(lag["embedded_ms"]["p95"]),
                     cell(lag["embedded_ms"]["max"])))
        rows.append(("(the command itself)", cell(lag["command_ms"]["p50"]),
                     cell(lag["command_ms"]["p95"]), cell(lag["command_ms"]["max"])))
        print_table(rows)
        print(f"embedded {lag['embedded']}, never embedded within 30 s: {lag['unseen']}; "
              f"send slip p95 {cell(lag['send_slip_ms']['p95'])} ms; cores busy: "
              f"Python {lag['python_cores']}, PostgreSQL {lag['postgres_cores']}")

    memory = results.get("memory")
    if memory:
        print("\nmemory of a server process (fresh Python, Runtime + FastAPI app), MB:")
        rows = [("model", "step", "VmRSS", "VmHWM")]
        for probe in memory:
            if "error" in probe:
                rows.append((probe["model"], "failed: " + probe["error"].splitlines()[-1],
                             "-", "-"))
                continue
            for step in probe["steps"]:
                rows.append((probe["model"], step["step"], cell(step.get("VmRSS")),
                             cell(step.get("VmHWM"))))
        print_table(rows)

    print("\nsummary:")
    rows = [("metric", "value", "goal", "met")]
    for r in results["latency"]:
        rows.append((f"search p95, {r['caller']} ({r['visible_share']:.1%})",
                     f"{cell(r['total_ms']['p95'])} ms", "< 50 ms",
                     "yes" if r["met"] else "**no**"))
    for r in results["recall"]:
        rows.append((f"recall@{RECALL_AT}, {r['caller']} ({r['path']})",
                     f"{r[f'recall@{RECALL_AT}']:.3f}", ">= 0.95", "yes" if r["met"] else "**no**"))
    if lag:
        rows.append((f"embedding lag p95 at {lag['rate']:.0f} commands/s",
                     f"{cell(lag['embedded_ms']['p95'])} ms", "-", "-"))
    rows.append(("worker throughput, new index", f"{cell(worker['chunks_per_s'], 0)} chunks/s",
                 "-", "-"))
    if live:
        rows.append(("worker throughput, live index", f"{cell(live['chunks_per_s'], 0)} "
                     "chunks/s", "-", "-"))
    for probe in memory or []:
        if "steps" in probe:
            last = probe["steps"][-1]
            rows.append((f"server RSS with {probe['model']} (after search + batch)",
                         f"{cell(last.get('VmRSS'))} MB", "-", "-"))
    print_table(rows)
    print("\nload average: " + "; ".join(f"{phase} {values}" for phase, values in
                                         machine["load"].items()))
    print(f"{machine['cpus']} CPUs; Python {machine['python']}; PostgreSQL "
          f"{machine.get('postgres', {})}")


# --------------------------------------------------------------------------- main


def table_sizes(conn: Connection[Any], storage: str, model: SearchIndexReadModel,
                ) -> dict[str, int]:
    hnsw_name, _ = hnsw_statement(model)

    def size(sql: str, name: str) -> int:
        row = conn.execute(sql, (name,)).fetchone()
        return round((row[0] if row else 0) / 2**20)

    return {"table_mb": size("SELECT pg_total_relation_size(%s::regclass)",
                             f"{storage}.chunks"),
            "hnsw_mb": size("SELECT pg_relation_size(%s::regclass)", f"{storage}.{hnsw_name}"),
            "gin_mb": size("SELECT pg_relation_size(%s::regclass)", f"{storage}.chunks_search")}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.memory_probe:
        return memory_probe(args)
    wait_idle(args.wait_idle, log)
    rng = random.Random(args.seed)
    data_dir = Path(tempfile.mkdtemp(prefix="vistone-bench-search-"))
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(), "load": {"start": load()}},
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                     if k != "trial_settings"},
    }
    database = open_database(None, data_dir)
    runtime: Runtime | None = None
    try:
        log(f"embedded PostgreSQL in {data_dir}")
        runtime = Runtime.open(Settings(data_dir=data_dir, jwt_secret=secrets.token_urlsafe(32),
                                        db_pool_size=4))
        model = runtime.search_index()
        if model is None or not model.embedding.name.startswith("wordllama"):
            raise RuntimeError("the runtime's search index is not wordllama's")
        meter = CpuMeter(None, postmaster_pid(data_dir / "pgdata"))
        with runtime.pool.connection() as conn:
            results["machine"]["postgres"] = {
                name: (conn.execute(SQL("SHOW {}").format(Identifier(name))).fetchone()
                       or ("?",))[0]
                for name in ("server_version", "shared_buffers", "work_mem",
                             "effective_cache_size", "max_parallel_workers_per_gather")}
            row = conn.execute("SELECT extversion FROM pg_extension "
                               "WHERE extname = 'vector'").fetchone()
            results["machine"]["postgres"]["pgvector"] = row[0] if row else None

        log(f"population: {args.projects} projects (commands)")
        started = time.perf_counter()
        world = populate(runtime.app, args.projects)
        catch_up(runtime.app, runtime.pool, runtime.read_models)
        with runtime.pool.connection() as conn:
            storage = storage_of(conn, model.name)
            real = conn.execute("SELECT count(*), count(*) FILTER (WHERE content_type = "
                                "'client') FROM ai_engine.chunks").fetchone() or (0, 0)
        log(f"corpus: generating {args.chunks - real[0]:,} chunks")
        corpus = generate(world, args.chunks - real[0], rng)
        total = real[0] + len(corpus.chunks)
        # Two Contributors whose scopes keep about 10 % and 1 % of the chunks: the team
        # channel and the clients every Contributor reads, then whole projects.
        unavoidable = corpus.team_chunks + real[1]
        taken: set[int] = set()
        for share, person in zip(SHARES[1:], world.contributors, strict=False):
            chosen = choose_projects(corpus.per_project, unavoidable, round(share * total),
                                     rng, taken)
            taken.update(chosen)
            for j in chosen:
                run_command(runtime.app, world.commands, world.organizer,
                            projects.add_project_member, world.org, world.projects[j],
                            user_id=person, role=ProjectRole.MEMBER)
            world.scoped[share] = person
            world.scoped_projects[share] = chosen
        catch_up(runtime.app, runtime.pool, runtime.read_models)
        results["population"] = {"commands": sum(world.commands.values()),
                                 "seconds": round(time.perf_counter() - started, 1),
                                 "corpus_seconds": round(corpus.seconds, 1)}
        log(f"loading {len(corpus.documents):,} documents, {len(corpus.chunks):,} chunks "
            f"into {storage} (COPY)")
        with runtime.pool.connection() as conn:
            loaded = load_corpus(conn, storage, model, corpus)
        log(f"loaded: {loaded}")

        results["machine"]["load"]["worker"] = load()
        log("embedding worker: embedding every pending chunk")
        results["worker"] = drain(runtime.pool, model, meter)
        log(f"worker: {results['worker']}")
        with runtime.pool.connection() as conn:
            log("building the HNSW index")
            hnsw_s = build_hnsw(conn, storage, model)
            conn.execute(SQL("VACUUM ANALYZE {}").format(Identifier(storage, "documents")))
            sizes = table_sizes(conn, storage, model)
            requeued = requeue(conn, storage, model, args.reembed, args.seed)
        log(f"HNSW index built in {hnsw_s:.1f} s; {requeued} chunks queued again")
        results["worker_live"] = drain(runtime.pool, model, meter)
        with runtime.pool.connection() as conn:
            conn.execute(SQL("VACUUM ANALYZE {}").format(Identifier(storage, "chunks")))
            pending = conn.execute("SELECT count(*) FILTER (WHERE embedding IS NULL), count(*) "
                                   "FROM ai_engine.chunks").fetchone() or (0, 0)
        if pending[0]:
            raise RuntimeError(f"{pending[0]} chunks still pending")
        results["index"] = {"chunks": pending[1], "real_chunks": real[0],
                            "generated_chunks": len(corpus.chunks),
                            "documents": len(corpus.documents),
                            "by_kind": dict(corpus.by_kind.most_common()), "load": loaded,
                            "hnsw_build_s": hnsw_s, **sizes,
                            "scoped_projects": {str(k): len(v)
                                                for k, v in world.scoped_projects.items()}}

        callers = [Caller("Organizer", Role.ORGANIZER, world.organizer, 1.0)] + [
            Caller(f"Contributor ~{share:.0%}", Role.CONTRIBUTOR, person, share)
            for share, person in world.scoped.items()]
        query_writer = Writer(random.Random(args.seed + 1))
        queries = [query_writer.query() for _ in range(max(400, args.queries))]
        results["machine"]["load"]["latency"] = load()
        log(f"latency: {args.runs} searches per caller")
        results["latency"] = measure_latency(runtime, world, callers, queries, args.runs, rng,
                                             pending[1])

        results["machine"]["load"]["recall"] = load()
        embedder = offline_embedder("wordllama")
        vectors = embedder.embed(queries[:args.queries])
        product = product_settings()
        results["product_settings"] = asdict(product)
        exact_cache: dict[tuple[str, int], list[tuple[UUID, int, float]]] = {}
        with runtime.pool.connection() as conn:
            log(f"recall: {len(vectors)} query vectors per caller")
            results["recall"] = measure_recall(conn, world, callers, vectors,
                                               product.exact_below, exact_cache)
            if args.trial_settings:
                results["copy_differs"] = check_copy(conn, world, callers, vectors[:10],
                                                     product)
                results["trials"] = []
                index_changed = False
                ordered = sorted(args.trial_settings,
                                 key=lambda s: "m" in s or "ef_construction" in s)
                for spec in ordered:
                    settings = trial_settings(spec, product)
                    trial: dict[str, Any] = {"settings": asdict(settings)}
                    if settings.m or settings.ef_construction:
                        log(f"trial {settings.label}: rebuilding the HNSW index")
                        trial["build_s"] = build_hnsw(conn, storage, model, settings.m,
                                                      settings.ef_construction)
                        index_changed = True
                    elif index_changed:
                        trial["build_s"] = build_hnsw(conn, storage, model)
                        index_changed = False
                    log(f"trial {settings.label}: recall and latency")
                    with trial_in_place(conn, storage, settings):
                        trial["recall"] = measure_recall(conn, world, callers, vectors,
                                                         settings.exact_below, exact_cache)
                        trial["latency"] = measure_latency(
                            runtime, world, callers, queries, args.trial_runs, rng,
                            pending[1], settings.exact_below)
                    results["trials"].append(trial)
                if index_changed:
                    log("restoring the product's HNSW index")
                    build_hnsw(conn, storage, model)

        if not args.skip_lag:
            results["machine"]["load"]["lag"] = load()
            log(f"embedding lag: {args.rate}/s for {args.lag_seconds} s")
            results["lag"] = embedding_lag(runtime, world, args.rate, args.lag_seconds, rng,
                                           meter)
            log(f"lag: {results['lag']}")
        if not args.skip_memory:
            results["machine"]["load"]["memory"] = load()
            results["memory"] = []
            for name in ("wordllama", "minilm"):
                log(f"memory: a fresh process with {name}")
                results["memory"].append(measure_memory(runtime, world, name))
    finally:
        if runtime is not None:
            runtime.close()
        if database.embedded is not None:
            database.embedded.stop()
        if args.keep:
            log(f"data directory kept: {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    results["machine"]["load"]["end"] = load()
    report(results)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, default=str))
        log(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
