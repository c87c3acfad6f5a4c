"""Chats in clusters (the seed's open question "fetch user chats in clusters"): the
messages of a channel, or of one person across the channels the reader sees, grouped
into topics from their embeddings (vistone/ai/clustering.py).

Clustering costs a second for thousands of messages, so a result is kept in
``ai_engine.chat_clusters`` under the scope it was computed for (organization, filters
and the exact set of channels the reader sees) with a fingerprint of its messages (how
many are embedded and when the last was). A read answers the kept result while the
fingerprint holds; when messages arrive, change or go, the next read computes it again —
at most once per ``REFRESH_SECONDS`` per scope, answering the kept one (``fresh: false``)
in between. It is a cache: dropping the table only costs computing again."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from psycopg import Connection
from psycopg.types.json import Jsonb

from domain.assistant import ContentType
from projections.search_index import Filters, Scope, message_vectors, visible_where
from vistone.ai.clustering import ClusterInput, cluster_messages, top_terms

DDL = """CREATE TABLE IF NOT EXISTS ai_engine.chat_clusters (
    scope_key text PRIMARY KEY,
    fingerprint text NOT NULL,
    computed_at timestamptz NOT NULL,
    result jsonb NOT NULL)"""

REFRESH_SECONDS = 30.0
MAX_MESSAGES = 2000  # the newest; clustering memory grows with the square
REPRESENTATIVE_CHARS = 200


def prepare(conn: Connection[Any]) -> None:
    conn.execute("CREATE SCHEMA IF NOT EXISTS ai_engine")
    conn.execute(DDL)


def _scope_key(scope: Scope, channel_id: UUID | None, author_id: UUID | None) -> str:
    material = "|".join([str(scope.organization_id), str(channel_id), str(author_id),
                         ",".join(sorted(str(c) for c in scope.channel_ids))])
    return hashlib.sha256(material.encode()).hexdigest()


def _fingerprint(conn: Connection[Any], scope: Scope, channel_id: UUID | None,
                 author_id: UUID | None) -> str:
    where, params = visible_where(scope, Filters((ContentType.MESSAGE.value,), None, channel_id,
                                          author_id))
    row = conn.execute(
        "SELECT count(*), max(embedded_at), count(DISTINCT source_id) FROM ai_engine.chunks "
        f"WHERE {where} AND embedding IS NOT NULL", params).fetchone()
    return f"{row}"


def chat_clusters(conn: Connection[Any], scope: Scope, *, channel_id: UUID | None,
                  author_id: UUID | None, min_cluster_size: int = 3) -> dict[str, Any]:
    """The topic clusters of the messages in scope the reader may read, kept or fresh."""
    if ContentType.MESSAGE.value not in scope.content_types:
        return nothing_to_cluster()
    key = f"{_scope_key(scope, channel_id, author_id)}:{min_cluster_size}"
    fingerprint = _fingerprint(conn, scope, channel_id, author_id)
    kept = conn.execute("SELECT fingerprint, computed_at, result, now() FROM "
                        "ai_engine.chat_clusters WHERE scope_key = %s", (key,)).fetchone()
    if kept is not None:
        same = kept[0] == fingerprint
        recent = (kept[3] - kept[1]).total_seconds() < REFRESH_SECONDS
        if same:
            return _answer(kept[2], kept[1], fresh=True)
        if recent:
            return _answer(_still_readable(conn, scope, channel_id, author_id, kept[2]),
                           kept[1], fresh=False)
    rows = message_vectors(conn, scope, channel_id=channel_id, author_id=author_id,
                           limit=MAX_MESSAGES)
    result = _compute(rows, min_cluster_size)
    computed = conn.execute(
        "INSERT INTO ai_engine.chat_clusters (scope_key, fingerprint, computed_at, result) "
        "VALUES (%s, %s, now(), %s) ON CONFLICT (scope_key) DO UPDATE SET "
        "fingerprint = excluded.fingerprint, computed_at = excluded.computed_at, "
        "result = excluded.result RETURNING computed_at",
        (key, fingerprint, Jsonb(result))).fetchone()
    assert computed is not None
    return _answer(result, computed[0], fresh=True)


def nothing_to_cluster() -> dict[str, Any]:
    return _answer({"clusters": [], "unclustered": [], "messages": 0}, datetime.now(UTC),
                   fresh=True)


def _still_readable(conn: Connection[Any], scope: Scope, channel_id: UUID | None,
                   author_id: UUID | None, result: dict[str, Any]) -> dict[str, Any]:
    """A kept result as the messages stand now: deleted (or no longer readable) messages
    left out, representatives with their current text. Only the grouping is kept."""
    where, params = visible_where(scope, Filters((ContentType.MESSAGE.value,), None,
                                                 channel_id, author_id))
    now = dict(conn.execute(
        f"SELECT source_id::text, content FROM ai_engine.documents WHERE {where} "
        "AND searchable", params).fetchall())
    clusters = []
    for cluster in result["clusters"]:
        ids = [i for i in cluster["message_ids"] if i in now]
        if not ids:
            continue
        clusters.append({**cluster, "size": len(ids), "message_ids": ids,
                         "representatives": [{"id": r["id"], "text": _short(now[r["id"]])}
                                             for r in cluster["representatives"]
                                             if r["id"] in now]})
    unclustered = [i for i in result["unclustered"] if i in now]
    # Labels from the texts as they are now: a deleted message's words leave with it.
    terms = top_terms([[now[i] for i in c["message_ids"]] for c in clusters],
                      [now[i] for i in unclustered])
    for cluster, words in zip(clusters, terms, strict=True):
        cluster["terms"], cluster["label"] = list(words), ", ".join(words)
    return {**result, "clusters": clusters, "unclustered": unclustered,
            "messages": sum(c["size"] for c in clusters) + len(unclustered)}


def _answer(result: dict[str, Any], computed_at: datetime, *, fresh: bool) -> dict[str, Any]:
    return {**result, "computed_at": computed_at, "fresh": fresh}


def _compute(rows: list[tuple[Any, ...]], min_cluster_size: int) -> dict[str, Any]:
    texts = {row[0]: row[1] for row in rows}
    items = [ClusterInput(row[0], row[1], [float(x) for x in row[2].strip("[]").split(",")],
                          row[3]) for row in rows]
    found = cluster_messages(items, min_cluster_size=min_cluster_size) if items else None
    clusters = [] if found is None else [{
        "label": c.label, "terms": list(c.terms), "size": c.size,
        "first_at": c.first_at.isoformat(), "last_at": c.last_at.isoformat(),
        "representatives": [{"id": str(i), "text": _short(texts[i])}
                            for i in c.representative_ids],
        "message_ids": [str(i) for i in c.message_ids],
    } for c in found.clusters]
    unclustered = [] if found is None else [str(i) for i in found.unclustered_ids]
    return {"clusters": clusters, "unclustered": unclustered, "messages": len(items)}


def _short(text: str) -> str:
    return text if len(text) <= REPRESENTATIVE_CHARS else text[:REPRESENTATIVE_CHARS - 1] + "…"
