"""The search index as a projection, on a real PostgreSQL with pgvector, fed from the log
by the real projection runner and embedded by real EmbeddingWorker instances around the
offline model (wordllama), counted by a wrapper: what each change to a record queues for
embedding, what removes a record from the index, and that a rebuild from the log gives
the live index back while the embedding cache spares the provider every call.

The tests run on a database of their own, with the projections running and no embedding
worker in the background: every embedding is done by the test's own worker, so the
provider calls it counts are all there are."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.conninfo import make_conninfo

from api.main import create_app
from projections.runner import wait_for_position
from projections.search_index import SearchIndexReadModel
from projections.versions import read_generations, request_rebuild
from tests.conftest import ContractClient
from tests.e2e.test_tasks_api import Team, create_task, new_team
from tests.helpers import Person, add_client, fresh, new_channel, post_message
from vistone.ai.chunking import chunk_document
from vistone.ai.embedders import Embedder, offline_embedder
from vistone.config import Settings
from vistone.runtime import Runtime
from workers.embedding import EmbeddingWorker, Outcome

# --- shared with the other search integration tests -------------------------------------


@contextmanager
def own_database(runtime: Runtime) -> Iterator[str]:
    """A new, empty database on the session's embedded server (its URL), dropped after:
    for tests that must control every embedding, or use another model."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(runtime.database.url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_conninfo(runtime.database.url, dbname=name)
    finally:
        with psycopg.connect(runtime.database.url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def open_runtime(url: str, settings: Settings) -> Runtime:
    """A runtime on ``url`` whose projections run but which embeds nothing by itself."""
    return Runtime.open(Settings(database_url=url, data_dir=settings.data_dir,
                                 jwt_secret=settings.jwt_secret, db_pool_size=4,
                                 read_wait_seconds=5.0, run_embedding_in_server=False))


@dataclass
class World:
    runtime: Runtime
    client: TestClient

    @property
    def index(self) -> SearchIndexReadModel:
        index = self.runtime.search_index()
        assert index is not None
        return index


@contextmanager
def deployed_at(url: str, settings: Settings) -> Iterator[World]:
    """The application on the database ``url`` as one deployment runs it: projections
    running, nothing embedding; and its HTTP client."""
    runtime = open_runtime(url, settings)
    try:
        runtime.start_projections()
        assert runtime.embedding is None  # nothing embeds behind the tests' back
        with ContractClient(create_app(runtime, run_projections=False),
                            raise_server_exceptions=False) as client:
            yield World(runtime, client)
    finally:
        runtime.close()


@contextmanager
def running_world(session_runtime: Runtime, settings: Settings) -> Iterator[World]:
    """The application deployed on a database of its own."""
    with own_database(session_runtime) as url, deployed_at(url, settings) as world:
        yield world


class CountingEmbedder:
    """A real embedder that keeps every text it is asked to embed (the provider calls a
    test counts); ``delay`` slows each call down, so that workers overlap."""

    def __init__(self, inner: Embedder | None = None, *, delay: float = 0.0) -> None:
        self.inner = inner or offline_embedder()
        self.name = self.inner.name
        self.dimension = self.inner.dimension
        self.batch_size = self.inner.batch_size
        self.delay = delay
        self.texts: list[str] = []
        self.calls = 0
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        with self._lock:
            self.texts.extend(texts)
            self.calls += 1
        if self.delay:
            time.sleep(self.delay)
        return self.inner.embed(texts)

    def reset(self) -> None:
        with self._lock:
            self.texts.clear()
            self.calls = 0


def worker_with(world: World, embedder: Embedder, batch_size: int | None = None,
                ) -> EmbeddingWorker:
    return EmbeddingWorker(world.runtime.pool, world.index, lambda: embedder,
                           batch_size=batch_size)


def drain(worker: EmbeddingWorker, timeout: float = 30.0) -> Outcome:
    """Run batches until nothing is claimed; the sum of what they did."""
    total = Outcome()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        outcome = worker.run_once()
        if not outcome.claimed:
            return total
        total.claimed += outcome.claimed
        total.stored += outcome.stored
        total.from_cache += outcome.from_cache
        total.failed += outcome.failed
    raise TimeoutError("chunks still pending")


def projected(world: World, position: int, names: Sequence[str] = ("search",)) -> None:
    """Wait until the read models named reflect the log ``position``."""
    assert wait_for_position(world.runtime.pool, list(names), position, timeout=15.0), \
        f"{names} did not reach {position}"


def head(world: World) -> int:
    return world.runtime.app.recorder.max_notification_id() or 0


def rows(world: World, query: str, params: Sequence[Any] | Mapping[str, Any] = (),
         ) -> list[tuple[Any, ...]]:
    with world.runtime.pool.connection() as conn:
        return conn.execute(query, params).fetchall()


def chunks_of(world: World, source_id: str) -> list[dict[str, Any]]:
    """The chunks of one record, in order, with what the tests compare."""
    found = rows(world, "SELECT chunk_index, chunk_text, text_hash, embedding::text, "
                 "embedded_at, claimed_until FROM ai_engine.chunks WHERE source_id = %s "
                 "ORDER BY chunk_index", (source_id,))
    return [{"index": r[0], "text": r[1], "hash": r[2], "embedding": r[3],
             "embedded_at": r[4], "claimed_until": r[5]} for r in found]


def document_of(world: World, source_id: str) -> dict[str, Any] | None:
    found = rows(world, "SELECT searchable, content_hash, version, content, title "
                 "FROM ai_engine.documents WHERE source_id = %s", (source_id,))
    if not found:
        return None
    searchable, content_hash, version, content, title = found[0]
    return {"searchable": searchable, "content_hash": content_hash, "version": version,
            "content": content, "title": title}


def pending(world: World) -> int:
    found = rows(world, "SELECT count(*) FROM ai_engine.chunks WHERE embedding IS NULL")
    return int(found[0][0])


def search_ids(world: World, org: str, who: Person, q: str, position: int | None = None,
               ) -> list[str]:
    r = world.client.get(f"/v1/organizations/{org}/search", params={"q": q},
                         headers={**who.headers, **fresh(position)})
    assert r.status_code == 200, r.text
    return [item["source"]["id"] for item in r.json()["items"]]


def ok(r: Any, status: int = 200) -> dict[str, Any]:
    assert r.status_code == status, r.text
    return dict(r.json())


def word() -> str:
    """A word no other record holds: a search for it finds only what a test wrote."""
    return "zq" + uuid.uuid4().hex[:10]


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(runtime: Runtime, settings: Settings) -> Iterator[World]:
    with running_world(runtime, settings) as world:
        yield world


@pytest.fixture
def counted(world: World) -> CountingEmbedder:
    """A counting embedder, after what earlier tests left pending was embedded (by
    another embedder, so the count starts at zero)."""
    drain(worker_with(world, offline_embedder()))
    return CountingEmbedder()


def paragraphs(tag: str, count: int) -> list[str]:
    """``count`` paragraphs of about 450 characters, each naming ``tag`` and its number."""
    sentence = ("The {tag} rollout step {n} covers the staging servers, the database "
                "migration, the smoke tests and the announcement to the customers. ")
    return [(sentence.format(tag=tag, n=n) * 4).strip() for n in range(count)]


# --- what a change queues -----------------------------------------------------------------


def test_a_tasks_checklist_is_in_its_chunks_and_found_by_search(
        world: World, counted: CountingEmbedder) -> None:
    team = new_team(world.client)
    item_word = word()
    task = create_task(world.client, team, title="Prepare the release",
                       description="Everything the release needs.")
    item = ok(world.client.post(team.task_url(task["id"], "/checklist"),
                                json={"text": f"Sign the {item_word} contract"},
                                headers=team.ann.headers), 201)
    projected(world, item["position"])

    chunks = chunks_of(world, task["id"])
    text = "\n".join(c["text"] for c in chunks)
    assert "Everything the release needs." in text
    assert f"Checklist:\n- Sign the {item_word} contract" in text
    assert all(c["embedding"] is None for c in chunks)  # queued, not embedded yet
    # Found by the item's words through full text before any embedding...
    assert task["id"] in search_ids(world, team.org, team.ann, item_word)
    drain(worker_with(world, counted))
    assert any(item_word in t for t in counted.texts)
    # ... and after it.
    assert all(c["embedding"] is not None for c in chunks_of(world, task["id"]))
    assert task["id"] in search_ids(world, team.org, team.ann, item_word)


def test_an_edit_of_the_last_paragraph_embeds_only_the_chunks_whose_text_changed(
        world: World, counted: CountingEmbedder) -> None:
    team = new_team(world.client)
    title = "Migrate the billing service"
    before = paragraphs("billing", 6)
    after = [*before[:-1], "The billing rollout ends with a retrospective of the whole "
             "migration, written down for the next team. " * 5]
    old_chunks = chunk_document(title, "\n".join(before))
    new_chunks = chunk_document(title, "\n".join(after))
    changed = {c.index for c in new_chunks
               if c.index >= len(old_chunks) or old_chunks[c.index].text_hash != c.text_hash}
    # The premise: several chunks, of which the edit changes the last ones only.
    assert len(old_chunks) >= 3 and changed and 0 not in changed
    assert len(changed) < len(new_chunks)

    task = create_task(world.client, team, title=title, description="\n".join(before))
    projected(world, task["position"])
    drain(worker_with(world, counted))
    first = chunks_of(world, task["id"])
    assert [c["hash"] for c in first] == [c.text_hash for c in old_chunks]
    assert all(c["embedding"] is not None for c in first)
    counted.reset()

    edit = ok(world.client.patch(team.task_url(task["id"]),
                                 json={"description": "\n".join(after)},
                                 headers=team.ann.headers))
    projected(world, edit["position"])
    queued = chunks_of(world, task["id"])
    assert [c["hash"] for c in queued] == [c.text_hash for c in new_chunks]
    assert {c["index"] for c in queued if c["embedding"] is None} == changed
    outcome = drain(worker_with(world, counted))
    # The provider saw exactly the changed chunks' texts, once each.
    assert sorted(counted.texts) == sorted(new_chunks[i].embedded for i in changed)
    assert outcome.stored == len(changed)
    second = chunks_of(world, task["id"])
    for old, new in zip(first, second, strict=False):
        if new["index"] not in changed:
            assert (new["embedding"], new["embedded_at"]) == (old["embedding"],
                                                              old["embedded_at"])
    for new in second:
        assert new["embedding"] is not None
        if new["index"] in changed and new["index"] < len(first):
            assert new["embedded_at"] > first[new["index"]]["embedded_at"]


def test_a_shorter_description_drops_the_chunks_past_its_end(
        world: World, counted: CountingEmbedder) -> None:
    team = new_team(world.client)
    long = paragraphs("archive", 6)
    task = create_task(world.client, team, title="Archive the logs",
                       description="\n".join(long))
    projected(world, task["position"])
    drain(worker_with(world, counted))
    assert len(chunks_of(world, task["id"])) >= 3
    edit = ok(world.client.patch(team.task_url(task["id"]), json={"description": long[0]},
                                 headers=team.ann.headers))
    projected(world, edit["position"])
    expected = chunk_document("Archive the logs", long[0])
    assert [c["hash"] for c in chunks_of(world, task["id"])] == \
        [c.text_hash for c in expected]


def test_changes_to_fields_outside_the_text_embed_nothing(
        world: World, counted: CountingEmbedder) -> None:
    team = new_team(world.client)
    task = create_task(world.client, team, title="Write the user guide",
                       description="Chapters on setup, daily use and troubleshooting.")
    item = ok(world.client.post(team.task_url(task["id"], "/checklist"),
                                json={"text": "Screenshots of every screen"},
                                headers=team.ann.headers), 201)
    projected(world, item["position"])
    drain(worker_with(world, counted))
    embedded = chunks_of(world, task["id"])
    assert embedded and all(c["embedding"] is not None for c in embedded)
    version_before = document_of(world, task["id"])
    assert version_before is not None
    counted.reset()

    url = team.task_url(task["id"])
    answers = [
        world.client.post(url + "/status", json={"status": "IN_PROGRESS"},
                          headers=team.ann.headers),
        world.client.post(url + "/assign", json={"assignee_id": team.bob.id},
                          headers=team.ann.headers),
        world.client.patch(url, json={"priority": "URGENT"}, headers=team.ann.headers),
        world.client.patch(url + f"/checklist/{item['item_id']}", json={"done": True},
                           headers=team.ann.headers),
    ]
    last = [ok(r) for r in answers][-1]
    projected(world, last["position"])
    document = document_of(world, task["id"])
    assert document is not None
    # The projection did apply the four events (it keeps the record's state)...
    assert document["version"] == version_before["version"] + 4 == last["version"]
    assert document["content_hash"] == version_before["content_hash"]
    # ... and queued nothing: same chunks, same vectors, embedded at the same time.
    assert chunks_of(world, task["id"]) == embedded
    assert pending(world) == 0
    assert drain(worker_with(world, counted)).claimed == 0
    assert counted.texts == []


# --- what leaves the index ----------------------------------------------------------------


def test_a_deleted_message_is_unsearchable_and_its_chunks_gone(
        world: World, counted: CountingEmbedder) -> None:
    team = new_team(world.client)
    marker = word()
    channel = new_channel(world.client, team.ann, team.org, kind="team", name="general")
    message = post_message(world.client, team.ann, team.org, channel["id"],
                           f"The {marker} invoice was paid this morning.")
    kept = post_message(world.client, team.ann, team.org, channel["id"],
                        f"The {marker} receipt is in the shared folder.")
    projected(world, kept["position"])
    drain(worker_with(world, counted))
    assert {message["id"], kept["id"]} <= set(search_ids(world, team.org, team.ann, marker))

    deleted = ok(world.client.delete(f"/v1/organizations/{team.org}/messages/{message['id']}",
                                     headers=team.ann.headers))
    projected(world, deleted["position"])
    assert chunks_of(world, message["id"]) == []
    document = document_of(world, message["id"])
    assert document is not None and not document["searchable"]
    assert document["content_hash"] is None
    found = search_ids(world, team.org, team.ann, f"{marker} invoice paid")
    assert message["id"] not in found and kept["id"] in found
    assert chunks_of(world, kept["id"])  # the other message untouched


def test_an_archived_project_takes_itself_and_its_tasks_out_of_the_index(
        world: World, counted: CountingEmbedder) -> None:
    team = new_team(world.client)
    marker = word()
    other = ok(world.client.post(f"/v1/organizations/{team.org}/projects",
                                 json={"name": f"Other {marker}"},
                                 headers=team.ann.headers), 201)
    tasks = [create_task(world.client, team, title=f"{marker} task {n}",
                         description=f"Step {n} of the {marker} plan.") for n in range(3)]
    outside = ok(world.client.post(f"/v1/organizations/{team.org}/projects/{other['id']}"
                                   "/tasks", json={"title": f"{marker} elsewhere"},
                                   headers=team.ann.headers), 201)
    projected(world, outside["position"])
    drain(worker_with(world, counted))
    assert {t["id"] for t in tasks} <= set(search_ids(world, team.org, team.ann, marker))
    assert chunks_of(world, team.project)

    archived = ok(world.client.post(
        f"/v1/organizations/{team.org}/projects/{team.project}/archive",
        headers=team.ann.headers))
    projected(world, archived["position"])
    for source in [team.project, *(t["id"] for t in tasks)]:
        assert chunks_of(world, source) == []
        document = document_of(world, source)
        assert document is not None and not document["searchable"]
    found = search_ids(world, team.org, team.ann, marker)
    assert not {team.project, *(t["id"] for t in tasks)} & set(found)
    # The other project and its task stay.
    assert outside["id"] in found and chunks_of(world, other["id"])
    assert pending(world) == 0


def test_an_archived_client_leaves_the_index_and_a_restored_one_comes_back_from_the_cache(
        world: World, counted: CountingEmbedder) -> None:
    team = new_team(world.client)
    marker = word()
    customer = add_client(world.client, team.ann, team.org, name=f"Acme {marker}")
    projected(world, customer["position"])
    drain(worker_with(world, counted))
    indexed = chunks_of(world, customer["id"])
    assert indexed and all(c["embedding"] is not None for c in indexed)
    assert customer["id"] in search_ids(world, team.org, team.ann, marker)

    base = f"/v1/organizations/{team.org}/clients/{customer['id']}"
    archived = ok(world.client.post(base + "/archive", headers=team.ann.headers))
    projected(world, archived["position"])
    assert chunks_of(world, customer["id"]) == []
    assert customer["id"] not in search_ids(world, team.org, team.ann, marker)

    counted.reset()
    restored = ok(world.client.post(base + "/restore", headers=team.ann.headers))
    projected(world, restored["position"])
    back = chunks_of(world, customer["id"])
    assert [c["hash"] for c in back] == [c["hash"] for c in indexed]
    assert all(c["embedding"] is None for c in back)  # queued again...
    assert customer["id"] in search_ids(world, team.org, team.ann, marker)  # full text
    outcome = drain(worker_with(world, counted))
    # ... and served from the embedding cache: no provider call.
    assert counted.texts == []
    assert outcome.from_cache == outcome.stored == len(indexed)
    assert [c["embedding"] for c in chunks_of(world, customer["id"])] == \
        [c["embedding"] for c in indexed]


def test_a_deleted_organization_leaves_nothing_in_the_index(
        world: World, counted: CountingEmbedder) -> None:
    team = new_team(world.client)
    survivor = new_team(world.client)
    marker = word()
    create_task(world.client, team, title=f"{marker} task", description="A plan.")
    channel = new_channel(world.client, team.ann, team.org, kind="team", name="general")
    post_message(world.client, team.ann, team.org, channel["id"], f"{marker} message")
    add_client(world.client, team.ann, team.org, name=f"Client {marker}")
    ok(world.client.put(f"/v1/organizations/{team.org}/search/content-types/proposal",
                        json={"enabled": False}, headers=team.ann.headers))
    kept = create_task(world.client, survivor, title=f"{marker} survivor")
    projected(world, kept["position"])
    drain(worker_with(world, counted))

    def counts(org: str) -> tuple[int, int, int]:
        found = rows(world, "SELECT (SELECT count(*) FROM ai_engine.documents "
                     "WHERE organization_id = %(o)s), (SELECT count(*) FROM "
                     "ai_engine.chunks WHERE organization_id = %(o)s), (SELECT count(*) "
                     "FROM ai_engine.access_control WHERE organization_id = %(o)s)",
                     {"o": org})
        return found[0][0], found[0][1], found[0][2]

    documents, chunks, access = counts(team.org)
    assert documents >= 4 and chunks >= 4 and access == 1
    survivor_counts = counts(survivor.org)

    deleted = ok(world.client.delete(f"/v1/organizations/{team.org}",
                                     headers=team.ann.headers))
    projected(world, deleted["position"])
    assert counts(team.org) == (0, 0, 0)
    assert counts(survivor.org) == survivor_counts
    assert kept["id"] in search_ids(world, survivor.org, survivor.ann, marker)


# --- a rebuild from the log ---------------------------------------------------------------

DOCUMENT_COLUMNS = ("source_id", "content_type", "organization_id", "project_id",
                    "channel_id", "client_id", "author_id", "title", "content", "link",
                    "content_hash", "searchable", "last_synced_at", "topic", "version")
# queued_at is left out: it is the time of the event that queued the chunk, and a rebuild
# applies a record's events in one batch (the chunk is queued by the last of them).
CHUNK_COLUMNS = ("source_id", "chunk_index", "content_type", "organization_id", "project_id",
                 "channel_id", "author_id", "title", "chunk_text", "text_hash")


def documents_in(world: World, storage: str, where: str = "TRUE") -> list[dict[str, Any]]:
    found = rows(world, f'SELECT {", ".join(DOCUMENT_COLUMNS)} FROM "{storage}".documents '
                 f"WHERE {where} ORDER BY source_id")
    return [dict(zip(DOCUMENT_COLUMNS, r, strict=True)) for r in found]


def chunks_in(world: World, storage: str) -> list[dict[str, Any]]:
    found = rows(world, f'SELECT {", ".join(CHUNK_COLUMNS)} FROM "{storage}".chunks '
                 "ORDER BY source_id, chunk_index")
    return [dict(zip(CHUNK_COLUMNS, r, strict=True)) for r in found]


def vectors_in(world: World, storage: str) -> dict[tuple[Any, int], str | None]:
    return {(r[0], r[1]): r[2] for r in rows(
        world, f'SELECT source_id, chunk_index, embedding::text FROM "{storage}".chunks')}


def differences(live: list[dict[str, Any]], rebuilt: list[dict[str, Any]],
                ) -> list[tuple[Any, dict[str, tuple[Any, Any]]]]:
    """Per row (by source id and position): the columns whose live and rebuilt values
    differ, as (live, rebuilt)."""
    found = []
    for was, now in zip(live, rebuilt, strict=False):
        changed = {k: (was[k], now[k]) for k in was if was[k] != now[k]}
        if changed:
            found.append((was["source_id"], changed))
    if len(live) != len(rebuilt):
        found.append(("row count", {"rows": (len(live), len(rebuilt))}))
    return found


def search_generations(world: World) -> list[Any]:
    with world.runtime.pool.connection() as conn:
        return read_generations(conn, ["search"]) or []


def until(condition: Any, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached in {timeout} s")
        time.sleep(0.05)


def busy_history(world: World, team: Team) -> int:
    """Records of every indexed kind, edited, ticked, deleted and archived: the log
    position of the last change."""
    client, ann = world.client, team.ann
    long = paragraphs("history", 5)
    task = create_task(client, team, title="History task", description="\n".join(long))
    ok(client.patch(team.task_url(task["id"]), json={"description": "\n".join(long[:2])},
                    headers=ann.headers))
    item = ok(client.post(team.task_url(task["id"], "/checklist"), json={"text": "Check"},
                          headers=ann.headers), 201)
    ok(client.patch(team.task_url(task["id"], f"/checklist/{item['item_id']}"),
                    json={"done": True}, headers=ann.headers))
    ok(client.post(team.task_url(task["id"], "/status"), json={"status": "IN_PROGRESS"},
                   headers=ann.headers))
    channel = new_channel(client, ann, team.org, kind="team", name="general")
    first = post_message(client, ann, team.org, channel["id"], "First version of a message")
    ok(client.patch(f"/v1/organizations/{team.org}/messages/{first['id']}",
                    json={"content": "Second version of a message"}, headers=ann.headers))
    gone = post_message(client, ann, team.org, channel["id"], "A message deleted later")
    ok(client.delete(f"/v1/organizations/{team.org}/messages/{gone['id']}",
                     headers=ann.headers))
    customer = add_client(client, ann, team.org)
    ok(client.post(f"/v1/organizations/{team.org}/clients/{customer['id']}/archive",
                   headers=ann.headers))
    other = add_client(client, ann, team.org)
    return int(ok(client.patch(f"/v1/organizations/{team.org}/clients/{other['id']}",
                               json={"name": f"Renamed {uuid.uuid4().hex[:6]}"},
                               headers=ann.headers))["position"])


def archived_project(world: World, team: Team) -> tuple[list[str], int]:
    """A project with a task, then archived: their ids and the log position of the
    archive."""
    client, ann = world.client, team.ann
    project = ok(client.post(f"/v1/organizations/{team.org}/projects",
                             json={"name": f"Archived {uuid.uuid4().hex[:6]}"},
                             headers=ann.headers), 201)
    task = ok(client.post(f"/v1/organizations/{team.org}/projects/{project['id']}/tasks",
                          json={"title": "Task of an archived project",
                                "description": "Its words."}, headers=ann.headers), 201)
    # The live index applies the task before the archive (a rebuild, in one batch).
    projected(world, task["position"])
    return [project["id"], task["id"]], int(ok(client.post(
        f"/v1/organizations/{team.org}/projects/{project['id']}/archive",
        headers=ann.headers))["position"])


@contextmanager
def rebuilding(world: World) -> Iterator[tuple[Any, Any]]:
    """A rebuild of the search index requested and fed from the log up to its head (by
    the runner): the active and the building generation. Completed after the block."""
    (active,) = [g for g in search_generations(world) if g.state == "active"]
    building = request_rebuild(world.runtime.pool, world.index)
    assert building.building and building.digest == active.digest
    until(lambda: any(g.generation == building.generation and g.position >= head(world)
                      for g in search_generations(world)), what="the rebuild")
    try:
        yield active, building
    finally:
        drain(worker_with(world, offline_embedder()))
        until(lambda: any(g.generation == building.generation and g.state == "active"
                          for g in search_generations(world)), what="the swap")


def test_a_rebuild_from_the_log_equals_the_live_index_and_calls_the_provider_for_nothing(
        world: World, counted: CountingEmbedder) -> None:
    position = busy_history(world, new_team(world.client))
    projected(world, position)
    drain(worker_with(world, counted))
    assert counted.texts  # the live index was embedded by this provider
    counted.reset()

    with rebuilding(world) as (active, building):
        searchable = "searchable"
        live = (documents_in(world, active.storage, searchable),
                chunks_in(world, active.storage))
        live_vectors = vectors_in(world, active.storage)
        assert live[1] and None not in live_vectors.values()
        rebuilt = (documents_in(world, building.storage, searchable),
                   chunks_in(world, building.storage))
        # The same searchable documents and the same chunks (text_hash per chunk).
        assert differences(live[0], rebuilt[0]) == []
        assert differences(live[1], rebuilt[1]) == []
        assert {r["source_id"] for r in documents_in(world, active.storage)} == \
            {r["source_id"] for r in documents_in(world, building.storage)}
        # While its chunks wait for their vectors, it is not swapped in.
        time.sleep(1.5)  # more than a runner's idle pass
        states = {g.generation: g.state for g in search_generations(world)}
        assert states[building.generation] == "building"
        assert states[active.generation] == "active"

        outcome = drain(worker_with(world, counted))
        assert counted.texts == [] and counted.calls == 0  # every vector from the cache
        assert outcome.from_cache == outcome.stored == len(rebuilt[1])
    assert vectors_in(world, building.storage) == live_vectors
    until(lambda: all(g.generation != active.generation for g in search_generations(world)),
          what="the old generation dropped")


def test_a_rebuild_stores_an_archived_projects_records_as_the_live_index_does(
        world: World, counted: CountingEmbedder) -> None:
    team = new_team(world.client)
    records, position = archived_project(world, team)
    projected(world, position)
    drain(worker_with(world, counted))
    with rebuilding(world) as (active, building):
        where = f"organization_id = '{team.org}'"
        live = documents_in(world, active.storage, where)
        rebuilt = documents_in(world, building.storage, where)
        assert [r["searchable"] for r in live if str(r["source_id"]) in records] == \
            [False, False]
        assert differences(live, rebuilt) == []
