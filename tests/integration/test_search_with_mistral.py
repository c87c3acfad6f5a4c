"""Search and the assistant with Mistral configured, against the local stand-in of
Mistral's HTTP API (tests/stand_ins/mistral_api.py) through the real ``mistralai``
client: records are embedded in requests within Mistral's limits (1024-dimensional
vectors), search is hybrid, a rate limit or a server error is retried later with nothing
lost, an outage stops nothing but the embeddings (search falls back to full text), the
assistant writes answers citing its sources and records their tokens, and falls back to
quoting passages when the chat fails. Last, switching the configured model builds a new
index beside the old one and swaps it in only once every chunk has a vector of the new
model.

The environment names Mistral (``MISTRAL_API_KEY``, ``MISTRAL_SERVER_URL``) before the
runtime opens: its search index is then Mistral's. It runs on databases of its own, never
the session's (whose index is the offline model's)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.test_tasks_api import Team, create_task, new_team
from tests.helpers import fresh
from tests.integration.test_search_index import (
    World,
    chunks_of,
    deployed_at,
    drain,
    ok,
    own_database,
    paragraphs,
    pending,
    projected,
    rows,
    running_world,
    search_generations,
    until,
    word,
)
from tests.stand_ins.mistral_api import MistralStandIn
from vistone.ai.embedders import WordLlamaEmbedder, configured_embedder
from vistone.ai.mistral import (
    DEFAULT_CHAT_MODEL,
    EMBED_DIMENSION,
    MAX_INPUTS_PER_REQUEST,
    MistralEmbedder,
)
from vistone.config import Settings
from vistone.runtime import Runtime
from workers.embedding import EmbeddingWorker, health

EMBEDDINGS = "/v1/embeddings"
CHAT = "/v1/chat/completions"


@pytest.fixture(scope="module")
def api() -> Iterator[MistralStandIn]:
    with MistralStandIn() as stand_in:
        yield stand_in


@pytest.fixture(scope="module")
def keyed(runtime: Runtime, api: MistralStandIn) -> Iterator[None]:
    """The process configured for Mistral (the stand-in) while this module runs."""
    if runtime.embedding is not None:
        # The session's worker loads its model before the environment names Mistral (in
        # a full run it did long ago): its index is not Mistral's.
        assert runtime.embedding.embedder.name == runtime.embedding.model.embedding.name
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MISTRAL_API_KEY", api.key)
        env.setenv("MISTRAL_SERVER_URL", api.url)
        env.setenv("MISTRAL_TIMEOUT_SECONDS", "5")
        env.delenv("VISTONE_EMBEDDING_MODEL", raising=False)
        yield


@pytest.fixture(scope="module")
def world(runtime: Runtime, settings: Settings, keyed: None) -> Iterator[World]:
    with running_world(runtime, settings) as world:
        assert world.index.embedding.name == MistralEmbedder.name
        yield world


@pytest.fixture
def stand_in(api: MistralStandIn, world: World) -> MistralStandIn:
    """The stand-in without faults, requests logged from here on, after what earlier
    tests left pending was embedded."""
    api.reset()
    drain(mistral_worker(world))
    api.reset()
    return api


def mistral_worker(world: World, batch_size: int | None = None) -> EmbeddingWorker:
    """A worker with the embedder the configuration names (the server's own)."""
    return EmbeddingWorker(world.runtime.pool, world.index, configured_embedder,
                           batch_size=batch_size)


def search(world: World, team: Team, q: str, position: int | None = None,
           ) -> dict[str, Any]:
    r = world.client.get(f"/v1/organizations/{team.org}/search", params={"q": q},
                         headers={**team.ann.headers, **fresh(position)})
    assert r.status_code == 200, r.text
    return dict(r.json())


def embedding_inputs(api: MistralStandIn) -> list[list[str]]:
    return [list(r.body["input"]) for r in api.requests_to(EMBEDDINGS)
            if isinstance(r.body, dict)]


def dimensions(world: World, storage: str = "ai_engine") -> set[int | None]:
    return {r[0] for r in rows(
        world, f'SELECT DISTINCT vector_dims(embedding) FROM "{storage}".chunks')}


def embed_when_due(worker: EmbeddingWorker, world: World, timeout: float = 20.0) -> None:
    """Run the worker until nothing is pending, waiting out the delays of failures."""
    deadline = time.monotonic() + timeout
    while pending(world):
        assert time.monotonic() < deadline, "chunks still pending"
        if not worker.run_once().claimed:
            time.sleep(0.2)


def test_records_are_embedded_through_mistral_in_requests_within_its_limits(
        world: World, stand_in: MistralStandIn) -> None:
    team = new_team(world.client)
    marker = word()
    # Enough long descriptions for more chunks than one request may carry.
    tasks = [create_task(world.client, team, title=f"{marker} phase {n}",
                         description="\n".join(paragraphs(f"phase{n}", 17)))
             for n in range(12)]
    projected(world, tasks[-1]["position"])
    queued = pending(world)
    assert queued > MAX_INPUTS_PER_REQUEST

    worker = mistral_worker(world)
    assert isinstance(worker.embedder, MistralEmbedder)
    drain(worker)
    assert pending(world) == 0
    assert dimensions(world) == {EMBED_DIMENSION}
    requests = embedding_inputs(stand_in)
    assert len(requests) >= 2
    assert all(0 < len(inputs) <= MAX_INPUTS_PER_REQUEST for inputs in requests)
    assert sum(len(inputs) for inputs in requests) == queued  # each chunk once
    with world.runtime.pool.connection() as conn:
        state = health(conn, MistralEmbedder.name)
    assert state is not None and state["last_error"] is None

    stand_in.reset()
    found = search(world, team, f"{marker} phase 3 rollout")
    assert found["mode"] == "hybrid"
    assert found["items"][0]["source"]["id"] == tasks[3]["id"]
    assert "vector" in found["items"][0]["matched_by"]
    # The query was embedded by Mistral too.
    assert embedding_inputs(stand_in) == [[f"{marker} phase 3 rollout"]]


def test_a_rate_limit_then_a_server_error_are_retried_later_and_nothing_is_lost(
        world: World, stand_in: MistralStandIn) -> None:
    team = new_team(world.client)
    marker = word()
    task = create_task(world.client, team, title=f"Renew the {marker} domain",
                       description="Before it expires in March.")
    projected(world, task["position"])
    queued = pending(world)
    stand_in.fail_next(429, retry_after=3, path=EMBEDDINGS)
    stand_in.fail_next(500, path=EMBEDDINGS)
    worker = mistral_worker(world)

    assert worker.run_once().failed == queued
    claimed_until = chunks_of(world, task["id"])[0]["claimed_until"]
    wait = (claimed_until - rows(world, "SELECT now()")[0][0]).total_seconds()
    assert 2.5 < wait <= 3.1  # Mistral's Retry-After, more than the first backoff
    with world.runtime.pool.connection() as conn:
        state = health(conn, MistralEmbedder.name)
    assert state is not None and "429" in (state["last_error"] or "")
    assert worker.run_once().claimed == 0  # nobody asks again before then

    embed_when_due(worker, world)  # the 500 comes next, then a success
    assert [c["embedding"] is not None for c in chunks_of(world, task["id"])] == [True]
    attempts = [inputs for inputs in embedding_inputs(stand_in)
                if any(marker in text for text in inputs)]
    assert len(attempts) == 3  # 429, 500, 200: no hidden retry underneath
    with world.runtime.pool.connection() as conn:
        state = health(conn, MistralEmbedder.name)
    assert state is not None and state["last_error"] is None
    assert search(world, team, marker)["items"][0]["source"]["id"] == task["id"]


def test_with_mistral_down_the_log_projections_and_full_text_search_go_on(
        world: World, stand_in: MistralStandIn) -> None:
    stand_in.fail_next(503, times=1000, path=EMBEDDINGS)
    team = new_team(world.client)
    marker = word()
    task = create_task(world.client, team, title=f"The {marker} audit",
                       description="Collect the receipts of the year.")
    edit = ok(world.client.patch(team.task_url(task["id"]),
                                 json={"description": "Collect every receipt."},
                                 headers=team.ann.headers))
    projected(world, edit["position"], ["search", "tasks"])
    worker = mistral_worker(world)
    assert worker.run_once().failed > 0
    assert pending(world) > 0

    found = search(world, team, marker)
    assert found["mode"] == "text"  # the query could not be embedded
    assert [i["source"]["id"] for i in found["items"]] == [task["id"]]
    assert found["items"][0]["matched_by"] == ["text"]
    r = world.client.get(team.task_url(task["id"]), headers=team.ann.headers)
    assert r.status_code == 200 and r.json()["description"] == "Collect every receipt."

    stand_in.reset()  # Mistral is back
    embed_when_due(worker, world)
    found = search(world, team, marker)
    assert found["mode"] == "hybrid"
    assert found["items"][0]["source"]["id"] == task["id"]
    assert "vector" in found["items"][0]["matched_by"]


def test_vectors_that_are_not_finite_are_refused(world: World,
                                                  stand_in: MistralStandIn) -> None:
    """Mistral's answer parsed by the client holds NaN and infinities (JSON allows them
    to slip through): nothing is stored or cached, and the batch fails as a provider
    failure would (recorded, retried later), not as a database error out of the
    worker."""
    team = new_team(world.client)
    task = create_task(world.client, team, title=f"The {word()} budget")
    projected(world, task["position"])
    hashes = [c["hash"] for c in chunks_of(world, task["id"])]
    stand_in.embedding_scale = float("inf")
    try:
        worker = mistral_worker(world)
        try:
            outcome: Any = worker.run_once()
        except Exception as error:  # noqa: BLE001 - asserted below
            outcome = error
        assert [c["embedding"] for c in chunks_of(world, task["id"])] == [None] * len(hashes)
        assert rows(world, "SELECT count(*) FROM ai_engine.embedding_cache "
                    "WHERE text_hash = ANY(%s)", (hashes,)) == [(0,)]
        assert not isinstance(outcome, Exception), f"run_once raised {outcome!r}"
        assert outcome.failed == outcome.claimed > 0 and outcome.stored == 0
        with world.runtime.pool.connection() as conn:
            state = health(conn, MistralEmbedder.name)
        assert state is not None and "finite" in (state["last_error"] or "")
    finally:
        stand_in.embedding_scale = 1.0
        with world.runtime.pool.connection() as conn:  # no claim left for the next tests
            conn.execute("UPDATE ai_engine.chunks SET claimed_until = NULL "
                         "WHERE embedding IS NULL")


def ask(world: World, team: Team, question: str) -> tuple[str, dict[str, Any]]:
    conversation = ok(world.client.post(
        f"/v1/organizations/{team.org}/assistant/conversations", json={},
        headers=team.ann.headers), 201)
    answer = ok(world.client.post(
        f"/v1/organizations/{team.org}/assistant/conversations/{conversation['id']}"
        "/questions", json={"question": question}, headers=team.ann.headers), 201)
    return conversation["id"], answer


def test_the_assistant_answers_with_mistral_citing_its_sources_by_id(
        world: World, stand_in: MistralStandIn) -> None:
    team = new_team(world.client)
    marker = word()
    tasks = [create_task(world.client, team, title=f"{marker} {topic}",
                         description=f"The {marker} {topic} is due next week.")
             for topic in ("invoice", "contract", "brochure")]
    projected(world, tasks[-1]["position"])
    drain(mistral_worker(world))
    stand_in.reset()

    conversation, answer = ask(world, team, f"What is due about the {marker} invoice?")
    assert answer["mode"] == "generated"
    assert answer["model"] == DEFAULT_CHAT_MODEL and answer["notice"] is None
    cited = [c["source_id"] for c in answer["citations"] if c["cited"]]
    given = {c["source_id"] for c in answer["citations"]}
    assert cited and set(cited) <= given <= {t["id"] for t in tasks} | {team.project}
    for source in cited:
        assert f"[{source}]" in answer["answer"]
    # The model was given those sources by id, and the question.
    (chat,) = stand_in.requests_to(CHAT)
    prompt = "\n".join(str(m["content"]) for m in chat.body["messages"])
    assert all(f"[{source}]" in prompt for source in given)
    assert f"What is due about the {marker} invoice?" in prompt
    tokens = answer["tokens"]
    assert tokens["prompt"] > 0 and tokens["completion"] > 0

    # Recorded in the conversation, tokens included.
    path = f"/v1/organizations/{team.org}/assistant/conversations/{conversation}"
    headers = {**team.ann.headers, **fresh(answer["position"])}
    recorded = ok(world.client.get(path, headers=headers))
    assert recorded["tokens_used"] == tokens["prompt"] + tokens["completion"]
    assert recorded["turns"] == 2
    turns = ok(world.client.get(path + "/turns", headers=headers))["items"]
    assert [t["role"] for t in turns] == ["user", "assistant"]
    assert turns[1]["content"] == answer["answer"]
    assert turns[1]["metadata"]["mode"] == "generated"
    assert turns[1]["metadata"]["tokens"] == tokens


def test_a_chat_failure_gives_an_extracted_answer_with_a_notice(
        world: World, stand_in: MistralStandIn) -> None:
    team = new_team(world.client)
    marker = word()
    task = create_task(world.client, team, title=f"{marker} onboarding",
                       description=f"The {marker} onboarding needs a checklist.")
    projected(world, task["position"])
    drain(mistral_worker(world))
    stand_in.fail_next(500, path=CHAT)

    _, answer = ask(world, team, f"What does the {marker} onboarding need?")
    assert answer["mode"] == "extracted"
    assert answer["notice"] and "could not answer" in answer["notice"]
    assert answer["tokens"] == {"prompt": 0, "completion": 0}
    assert task["id"] in {c["source_id"] for c in answer["citations"]}
    assert all(c["cited"] for c in answer["citations"])
    assert f"[{task['id']}]" in answer["answer"]
    assert len(stand_in.requests_to(CHAT)) == 1  # asked once, no hidden retry


def test_switching_the_model_builds_a_new_index_swapped_in_only_when_complete(
        runtime: Runtime, settings: Settings, keyed: None, api: MistralStandIn,
        monkeypatch: pytest.MonkeyPatch) -> None:
    with own_database(runtime) as url:
        # A first deployment with Mistral: records embedded with its 1024-d vectors.
        with deployed_at(url, settings) as first:
            assert first.index.embedding.name == MistralEmbedder.name
            team = new_team(first.client)
            marker = word()
            topics = ("invoice", "brochure", "contract", "website")
            tasks = [create_task(first.client, team, title=f"{marker} {topic} milestone",
                                 description="\n".join(paragraphs(topic, 3)))
                     for topic in topics]
            projected(first, tasks[-1]["position"])
            drain(mistral_worker(first))
            (old,) = search_generations(first)
            assert dimensions(first) == {EMBED_DIMENSION}
            chunk_count = pending_and_total(first)[1]

        # The next deployment configures the offline model.
        monkeypatch.delenv("MISTRAL_API_KEY")
        with deployed_at(url, settings) as second:
            assert second.index.embedding.name == WordLlamaEmbedder.name
            assert second.index.digest != old.digest
            building = until_building(second)
            active = next(g for g in search_generations(second) if g.state == "active")
            assert active.generation == old.generation
            # The old index answers meanwhile, by full text (its model is not the
            # configured one, so no query vector), never mixed with the new one.
            with second.runtime.pool.connection() as conn:
                assert second.runtime.query_vector(conn, "milestone") is None
            found = search(second, team, marker)
            assert found["mode"] == "text" and len(found["items"]) == len(tasks)
            assert dimensions(second) == {EMBED_DIMENSION}

            worker = EmbeddingWorker(second.runtime.pool, second.index, configured_embedder,
                                     batch_size=3)
            assert worker.run_once().stored == 3  # part of the new index embedded
            assert pending_and_total(second, building.storage) == (chunk_count - 3,
                                                                   chunk_count)
            time.sleep(1.5)  # the runner passes by: an incomplete index stays aside
            states = {g.generation: g.state for g in search_generations(second)}
            assert states == {old.generation: "active", building.generation: "building"}
            assert dimensions(second) == {EMBED_DIMENSION}

            drain(worker)
            until(lambda: [(g.generation, g.state) for g in search_generations(second)]
                  == [(building.generation, "active")], what="the swap")
            # After the swap: every vector is the new model's, none missing.
            assert dimensions(second) == {WordLlamaEmbedder.dimension}
            assert pending_and_total(second) == (0, chunk_count)
            found = search(second, team, f"{marker} brochure")
            assert found["mode"] == "hybrid"
            assert found["items"][0]["source"]["id"] == tasks[1]["id"]
            assert "vector" in found["items"][0]["matched_by"]


def pending_and_total(world: World, storage: str = "ai_engine") -> tuple[int, int]:
    found = rows(world, f'SELECT count(*) FILTER (WHERE embedding IS NULL), count(*) '
                 f'FROM "{storage}".chunks')
    return int(found[0][0]), int(found[0][1])


def until_building(world: World) -> Any:
    """The building generation of the search index, once it has reached the log's head."""
    found: list[Any] = []

    def built() -> bool:
        top = world.runtime.app.recorder.max_notification_id() or 0
        found[:] = [g for g in search_generations(world) if g.building and g.position >= top]
        return bool(found)

    until(built, what="the new index built from the log")
    return found[0]
