"""ai_engine.documents and ai_engine.chunks: the search index (seed: ``RagDocument``,
``RagEmbedding``, ``RagAccessControl``), a tracked projection like every read model,
and the queries that search it (docs/search.md).

The projection is fast and never calls a model. It keeps each indexed record's state
(as the timeline does: rebuild the aggregate, let the event mutate it), asks the
record's formatter (projections/search_sources.py) for its document, and compares:
an unchanged document (a status change, a checklist tick) writes nothing but its kept
state; a changed one is chunked again and only the chunks whose text changed are
queued — their ``embedding`` set to NULL. The embedding worker (workers/embedding.py)
takes the queue from there; until a chunk is embedded it is found by full text only.

The embedding model is part of the index's version (the column's dimension and its
comment name it): changing it builds a new index beside the old one, embedded in full
before it is swapped in (``complete``), never a mixed index.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic
from psycopg import Connection, Cursor
from psycopg.sql import SQL, Identifier

from domain.assistant import ContentType, SearchAccess
from domain.channel import ChannelKind
from domain.organization import Organization
from domain.project import Project
from domain.roles import SEES_ALL_PROJECTS, Permission, Role, can
from domain.state import entity_type
from projections.base import ReadModel
from projections.projects import visible_projects_sql
from projections.search_sources import FORMATTERS, Document
from projections.table import Table
from projections.transcoding import KeptState
from vistone.ai.chunking import Chunk, chunk_document
from vistone.ai.embedders import EmbeddingSpec
from vistone.ai.fusion import reciprocal_rank_fusion

DOCUMENTS = Table("ai_engine", "documents", {
    "source_id": "uuid PRIMARY KEY",
    "content_type": "text NOT NULL",
    "organization_id": "uuid NOT NULL",
    "project_id": "uuid",
    "channel_id": "uuid",
    "client_id": "uuid",
    "author_id": "uuid",
    "title": "text NOT NULL",
    "content": "text NOT NULL",
    "link": "text NOT NULL",
    "content_hash": "text",  # NULL while the record is not searchable
    "searchable": "boolean NOT NULL",
    "last_synced_at": "timestamptz NOT NULL",  # the time of the event that last changed it
    "topic": "text NOT NULL",  # the record's kept state, to apply its next event to
    "version": "integer NOT NULL",
    "state": "bytea NOT NULL",
}, key="source_id")

# What the chunks share with their document (filters read them without a join).
_SCOPE = ("content_type", "organization_id", "project_id", "channel_id", "author_id")

ARCHIVED_PROJECTS = Table("ai_engine", "archived_projects", {"project_id": "uuid PRIMARY KEY"},
                          key="project_id")
ACCESS_CONTROL = Table("ai_engine", "access_control", {
    "organization_id": "uuid NOT NULL",
    "content_type": "text NOT NULL",
    "enabled": "boolean NOT NULL",
}, constraints=("PRIMARY KEY (organization_id, content_type)",), key="organization_id")

# Candidates each ranking brings to the fusion, and the visible-chunk count under which
# search is exact rather than through the HNSW index (docs/benchmarks.md, search).
CANDIDATES = 40
EXACT_BELOW = 3_000
# How long a worker's claim on a pending chunk lasts: a worker killed mid-batch leaves
# its chunks to the others after this.
CLAIM_SECONDS = 120


def _chunks_table(dimension: int) -> Table:
    return Table("ai_engine", "chunks", {
        "source_id": "uuid NOT NULL",
        "chunk_index": "integer NOT NULL",
        "content_type": "text NOT NULL",
        "organization_id": "uuid NOT NULL",
        "project_id": "uuid",
        "channel_id": "uuid",
        "author_id": "uuid",
        "title": "text NOT NULL",
        "chunk_text": "text NOT NULL",
        "text_hash": "text NOT NULL",
        "queued_at": "timestamptz NOT NULL",
        "claimed_until": "timestamptz",
        "embedded_at": "timestamptz",
        "embedding": f"vector({dimension})",
        "search": "tsvector GENERATED ALWAYS AS (setweight(to_tsvector('english', title), "
                  "'A') || setweight(to_tsvector('english', chunk_text), 'B')) STORED",
    }, constraints=("PRIMARY KEY (source_id, chunk_index)",), key="source_id")


def indexed_classes() -> list[type]:
    return list(FORMATTERS)


def _event_classes(aggregate_class: type) -> list[type]:
    return [v for v in vars(aggregate_class).values()
            if isinstance(v, type) and issubclass(v, aggregate_class.Event)  # type: ignore[attr-defined]
            and v is not aggregate_class.Event]  # type: ignore[attr-defined]


class SearchIndexReadModel(ReadModel):
    name = "search"
    schema = "ai_engine"
    tables = ("documents", "chunks", "access_control")

    def __init__(self, embedding: EmbeddingSpec) -> None:
        self.embedding = embedding
        self.chunks = _chunks_table(embedding.dimension)
        self.ddl = (  # type: ignore[misc]
            DOCUMENTS.ddl,
            self.chunks.ddl,
            ARCHIVED_PROJECTS.ddl,
            ACCESS_CONTROL.ddl,
            # The model is part of the version: a new model builds a new index.
            f"COMMENT ON COLUMN chunks.embedding IS 'model {embedding.name}'",
            "CREATE INDEX chunks_embedding ON chunks USING hnsw (embedding vector_cosine_ops)",
            "CREATE INDEX chunks_search ON chunks USING gin (search)",
            "CREATE INDEX chunks_pending ON chunks (queued_at) WHERE embedding IS NULL",
            "CREATE INDEX chunks_scope ON chunks (organization_id, content_type)",
            "CREATE INDEX chunks_project ON chunks (project_id) WHERE project_id IS NOT NULL",
            "CREATE INDEX chunks_channel ON chunks (channel_id) WHERE channel_id IS NOT NULL",
            "CREATE INDEX chunks_unscoped ON chunks (organization_id) "
            "WHERE project_id IS NULL AND channel_id IS NULL",
            "CREATE INDEX chunks_author ON chunks (author_id, content_type)",
            "CREATE INDEX documents_organization ON documents (organization_id)",
            "CREATE INDEX documents_project ON documents (project_id) "
            "WHERE project_id IS NOT NULL",
        )
        self._states = KeptState()
        self._topics = tuple(sorted(
            [get_topic(c) for cls in indexed_classes() for c in _event_classes(cls)]
            + [get_topic(c) for c in _event_classes(SearchAccess)]
            + [get_topic(Organization.Deleted)]))  # type: ignore[attr-defined]

    @property
    def topics(self) -> tuple[str, ...]:
        return self._topics

    def complete(self, conn: Connection[Any]) -> bool:
        """A new version is swapped in only once every chunk is embedded."""
        return conn.execute("SELECT NOT EXISTS (SELECT 1 FROM chunks "
                            "WHERE embedding IS NULL)").fetchone() == (True,)

    def apply(self, cursor: Cursor[Any], event: Any) -> None:
        self.apply_events(cursor, [(0, event)])

    def apply_events(self, cursor: Cursor[Any], events: list[tuple[int, Any]]) -> None:
        kept = self._load(cursor, list({e.originator_id for _, e in events
                                         if _owner(e) in FORMATTERS}))
        archived = self._archived(cursor, kept)
        touched: dict[UUID, _Record] = {}
        for _, event in events:
            owner = _owner(event)
            if owner in FORMATTERS:
                record = touched.get(event.originator_id) or kept.get(event.originator_id)
                touched[event.originator_id] = self._mutate(record, event)
                if isinstance(event, Project.Archived):  # type: ignore[attr-defined]
                    archived.add(event.originator_id)
                    self._archive_project(cursor, event.originator_id)
            elif owner is SearchAccess:
                self._access(cursor, event)
            elif isinstance(event, Organization.Deleted):  # type: ignore[attr-defined]
                self._forget_organization(cursor, event.originator_id)
                touched = {k: r for k, r in touched.items()
                           if r.organization_id != event.originator_id}
        self._write(cursor, list(touched.values()), archived)

    # --- keeping records --------------------------------------------------
    def _load(self, cursor: Cursor[Any], ids: list[UUID]) -> dict[UUID, _Record]:
        if not ids:
            return {}
        rows = cursor.execute(
            "SELECT source_id, topic, version, state, content_hash "
            "FROM documents WHERE source_id = ANY(%s)", (ids,)).fetchall()
        found = {}
        for source_id, topic, version, state, content_hash in rows:
            aggregate = self._states.restore(source_id, topic, version, state)
            found[source_id] = _Record(aggregate, None, content_hash)
        return found

    def _archived(self, cursor: Cursor[Any], kept: dict[UUID, _Record]) -> set[UUID]:
        projects = [p for p in {getattr(r.aggregate, "project_id", None) for r in kept.values()}
                    if p is not None]
        if not projects:
            return set()
        return {row[0] for row in cursor.execute(
            "SELECT project_id FROM archived_projects WHERE project_id = ANY(%s)",
            (projects,)).fetchall()}

    def _mutate(self, record: _Record | None, event: Any) -> _Record:
        created = hasattr(event, "originator_topic")
        if record is None and not created:
            raise LookupError(f"no state kept for {event.originator_id} before version "
                              f"{event.originator_version}")
        aggregate = event.mutate(None if created or record is None else record.aggregate)
        return _Record(aggregate, event.timestamp, record.stored_hash if record else None)

    def _archive_project(self, cursor: Cursor[Any], project_id: UUID) -> None:
        cursor.execute("INSERT INTO archived_projects (project_id) VALUES (%s) "
                       "ON CONFLICT DO NOTHING", (project_id,))
        cursor.execute("DELETE FROM chunks WHERE project_id = %s", (project_id,))
        # As ``_write`` stores any unsearchable record (a rebuild that sees the archive
        # in the same batch as the records must store the same rows).
        cursor.execute("UPDATE documents SET searchable = false, content_hash = NULL, "
                       "title = '', content = '', link = '', project_id = NULL, "
                       "channel_id = NULL, client_id = NULL, author_id = NULL "
                       "WHERE project_id = %s", (project_id,))

    def _access(self, cursor: Cursor[Any], event: Any) -> None:
        if not hasattr(event, "content_type"):
            return  # Created: every type enabled
        cursor.execute(
            "INSERT INTO access_control (organization_id, content_type, enabled) "
            "VALUES (%s, %s, %s) ON CONFLICT (organization_id, content_type) "
            "DO UPDATE SET enabled = excluded.enabled",
            (_uuid(event.meta.get("organization_id")) or event.originator_id,
             event.content_type, event.enabled))

    def _forget_organization(self, cursor: Cursor[Any], organization_id: UUID) -> None:
        for table in ("chunks", "documents", "access_control"):
            cursor.execute(SQL("DELETE FROM {} WHERE organization_id = %s")
                           .format(Identifier(table)), (organization_id,))

    # --- writing documents and chunks -------------------------------------
    def _write(self, cursor: Cursor[Any], records: list[_Record],
               archived: set[UUID]) -> None:
        if not records:
            return
        changed: list[tuple[_Record, Document | None]] = []
        rows = []
        for record in records:
            aggregate = record.aggregate
            document = FORMATTERS[type(aggregate)](aggregate)
            if document is not None and document.project_id in archived:
                document = None
            digest = None if document is None else _content_hash(document)
            topic, state = self._states.keep(aggregate)
            rows.append((
                aggregate.id, entity_type(type(aggregate)), aggregate.organization_id,
                *(_scope(document)), document.title if document else "",
                document.content if document else "", document.link if document else "",
                digest, document is not None, record.synced_at, topic, aggregate.version,
                state))
            if digest != record.stored_hash:
                changed.append((record, document))
        cursor.executemany(
            DOCUMENTS.insert_sql(tuple(DOCUMENTS.columns))
            + " ON CONFLICT (source_id) DO UPDATE SET "
            + ", ".join(f"{c} = excluded.{c}" for c in DOCUMENTS.columns if c != "source_id"),
            rows)
        if changed:
            self._rechunk(cursor, changed)

    def _rechunk(self, cursor: Cursor[Any], changed: list[tuple[_Record, Document | None]],
                 ) -> None:
        """Queue the chunks whose text changed, drop those that are gone; a chunk whose
        text is the same keeps its embedding."""
        ids = [r.aggregate.id for r, _ in changed]
        existing: dict[tuple[UUID, int], str] = {
            (row[0], row[1]): row[2] for row in cursor.execute(
                "SELECT source_id, chunk_index, text_hash FROM chunks "
                "WHERE source_id = ANY(%s)", (ids,)).fetchall()}
        upserts, keep = [], []
        for record, document in changed:
            aggregate = record.aggregate
            chunks: list[Chunk] = [] if document is None else \
                chunk_document(document.title, document.content)
            keep.append((aggregate.id, len(chunks)))
            for chunk in chunks:
                if existing.get((aggregate.id, chunk.index)) == chunk.text_hash:
                    continue
                assert document is not None
                upserts.append((aggregate.id, chunk.index, entity_type(type(aggregate)),
                                aggregate.organization_id, document.project_id,
                                document.channel_id, document.author_id, document.title,
                                chunk.text, chunk.text_hash, record.synced_at))
        cursor.execute(
            "DELETE FROM chunks c USING unnest(%s::uuid[], %s::int[]) AS k(source_id, n) "
            "WHERE c.source_id = k.source_id AND c.chunk_index >= k.n",
            ([k for k, _ in keep], [n for _, n in keep]))
        if upserts:
            columns = ("source_id", "chunk_index", *_SCOPE, "title", "chunk_text",
                       "text_hash", "queued_at")
            cursor.executemany(
                self.chunks.insert_sql(columns)
                + " ON CONFLICT (source_id, chunk_index) DO UPDATE SET "
                  "title = excluded.title, chunk_text = excluded.chunk_text, "
                  "text_hash = excluded.text_hash, queued_at = excluded.queued_at, "
                  "claimed_until = NULL, embedded_at = NULL, embedding = NULL",
                upserts)


@dataclass
class _Record:
    aggregate: Any
    synced_at: datetime | None
    stored_hash: str | None  # of the document as stored: None while not searchable

    @property
    def organization_id(self) -> Any:
        return self.aggregate.organization_id


def _owner(event: Any) -> Any:
    """The aggregate class an event belongs to (its ``__qualname__`` is
    ``Aggregate.Event``)."""
    owner = getattr(type(event), "__qualname__", "").split(".")[0]
    return _OWNERS.get((type(event).__module__, owner), type)


_OWNERS = {(cls.__module__, cls.__name__): cls
           for cls in [*FORMATTERS, SearchAccess, Organization]}


def _scope(document: Document | None) -> tuple[Any, ...]:
    if document is None:
        return (None, None, None, None)
    return (document.project_id, document.channel_id, document.client_id, document.author_id)


def _content_hash(document: Document) -> str:
    return hashlib.sha256(f"{document.title}\x00{document.content}".encode()).hexdigest()


def _uuid(value: Any) -> UUID | None:
    try:
        return None if value is None else UUID(str(value))
    except ValueError:
        return None


# --- the embedding queue (workers/embedding.py) ----------------------------------

@dataclass(frozen=True)
class PendingChunk:
    source_id: UUID
    chunk_index: int
    text_hash: str
    embedded_text: str  # title context + passage, as chunked


def claim_pending(conn: Connection[Any], storage: str, limit: int) -> list[PendingChunk]:
    """Claim up to ``limit`` chunks waiting for an embedding in one generation's tables
    (oldest first) for ``CLAIM_SECONDS``: two workers never take the same chunk, and no
    row stays locked while a model works (the projection may rewrite it meanwhile)."""
    rows = conn.execute(
        SQL("UPDATE {chunks} c SET claimed_until = now() + make_interval(secs => %s) "
            "FROM (SELECT source_id, chunk_index FROM {chunks} "
            "      WHERE embedding IS NULL AND (claimed_until IS NULL OR claimed_until < now()) "
            "      ORDER BY queued_at LIMIT %s FOR UPDATE SKIP LOCKED) p "
            "WHERE c.source_id = p.source_id AND c.chunk_index = p.chunk_index "
            "RETURNING c.source_id, c.chunk_index, c.text_hash, c.title, c.chunk_text")
        .format(chunks=Identifier(storage, "chunks")), (CLAIM_SECONDS, limit)).fetchall()
    chunks = []
    for source_id, index, text_hash, title, text in rows:
        embedded = text if text == title else f"{title}\n{text}" if title else text
        chunks.append(PendingChunk(source_id, index, text_hash, embedded))
    return chunks


def store_embeddings(conn: Connection[Any], storage: str, chunks: Sequence[PendingChunk],
                     vectors: Sequence[str]) -> int:
    """Store the vectors (``vector_literal``s) of claimed chunks whose text is still the
    one embedded (a chunk rewritten meanwhile stays queued with its new text). Returns
    how many were stored."""
    if not chunks:
        return 0
    stored = conn.execute(
        SQL("UPDATE {chunks} c SET embedding = v.embedding::vector, embedded_at = now(), "
            "claimed_until = NULL "
            "FROM unnest(%s::uuid[], %s::int[], %s::text[], %s::text[]) "
            "     AS v(source_id, chunk_index, text_hash, embedding) "
            "WHERE c.source_id = v.source_id AND c.chunk_index = v.chunk_index "
            "AND c.text_hash = v.text_hash")
        .format(chunks=Identifier(storage, "chunks")),
        ([c.source_id for c in chunks], [c.chunk_index for c in chunks],
         [c.text_hash for c in chunks], list(vectors)))
    return stored.rowcount


def release_claims(conn: Connection[Any], storage: str, chunks: Sequence[PendingChunk],
                   delay_seconds: float) -> None:
    """Give claimed chunks back to the queue after ``delay_seconds`` (a provider error:
    the retry waits that long, whichever worker takes it)."""
    conn.execute(
        SQL("UPDATE {chunks} c SET claimed_until = now() + make_interval(secs => %s) "
            "FROM unnest(%s::uuid[], %s::int[]) AS v(source_id, chunk_index) "
            "WHERE c.source_id = v.source_id AND c.chunk_index = v.chunk_index "
            "AND c.embedding IS NULL").format(chunks=Identifier(storage, "chunks")),
        (delay_seconds, [c.source_id for c in chunks], [c.chunk_index for c in chunks]))


def vector_literal(vector: Sequence[float]) -> str:
    """A vector in pgvector's text form."""
    return "[" + ",".join(repr(float(x)) for x in vector) + "]"


