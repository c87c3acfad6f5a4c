"""The embedding worker: takes the search index's queue of chunks waiting for a vector
(projections/search_index.py), embeds them in batches and stores the vectors.

- It runs beside the projections in the server by default, or as its own process
  (``vistone embed``); any number may run at once: a batch is claimed for a while
  (``claim_pending``), so two workers never embed the same chunk, and a worker killed
  mid-batch leaves its claim to expire.
- Nothing waits for it: the log, the read models and full-text search go on while a
  provider is slow or down. A failure gives the batch back with a delay (exponential
  backoff, or the provider's ``Retry-After``) and is recorded for ``vistone status``
  and ``/metrics``.
- Vectors are cached by (model, text hash) in ``ai_engine.embedding_cache``: a rebuilt
  index, a chunk that moved, a text edited back — each is served from the cache, not
  the provider. The cache is not a read model: dropping it only costs embedding again.
- It embeds only the generations built for the configured model; a new model's index
  is filled while the old one serves, and is swapped in once complete.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from projections.search_index import (
    PendingChunk,
    SearchIndexReadModel,
    claim_pending,
    release_claims,
    store_embeddings,
    vector_literal,
)
from vistone.ai.embedders import Embedder, ProviderError

log = logging.getLogger(__name__)

SETUP = (
    "CREATE SCHEMA IF NOT EXISTS ai_engine",
    """CREATE TABLE IF NOT EXISTS ai_engine.embedding_cache (
        model text NOT NULL,
        text_hash text NOT NULL,
        embedding vector NOT NULL,
        PRIMARY KEY (model, text_hash))""",
    # One row per model: the last failure and the last success, for status and metrics.
    """CREATE TABLE IF NOT EXISTS ai_engine.embedding_health (
        model text PRIMARY KEY,
        last_error text,
        failed_at timestamptz,
        succeeded_at timestamptz,
        embedded bigint NOT NULL DEFAULT 0)""",
)

MAX_BACKOFF_SECONDS = 300.0
# How long an idle worker waits before looking at the queue again: most of the embedding
# lag (docs/benchmarks.md). A look is one probe of a partial index: ten a second cost
# nothing measurable.
IDLE_SECONDS = 0.1


def prepare(pool: ConnectionPool) -> None:
    with pool.connection() as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('vistone.embedding_setup'))")
        for statement in SETUP:
            conn.execute(statement)


@dataclass
class Outcome:
    claimed: int = 0
    stored: int = 0
    from_cache: int = 0
    failed: int = 0


class EmbeddingWorker:
    """Embeds pending chunks of the search index's generations for ``model``."""

    def __init__(self, pool: ConnectionPool, model: SearchIndexReadModel,
                 embedder: Callable[[], Embedder], *, batch_size: int | None = None) -> None:
        self.pool = pool
        self.model = model
        self._embedder_factory = embedder
        self._embedder: Embedder | None = None
        self.batch_size = batch_size
        self._failures = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:  # loaded on first use: the server starts at once
            self._embedder = self._embedder_factory()
        return self._embedder

    # --- one batch ----------------------------------------------------------
    def run_once(self) -> Outcome:
        """Embed one batch from the first generation with pending chunks (the active
        one first, so live search stays fresh while a new index is built)."""
        for storage in self._storages():
            try:
                outcome = self._batch(storage)
            except psycopg.errors.UndefinedTable:
                continue  # a generation swapped out and dropped meanwhile
            if outcome.claimed:
                return outcome
        return Outcome()

    def _storages(self) -> list[str]:
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT storage FROM public.read_model_versions WHERE name = %s "
                "AND digest = %s AND state IN ('active', 'building') "
                "ORDER BY state = 'active' DESC, generation",
                (self.model.name, self.model.digest)).fetchall()
        return [r[0] for r in rows]

    def _batch(self, storage: str) -> Outcome:
        limit = self.batch_size or self._batch_size_hint()
        with self.pool.connection() as conn:
            chunks = claim_pending(conn, storage, limit)
        if not chunks:
            return Outcome()
        outcome = Outcome(claimed=len(chunks))
        name = self.model.embedding.name
        with self.pool.connection() as conn:
            cached: dict[str, str] = dict(conn.execute(
                "SELECT text_hash, embedding::text FROM ai_engine.embedding_cache "
                "WHERE model = %s AND text_hash = ANY(%s)",
                (name, list({c.text_hash for c in chunks}))).fetchall())
        hits = [c for c in chunks if c.text_hash in cached]
        misses = [c for c in chunks if c.text_hash not in cached]
        if hits:
            with self.pool.connection() as conn:
                outcome.from_cache = store_embeddings(
                    conn, storage, hits, [cached[c.text_hash] for c in hits])
        if misses:
            try:
                vectors = self._embed(misses)
            except ProviderError as error:
                self._failed(storage, misses, error)
                outcome.failed = len(misses)
                return outcome
            literals = [vector_literal(v) for v in vectors]  # once: formatting costs
            with self.pool.connection() as conn, conn.transaction():
                conn.execute(
                    "INSERT INTO ai_engine.embedding_cache (model, text_hash, embedding) "
                    "SELECT %s, h, e::vector FROM unnest(%s::text[], %s::text[]) AS v(h, e) "
                    "ON CONFLICT DO NOTHING",
                    (name, [c.text_hash for c in misses], literals))
                outcome.stored = store_embeddings(conn, storage, misses, literals)
            self._succeeded(len(misses))
        outcome.stored += outcome.from_cache
        return outcome

    def _batch_size_hint(self) -> int:
        try:
            return self.embedder.batch_size
        except Exception:  # the model cannot load: claim little, report it below
            return 1

    def _embed(self, chunks: list[PendingChunk]) -> list[list[float]]:
        try:
            embedder = self.embedder
        except Exception as error:  # a model that cannot load is a provider failure
            raise ProviderError(f"the embedding model could not be loaded: {error}",
                                retryable=True) from error
        texts = [c.embedded_text for c in chunks]
        try:
            vectors = embedder.embed(texts)
        except ProviderError:
            raise
        except Exception as error:  # noqa: BLE001 - an adapter bug must not stop the worker
            raise ProviderError(f"{type(error).__name__}: {error}", retryable=True) from error
        if len(vectors) != len(texts) or any(len(v) != embedder.dimension for v in vectors):
            raise ProviderError("the provider answered vectors of the wrong number or size",
                                retryable=True)
        if not all(math.isfinite(x) for v in vectors for x in v):
            # pgvector refuses NaN and infinity: the batch would fail to store forever.
            raise ProviderError("the provider answered a vector that is not finite",
                                retryable=False)
        return vectors

    def _failed(self, storage: str, chunks: list[PendingChunk], error: ProviderError) -> None:
        self._failures += 1
        backoff = min(MAX_BACKOFF_SECONDS, 2.0 ** min(self._failures, 10))
        delay = max(error.retry_after or 0.0, backoff if error.retryable else
                    MAX_BACKOFF_SECONDS)
        log.warning("embedding %d chunks failed (%s); retrying in %.0f s", len(chunks),
                    error, delay)
        with self.pool.connection() as conn:
            release_claims(conn, storage, chunks, delay)
            conn.execute(
                "INSERT INTO ai_engine.embedding_health (model, last_error, failed_at) "
                "VALUES (%s, %s, now()) ON CONFLICT (model) DO UPDATE SET "
                "last_error = excluded.last_error, failed_at = excluded.failed_at",
                (self.model.embedding.name, str(error)[:2000]))

    def _succeeded(self, count: int) -> None:
        if self._failures:
            log.info("embedding works again")
        self._failures = 0
        with self.pool.connection() as conn:
            conn.execute(
                "INSERT INTO ai_engine.embedding_health (model, succeeded_at, embedded) "
                "VALUES (%s, now(), %s) ON CONFLICT (model) DO UPDATE SET "
                "succeeded_at = excluded.succeeded_at, last_error = NULL, failed_at = NULL, "
                "embedded = embedding_health.embedded + excluded.embedded",
                (self.model.embedding.name, count))

    # --- running ------------------------------------------------------------
    def start(self) -> None:
        prepare(self.pool)
        self._thread = threading.Thread(target=self.run_forever, name="embedding-worker",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run_forever(self) -> None:
        while not self._stop.is_set():
            try:
                outcome = self.run_once()
            except psycopg.Error:
                log.exception("embedding worker: database error; retrying")
                self._stop.wait(1.0)
                continue
            if not outcome.claimed:
                self._stop.wait(IDLE_SECONDS)
            elif outcome.failed and not outcome.stored:
                self._stop.wait(1.0)  # the claims carry the real delay; don't spin


def health(conn: psycopg.Connection[Any], model: str) -> dict[str, Any] | None:
    """The last failure and success of embedding with ``model`` (None before any)."""
    try:
        row = conn.execute(
            "SELECT last_error, failed_at, succeeded_at, embedded "
            "FROM ai_engine.embedding_health WHERE model = %s", (model,)).fetchone()
    except psycopg.errors.UndefinedTable:
        return None
    if row is None:
        return None
    return {"last_error": row[0], "failed_at": row[1], "succeeded_at": row[2],
            "embedded": row[3]}


def wait_until_idle(worker: EmbeddingWorker, timeout: float = 30.0) -> None:
    """Run batches until nothing is pending (tests and the benchmark's warm-up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not worker.run_once().claimed:
            return
    raise TimeoutError("chunks still pending")
