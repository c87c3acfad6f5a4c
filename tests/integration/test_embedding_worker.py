"""The embedding worker on a real PostgreSQL with pgvector: several workers on one queue
embed each chunk once; a worker killed mid-batch leaves its chunks to the others when
its claim expires; a failing provider delays the retries (its Retry-After, or a backoff)
and is recorded, while the log, the projections and full-text search go on; a provider
that answers vectors that are not finite is refused.

Each worker is the real ``EmbeddingWorker`` around the offline model (wordllama), counted
or made to fail by a wrapper, on a database of its own where nothing else embeds."""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest

from projections import search_index
from tests.e2e.test_tasks_api import create_task, new_team
from tests.helpers import new_channel, post_message
from tests.integration.test_search_index import (
    CountingEmbedder,
    World,
    drain,
    pending,
    projected,
    rows,
    running_world,
    word,
    worker_with,
)
from vistone.ai.chunking import text_hash
from vistone.ai.embedders import ProviderError, WordLlamaEmbedder, offline_embedder
from vistone.config import Settings
from vistone.runtime import Runtime
from workers.embedding import EmbeddingWorker, health


@pytest.fixture(scope="module")
def world(runtime: Runtime, settings: Settings) -> Iterator[World]:
    with running_world(runtime, settings) as world:
        yield world


@pytest.fixture
def drained(world: World) -> World:
    """The world with nothing pending (earlier tests' leftovers embedded)."""
    drain(worker_with(world, offline_embedder()), timeout=120)
    return world


def messages(world: World, count: int, marker: str) -> tuple[list[str], int]:
    """``count`` messages with texts of their own in a new organization's team channel:
    their ids and the log position of the last."""
    team = new_team(world.client)
    channel = new_channel(world.client, team.ann, team.org, kind="team", name="general")
    posted = [post_message(world.client, team.ann, team.org, channel["id"],
                           f"Note {n} on {marker}: item {n * 7919} of the inventory")
              for n in range(count)]
    return [m["id"] for m in posted], int(posted[-1]["position"])


def pending_hashes(world: World) -> list[str]:
    return [r[0] for r in rows(world, "SELECT text_hash FROM ai_engine.chunks "
                               "WHERE embedding IS NULL")]


def now(world: World) -> datetime:
    value = rows(world, "SELECT now()")[0][0]
    assert isinstance(value, datetime)
    return value


def claims(world: World, source_ids: Sequence[str]) -> list[datetime | None]:
    return [r[0] for r in rows(world, "SELECT claimed_until FROM ai_engine.chunks "
                               "WHERE source_id = ANY(%s::uuid[])", (list(source_ids),))]


def embed_the_rest(world: World) -> None:
    """Embed what a test left claimed for minutes (by a failure it caused), so that the
    next tests start with an empty queue."""
    with world.runtime.pool.connection() as conn:
        conn.execute("UPDATE ai_engine.chunks SET claimed_until = NULL "
                     "WHERE embedding IS NULL")
    drain(worker_with(world, offline_embedder()))