def queue_figures(conn: Connection[Any]) -> dict[str, Any]:
    """What status and metrics show of the active index: chunks in all, waiting for an
    embedding, the age of the oldest waiting one (the embedding lag), and the lag of the
    chunks embedded in the last five minutes (p50 and p95, seconds)."""
    row = conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE embedding IS NULL), "
        "extract(epoch FROM now() - min(queued_at) FILTER (WHERE embedding IS NULL)), "
        "percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM "
        "  embedded_at - queued_at)) FILTER (WHERE embedded_at > now() - interval '5 min'), "
        "percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM "
        "  embedded_at - queued_at)) FILTER (WHERE embedded_at > now() - interval '5 min') "
        "FROM ai_engine.chunks").fetchone()
    assert row is not None
    total, pending, oldest, p50, p95 = row
    return {"chunks": total, "pending": pending,
            "oldest_pending_seconds": float(oldest or 0.0),
            "recent_lag_p50_seconds": None if p50 is None else float(p50),
            "recent_lag_p95_seconds": None if p95 is None else float(p95)}


# --- search ---------------------------------------------------------------------

@dataclass(frozen=True)
class Scope:
    """What one caller may find in one organization, read from the read models now."""

    organization_id: UUID
    content_types: tuple[str, ...]
    all_projects: bool
    project_ids: tuple[UUID, ...] = ()
    channel_ids: tuple[UUID, ...] = ()
    feedback_without_project: bool = False


