"""Wires one process together: settings, database, the application, a connection pool
for read models and queries, and (optionally) the in-process projection runner.

Schema work at start-up (the event store's tables, the read models' catalogue) is done
only when something is missing, under an advisory lock, so processes starting beside a
busy worker never run DDL against it; ``vistone status`` opens with ``prepare=False``
and only reads."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from analytics.store import AnalyticsStore
from projections.base import ReadModel
from projections.chat_clusters import prepare as prepare_clusters
from projections.registry import all_read_models
from projections.runner import ProjectionRunner
from projections.search_index import SearchIndexReadModel
from projections.versions import reconcile
from vistone.ai.assistant import Chat
from vistone.ai.embedders import Embedder, configured_embedder
from vistone.app import Vistone
from vistone.config import Settings
from vistone.database import Database, open_database
from vistone.departures import Departures
from workers.embedding import EmbeddingWorker
from workers.embedding import prepare as prepare_embedding
from workers.pipeline import KafkaPipeline

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    database: Database
    app: Vistone
    pool: ConnectionPool
    read_models: list[ReadModel] = field(default_factory=all_read_models)
    runner: ProjectionRunner | None = None
    embedding: EmbeddingWorker | None = None
    kafka: KafkaPipeline | None = None
    departures: Departures | None = None
    _query_embedder: Embedder | None = field(default=None, repr=False)
    _chat: Chat | None = field(default=None, repr=False)

    @classmethod
    def open(cls, settings: Settings, *, read_models: list[ReadModel] | None = None,
             prepare: bool = True) -> Runtime:
        """Open the process's resources. With ``prepare`` (every command but ``status``),
        create what is missing: the event store's tables and, on a first install, the
        read models' tables."""
        database = open_database(settings.database_url, settings.data_dir)
        env = database.eventsourcing_env(pool_size=settings.db_pool_size)
        with psycopg.connect(database.url, autocommit=True) as conn:
            missing = _event_store_missing(conn)
            if missing and prepare:
                # Creating the tables takes locks; two processes starting together (or a
                # start beside a busy writer) must not interleave their DDL.
                conn.execute("SELECT pg_advisory_lock(hashtext('vistone.event_store'))")
            if prepare and _vector_missing(conn):
                # The search index's vectors (pgvector; the embedded server ships it).
                conn.execute("SELECT pg_advisory_lock(hashtext('vistone.extensions'))")
                try:
                    conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
                finally:
                    conn.execute("SELECT pg_advisory_unlock(hashtext('vistone.extensions'))")
            env["CREATE_TABLE"] = "y" if missing and prepare else "n"
            try:
                app = Vistone(env=env)
            finally:
                if missing and prepare:
                    conn.execute("SELECT pg_advisory_unlock(hashtext('vistone.event_store'))")
        # Autocommit: a query is one round trip (no BEGIN/COMMIT around it); the
        # projection runner opens explicit transactions where it needs them.
        pool = ConnectionPool(database.url, min_size=2, max_size=settings.db_pool_size * 2,
                              kwargs={"autocommit": True}, open=True, name="vistone-read")
        runtime = cls(settings, database, app, pool,
                      read_models if read_models is not None else all_read_models())
        if prepare:
            reconcile(pool, runtime.read_models, build=False)
            with pool.connection() as conn:  # read by the API before any consumer ran
                AnalyticsStore().setup(conn)
            if runtime.search_index() is not None:
                prepare_embedding(pool)  # its cache and health tables, and the
                with pool.connection() as conn:  # cache of chat clusters
                    prepare_clusters(conn)
        return runtime

    def start_projections(self) -> ProjectionRunner:
        if self.runner is None:
            self.runner = ProjectionRunner(self.app, self.pool, self.read_models, self.database.url)
            self.runner.start()
            if self.settings.run_embedding_in_server:
                self.start_embedding()
            self.start_departures()
        return self.runner

    def search_index(self) -> SearchIndexReadModel | None:
        return next((m for m in self.read_models if isinstance(m, SearchIndexReadModel)),
                    None)

    def query_vector(self, conn: psycopg.Connection[Any], text: str) -> list[float] | None:
        """``text`` embedded by the model of the index queries read, or None when that
        cannot be had now (the provider down, or the index being rebuilt for another
        model): search then ranks by full text alone, and says so. ``conn``: the
        caller's (a request holding one must not wait for a second)."""
        index = self.search_index()
        if index is None:
            return None
        active = conn.execute(
            "SELECT digest FROM public.read_model_versions "
            "WHERE name = %s AND state = 'active'", (index.name,)).fetchone()
        if active is None or active[0] != index.digest:
            return None
        try:
            if self._query_embedder is None:
                self._query_embedder = configured_embedder()
            return self._query_embedder.embed([text])[0]
        except Exception:  # noqa: BLE001 - a model that fails must not fail the search
            log.warning("query embedding failed; searching by full text only", exc_info=True)
            return None

    def chat(self) -> Chat | None:
        """The chat model the assistant writes with: Mistral when keyed, else None (the
        assistant then answers with extracted passages)."""
        from vistone.ai.mistral import MistralChat, mistral_settings_from_env

        settings = mistral_settings_from_env()
        if settings is None:
            return None
        if self._chat is None:
            self._chat = MistralChat(settings)
        return self._chat

    def chat_model(self) -> str:
        from vistone.ai.mistral import mistral_settings_from_env

        settings = mistral_settings_from_env()
        return settings.chat_model if settings else "none"

    def start_embedding(self) -> EmbeddingWorker | None:
        """The embedding worker in this process, if this process runs the search index."""
        index = self.search_index()
        if self.embedding is None and index is not None:
            self.embedding = EmbeddingWorker(self.pool, index, configured_embedder)
            self.embedding.start()
        return self.embedding

    def start_departures(self) -> Departures:
        """Completing departures in this process (beside the read models it asks)."""
        if self.departures is None:
            self.departures = Departures(self.app, self.pool).start()
        return self.departures

    def start_kafka(self) -> KafkaPipeline:
        """The relay and an analytics consumer in this process (with the embedded broker
        unless KAFKA_BOOTSTRAP_SERVERS names a cluster)."""
        if self.kafka is None:
            self.kafka = KafkaPipeline(self.app, self.pool,
                                       self.settings.kafka_bootstrap).start()
        return self.kafka

    def close(self) -> None:
        if self.departures is not None:
            self.departures.stop()
            self.departures = None
        if self.kafka is not None:
            self.kafka.stop()
            self.kafka = None
        if self.embedding is not None:
            self.embedding.stop()
            self.embedding = None
        if self.runner is not None:
            self.runner.stop()
            self.runner = None
        self.pool.close()
        self.app.close()


def _vector_missing(conn: psycopg.Connection[Any]) -> bool:
    return conn.execute("SELECT NOT EXISTS (SELECT 1 FROM pg_extension "
                        "WHERE extname = 'vector')").fetchone() == (True,)


def _event_store_missing(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute(
        "SELECT to_regclass('public.vistone_events') IS NULL "
        "OR to_regclass('public.command_idempotency') IS NULL"
    ).fetchone()
    return bool(row and row[0])