def test_workers_racing_on_one_queue_embed_each_chunk_exactly_once(drained: World) -> None:
    world = drained
    _, position = messages(world, 60, word())
    projected(world, position)
    queued = pending_hashes(world)
    assert len(queued) >= 60

    # One shared count of what the provider was asked; each worker slow enough that
    # the three overlap, and small batches so that they take turns on the queue.
    counted = CountingEmbedder(delay=0.02)
    workers = [worker_with(world, counted, batch_size=4) for _ in range(3)]
    done: list[int] = [0, 0, 0]
    errors: list[BaseException] = []
    start = threading.Barrier(len(workers))

    def run(index: int) -> None:
        start.wait()
        try:
            while (outcome := workers[index].run_once()).claimed:
                done[index] += outcome.stored
        except BaseException as error:  # noqa: BLE001 - the test reports it
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(workers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert pending(world) == 0
    assert sum(done) == len(queued)
    assert sum(1 for n in done if n) >= 2  # they did race
    # The provider saw each chunk's text once: none embedded twice, none missed.
    assert Counter(text_hash(t) for t in counted.texts) == Counter(queued)
    assert max(Counter(queued).values()) == 1


class Killed(BaseException):
    """The worker's process dies here (not an error it could handle)."""


class DiesMidBatch:
    """An embedder whose process is killed while it works."""

    name = WordLlamaEmbedder.name
    dimension = WordLlamaEmbedder.dimension
    batch_size = WordLlamaEmbedder.batch_size

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        raise Killed()


def test_a_worker_killed_mid_batch_leaves_its_chunks_to_another_after_the_claim(
        drained: World, monkeypatch: pytest.MonkeyPatch) -> None:
    world = drained
    monkeypatch.setattr(search_index, "CLAIM_SECONDS", 2)
    ids, position = messages(world, 5, word())
    projected(world, position)
    queued = pending_hashes(world)
    assert len(queued) >= 5

    with pytest.raises(Killed):
        worker_with(world, DiesMidBatch()).run_once()
    # Its claims hold: another worker finds nothing to take before they expire.
    assert all(c is not None and c > now(world) for c in claims(world, ids))
    counted = CountingEmbedder()
    survivor = worker_with(world, counted)
    assert survivor.run_once().claimed == 0
    assert counted.calls == 0 and pending(world) == len(queued)

    time.sleep(2.2)
    outcome = drain(survivor)
    assert outcome.stored == outcome.claimed == len(queued)
    assert sorted(text_hash(t) for t in counted.texts) == sorted(queued)
    assert pending(world) == 0
    assert claims(world, ids) == [None] * len(claims(world, ids))


class Flaky:
    """The offline model behind a provider that fails while ``failure`` is set."""

    def __init__(self) -> None:
        self.inner = offline_embedder()
        self.name = self.inner.name
        self.dimension = self.inner.dimension
        self.batch_size = self.inner.batch_size
        self.failure: ProviderError | None = None
        self.calls = 0

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls += 1
        if self.failure is not None:
            raise self.failure
        return self.inner.embed(texts)


def test_a_failing_provider_delays_the_retry_and_nothing_else_waits_for_it(
        drained: World) -> None:
    world = drained
    flaky = Flaky()
    flaky.failure = ProviderError("rate limited by the stand-in provider", retryable=True,
                                  status=429, retry_after=3)
    worker = worker_with(world, flaky)
    model = world.index.embedding.name
    ids, position = messages(world, 3, word())
    projected(world, position)
    queued = pending(world)

    outcome = worker.run_once()
    assert outcome.claimed == outcome.failed == queued and outcome.stored == 0
    assert pending(world) == queued
    # The provider's Retry-After (3 s) wins over the first backoff (2 s).
    moment = now(world)
    for claim in claims(world, ids):
        assert claim is not None
        assert timedelta(seconds=2.5) < claim - moment <= timedelta(seconds=3.1)
    with world.runtime.pool.connection() as conn:
        state = health(conn, model)
    assert state is not None and "rate limited" in (state["last_error"] or "")
    assert state["failed_at"] is not None
    # Nobody retries before then, this worker or another.
    calls = flaky.calls
    assert worker.run_once().claimed == 0 and flaky.calls == calls

    # Meanwhile the log takes commands, the projections apply them and full-text search
    # finds what is new.
    marker = word()
    team = new_team(world.client)
    task = create_task(world.client, team, title=f"The {marker} report",
                       description="Due on Friday.")
    projected(world, task["position"], ["search", "tasks"])
    r = world.client.get(f"/v1/organizations/{team.org}/search", params={"q": marker},
                         headers=team.ann.headers)
    assert r.status_code == 200, r.text
    (hit,) = r.json()["items"]
    assert hit["source"]["id"] == task["id"] and hit["matched_by"] == ["text"]

    # The provider fails again, without a hint: the backoff doubles (4 s).
    flaky.failure = ProviderError("the provider answered 500", retryable=True, status=500)
    outcome = worker.run_once()  # the new records' chunks, not the delayed ones
    assert outcome.failed == outcome.claimed > 0
    delayed = claims(world, [task["id"]])
    moment = now(world)
    assert all(c is not None and timedelta(seconds=3.5) < c - moment
               <= timedelta(seconds=4.1) for c in delayed)

    # Recovered: everything is embedded once the delays have passed, the error cleared.
    flaky.failure = None
    deadline = time.monotonic() + 15
    while pending(world) and time.monotonic() < deadline:
        if not worker.run_once().claimed:
            time.sleep(0.2)
    assert pending(world) == 0
    with world.runtime.pool.connection() as conn:
        state = health(conn, model)
    assert state is not None and state["last_error"] is None
    assert state["succeeded_at"] is not None and state["embedded"] >= queued


def test_a_provider_that_cannot_help_waits_the_longest(drained: World) -> None:
    world = drained
    flaky = Flaky()
    flaky.failure = ProviderError("the request is wrong", retryable=False, status=400)
    ids, position = messages(world, 1, word())
    projected(world, position)
    worker = worker_with(world, flaky)
    assert worker.run_once().failed > 0
    moment = now(world)
    for claim in claims(world, ids):
        assert claim is not None and claim - moment > timedelta(seconds=290)
    # Left for a later run (another test's worker would wait 300 s: embed it now).
    embed_the_rest(world)
    assert pending(world) == 0


class NotFinite:
    """A provider answering a vector with NaN and infinities in it."""

    def __init__(self) -> None:
        inner = offline_embedder()
        self.name = inner.name
        self.dimension = inner.dimension
        self.batch_size = inner.batch_size

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        vector = [math.nan, math.inf, -math.inf] + [0.0] * (self.dimension - 3)
        return [list(vector) for _ in texts]


def _not_finite_answer(world: World) -> tuple[EmbeddingWorker, list[str], list[str], Any]:
    ids, position = messages(world, 2, word())
    projected(world, position)
    hashes = pending_hashes(world)
    worker = worker_with(world, NotFinite())
    try:
        outcome: Any = worker.run_once()
    except Exception as error:  # noqa: BLE001 - what the test asserts on
        outcome = error
    return worker, ids, hashes, outcome


def test_a_vector_that_is_not_finite_is_never_stored(drained: World) -> None:
    world = drained
    _, ids, hashes, _ = _not_finite_answer(world)
    try:
        assert pending(world) == len(hashes)  # nothing stored
        cached = rows(world, "SELECT count(*) FROM ai_engine.embedding_cache "
                      "WHERE text_hash = ANY(%s)", (hashes,))
        assert cached == [(0,)]  # nor cached, to be served again later
    finally:
        embed_the_rest(world)


def test_a_vector_that_is_not_finite_is_a_provider_failure_of_the_batch(
        drained: World) -> None:
    """The answer is refused as a provider's failure: the worker goes on (no database
    error out of ``run_once``), the batch is given back with a delay and the failure is
    recorded for status and metrics."""
    world = drained
    worker, ids, hashes, outcome = _not_finite_answer(world)
    try:
        assert not isinstance(outcome, Exception), f"run_once raised {outcome!r}"
        assert outcome.claimed == outcome.failed == len(hashes)
        assert outcome.stored == 0
        with world.runtime.pool.connection() as conn:
            state = health(conn, world.index.embedding.name)
        assert state is not None and "finite" in (state["last_error"] or "")
    finally:
        embed_the_rest(world)