# What each role may find, before an organization switches types off.
_ROLE_TYPES: dict[Role, tuple[ContentType, ...]] = {
    Role.ORGANIZER: tuple(ContentType),
    Role.MANAGER: tuple(ContentType),
    Role.CONTRIBUTOR: (ContentType.PROJECT, ContentType.TASK, ContentType.MESSAGE,
                       ContentType.CLIENT, ContentType.CLIENT_FEEDBACK),
    # The portal: the projects linked to the user's client and their tasks.
    Role.CLIENT: (ContentType.PROJECT, ContentType.TASK),
}


def disabled_types(conn: Connection[Any], organization_id: UUID) -> set[str]:
    """The content types the organization switched off (seed: ``RagAccessControl``)."""
    return {row[0] for row in conn.execute(
        "SELECT content_type FROM ai_engine.access_control "
        "WHERE organization_id = %s AND NOT enabled", (organization_id,)).fetchall()}


def caller_scope(conn: Connection[Any], organization_id: UUID, role: Role,
                 caller: UUID) -> Scope:
    """The caller's scope in the organization: the content types their role reads and
    the organization has on, the projects and channels they see (docs/search.md)."""
    disabled = disabled_types(conn, organization_id)
    types = tuple(t.value for t in _ROLE_TYPES[role] if t.value not in disabled)
    sees_all = role in SEES_ALL_PROJECTS
    projects: tuple[UUID, ...] = ()
    if not sees_all:
        projects = tuple(row[0] for row in conn.execute(
            "SELECT p.id FROM project.projects p WHERE p.organization_id = %s AND "
            + visible_projects_sql(role, "p.id"), (organization_id, caller)).fetchall())
    channels: tuple[UUID, ...] = ()
    if ContentType.MESSAGE.value in types:
        projects_seen = "TRUE" if sees_all else "c.project_id = ANY(%(projects)s)"
        channels = tuple(row[0] for row in conn.execute(
            "SELECT c.id FROM communication.channels c WHERE c.organization_id = %(org)s "
            f"AND (c.kind = '{ChannelKind.TEAM.value}' "
            f"OR (c.kind = '{ChannelKind.DIRECT.value}' AND EXISTS (SELECT 1 FROM "
            "communication.channel_members m WHERE m.channel_id = c.id "
            "AND m.user_id = %(me)s)) "
            f"OR (c.kind = '{ChannelKind.PROJECT.value}' AND {projects_seen}))",
            {"org": organization_id, "me": caller, "projects": list(projects)}).fetchall())
    return Scope(organization_id, types, sees_all, projects, channels,
                 feedback_without_project=can(role, Permission.MANAGE_CLIENTS))


@dataclass(frozen=True)
class Filters:
    content_types: tuple[str, ...] = ()
    project_id: UUID | None = None
    channel_id: UUID | None = None
    author_id: UUID | None = None


def visible_where(scope: Scope, filters: Filters) -> tuple[str, dict[str, Any]]:
    """The chunks the caller may read now, narrowed by the filters: one condition used
    by both rankings, so neither can surface (or count) anything else."""
    types = [t for t in scope.content_types
             if not filters.content_types or t in filters.content_types]
    conditions = ["organization_id = %(org)s", "content_type = ANY(%(types)s)",
                  "(channel_id IS NULL OR channel_id = ANY(%(channels)s))"]
    if not scope.all_projects:
        conditions.append("(project_id IS NULL OR project_id = ANY(%(projects)s))")
        # Implied by the two above, but it lets PostgreSQL find a restricted caller's
        # chunks through indexes (project, channel, neither) instead of reading the
        # organization's rows one by one: 1 % of 100,000 chunks counted in 3 ms, not
        # 200 (docs/benchmarks.md).
        conditions.append("(project_id = ANY(%(projects)s) OR channel_id = ANY(%(channels)s) "
                          "OR (project_id IS NULL AND channel_id IS NULL))")
    if not scope.feedback_without_project:
        conditions.append(f"(content_type <> '{ContentType.CLIENT_FEEDBACK.value}' "
                          "OR project_id IS NOT NULL)")
    params: dict[str, Any] = {"org": scope.organization_id, "types": types,
                              "channels": list(scope.channel_ids),
                              "projects": list(scope.project_ids)}
    for column in ("project_id", "channel_id", "author_id"):
        value = getattr(filters, column)
        if value is not None:
            conditions.append(f"{column} = %({column})s")
            params[column] = value
    return " AND ".join(conditions), params


@dataclass
class Hit:
    content_type: str
    source_id: UUID
    chunk_index: int
    title: str
    text: str
    link: str
    score: float
    project_id: UUID | None
    channel_id: UUID | None
    matched_by: list[str] = field(default_factory=list)


# What a search box means: every word (stemmed, stop words dropped), "quoted phrases",
# -excluded words (websearch syntax). Matching any word instead was measured to lower
# recall@10 of the fused ranking below the vector ranking alone on question-like queries
# (docs/benchmarks.md, search quality): loose text matches push good neighbours down.
_ALL_WORDS = "websearch_to_tsquery('english', %(q)s)"


def vector_ranking(conn: Connection[Any], where: str, params: dict[str, Any],
                   vector: Sequence[float], limit: int) -> list[tuple[UUID, int]]:
    """The nearest chunks the caller may read. Under a selective scope (fewer than
    ``EXACT_BELOW`` chunks) an exact scan; otherwise the HNSW index with iterative scans,
    so that filtering after the index scan still fills the page (pgvector 0.8)."""
    params = {**params, "v": vector_literal(vector), "limit": limit, "cap": EXACT_BELOW}
    with conn.transaction():
        visible = conn.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM ai_engine.chunks WHERE {where} "
            "AND embedding IS NOT NULL LIMIT %(cap)s) s", params).fetchone()
        if visible is not None and visible[0] < EXACT_BELOW:
            # "+ 0" keeps the planner off the index: every visible chunk is compared.
            rows = conn.execute(
                f"SELECT source_id, chunk_index FROM ai_engine.chunks WHERE {where} "
                "AND embedding IS NOT NULL ORDER BY (embedding <=> %(v)s::vector) + 0, "
                "source_id, chunk_index LIMIT %(limit)s", params).fetchall()
        else:
            conn.execute("SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true), "
                         "set_config('hnsw.ef_search', '200', true), "
                         "set_config('hnsw.max_scan_tuples', '50000', true)")
            # relaxed_order can return neighbours slightly out of order: sort them again.
            rows = conn.execute(
                "WITH near AS MATERIALIZED (SELECT source_id, chunk_index, "
                "embedding <=> %(v)s::vector AS distance FROM ai_engine.chunks "
                f"WHERE {where} AND embedding IS NOT NULL "
                "ORDER BY embedding <=> %(v)s::vector LIMIT %(limit)s) "
                "SELECT source_id, chunk_index FROM near "
                "ORDER BY distance, source_id, chunk_index", params).fetchall()
    return [(r[0], r[1]) for r in rows]


def text_ranking(conn: Connection[Any], where: str, params: dict[str, Any], query: str,
                 limit: int) -> list[tuple[UUID, int]]:
    rows = conn.execute(
        f"SELECT source_id, chunk_index FROM ai_engine.chunks, (SELECT {_ALL_WORDS} AS q) w "
        f"WHERE search @@ w.q AND {where} "
        "ORDER BY ts_rank_cd(search, w.q) DESC, source_id, chunk_index LIMIT %(limit)s",
        {**params, "q": query, "limit": limit}).fetchall()
    return [(r[0], r[1]) for r in rows]


def search(conn: Connection[Any], scope: Scope, query: str,
           vector: Sequence[float] | None, filters: Filters, *, limit: int = 10,
           ) -> list[Hit]:
    """The documents best matching ``query`` that the caller may read: vector and full
    text rankings fused by reciprocal rank, one hit per document (its best chunk).
    Without a vector (the model unreachable) full text alone."""
    if not scope.content_types:
        return []
    where, params = visible_where(scope, filters)
    rankings = [text_ranking(conn, where, params, query, CANDIDATES)]
    if vector is not None:
        rankings.insert(0, vector_ranking(conn, where, params, vector, CANDIDATES))
    fused = reciprocal_rank_fusion(rankings)
    best: dict[UUID, tuple[tuple[UUID, int], float]] = {}
    for key, score in fused:
        if key[0] not in best:
            best[key[0]] = (key, score)
    chosen = sorted(best.values(), key=lambda item: -item[1])[:limit]
    if not chosen:
        return []
    keys = [k for k, _ in chosen]
    rows = {(r[0], r[1]): r for r in conn.execute(
        "SELECT c.source_id, c.chunk_index, c.content_type, c.title, c.chunk_text, d.link, "
        "c.project_id, c.channel_id FROM ai_engine.chunks c "
        "JOIN ai_engine.documents d ON d.source_id = c.source_id "
        "JOIN unnest(%s::uuid[], %s::int[]) AS k(source_id, chunk_index) "
        "ON k.source_id = c.source_id AND k.chunk_index = c.chunk_index",
        ([k[0] for k in keys], [k[1] for k in keys])).fetchall()}
    found = [set(r) for r in rankings]
    names = ["vector", "text"] if vector is not None else ["text"]
    hits = []
    for key, score in chosen:
        row = rows.get(key)
        if row is None:  # rewritten between the two reads: it will be found next time
            continue
        hits.append(Hit(row[2], row[0], row[1], row[3], row[4], row[5], score, row[6],
                        row[7], [n for n, s in zip(names, found, strict=True) if key in s]))
    return hits


def readable_sources(conn: Connection[Any], scope: Scope, ids: Sequence[UUID]) -> set[UUID]:
    """Which of ``ids`` are records the caller may read now (searchable, in scope)."""
    if not ids:
        return set()
    where, params = visible_where(scope, Filters())
    return {row[0] for row in conn.execute(
        f"SELECT source_id FROM ai_engine.documents WHERE source_id = ANY(%(ids)s) "
        f"AND searchable AND {where}", {**params, "ids": list(ids)}).fetchall()}


def message_vectors(conn: Connection[Any], scope: Scope, *, channel_id: UUID | None,
                    author_id: UUID | None, limit: int) -> list[tuple[Any, ...]]:
    """(message id, text, mean embedding of its chunks, time) of the embedded messages
    the caller may read in a channel or by an author, newest first (for clustering)."""
    filters = Filters(content_types=(ContentType.MESSAGE.value,), channel_id=channel_id,
                      author_id=author_id)
    where, params = visible_where(scope, filters)
    return conn.execute(
        "SELECT c.source_id, d.content, avg(c.embedding)::text, d.last_synced_at "
        "FROM (SELECT source_id, embedding FROM ai_engine.chunks "
        f"      WHERE {where} AND embedding IS NOT NULL) c "
        "JOIN ai_engine.documents d ON d.source_id = c.source_id "
        "GROUP BY c.source_id, d.content, d.last_synced_at "
        "ORDER BY d.last_synced_at DESC, c.source_id LIMIT %(limit)s",
        {**params, "limit": limit}).fetchall()
