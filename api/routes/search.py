"""Search (docs/search.md): hybrid — the embedding index and PostgreSQL full text fused
by reciprocal rank — over what the caller may read *now*; and the content types an
organization's Organizers switch on or off for its search and assistant."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from api.access import internal_role, not_found, organization_role
from api.contract import CommandAnswer
from api.deps import (
    Command,
    JSONResponse,
    Reader,
    Strict,
    command_response,
    reading,
    runtime_of,
)
from api.problems import ApiProblem
from api.values import NOT_BLANK, ExactJSONRoute
from domain.assistant import ContentType, SearchMode
from projections import chat_clusters, search_index
from vistone.commands import assistant as commands

router = APIRouter(prefix="/v1/organizations/{organization_id}", tags=["search"],
                   route_class=ExactJSONRoute)

Reads = Annotated[Reader, reading("organizations", "projects", "channels", "clients",
                                  "search")]

MAX_QUERY = 500
SNIPPET_CHARS = 300


class Source(BaseModel):
    content_type: ContentType
    id: UUID
    title: str
    link: str = Field(description="the API path that reads the source")
    project_id: UUID | None
    channel_id: UUID | None


class SearchHit(BaseModel):
    source: Source
    snippet: str = Field(description="the best matching passage of the source")
    chunk_index: int
    score: float = Field(description="reciprocal-rank-fusion score: higher is better")
    matched_by: list[str] = Field(description="which rankings found it: vector, text")


class SearchAnswer(BaseModel):
    items: list[SearchHit]
    mode: SearchMode


def snippet(text: str, query: str) -> str:
    """The passage around the first query word it contains, at most SNIPPET_CHARS."""
    if len(text) <= SNIPPET_CHARS:
        return text
    lowered = text.lower()
    found = [lowered.find(w) for w in query.lower().split() if len(w) > 2]
    start = min((i for i in found if i >= 0), default=0)
    start = max(0, start - SNIPPET_CHARS // 3)
    piece = text[start:start + SNIPPET_CHARS]
    return ("…" if start else "") + piece + ("…" if start + SNIPPET_CHARS < len(text) else "")


def _hits(hits: list[search_index.Hit], query: str) -> list[dict[str, object]]:
    return [{"source": {"content_type": h.content_type, "id": h.source_id, "title": h.title,
                        "link": h.link, "project_id": h.project_id,
                        "channel_id": h.channel_id},
             "snippet": snippet(h.text, query), "chunk_index": h.chunk_index,
             "score": round(h.score, 6), "matched_by": h.matched_by} for h in hits]


Query_ = Annotated[str, Query(min_length=1, max_length=MAX_QUERY, alias="q", pattern=NOT_BLANK,
                              description="what to look for, in words")]


@router.get("/search", response_model=SearchAnswer)
def search(
    organization_id: UUID, reader: Reads, request: Request, q: Query_,
    content_type: Annotated[list[ContentType] | None, Query(
        description="only these kinds of record (repeat the parameter)")] = None,
    project_id: UUID | None = None,
    channel_id: UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> JSONResponse:
    """The records best matching ``q`` among those the caller may read now (their
    organization, the projects and channels they see; a Client user the projects of their
    portal), in the content types the organization has on."""
    if not q.strip():
        raise ApiProblem(422, "invalid-value", "Invalid value", "q must not be blank",
                         field="q")
    role = organization_role(reader.conn, organization_id, reader.caller)
    scope = search_index.caller_scope(reader.conn, organization_id, role, reader.caller)
    vector = runtime_of(request).query_vector(reader.conn, q)
    hits = search_index.search(
        reader.conn, scope, q, vector,
        search_index.Filters(tuple(t.value for t in content_type or ()), project_id,
                             channel_id),
        limit=limit)
    return reader.answer({"items": _hits(hits, q),
                          "mode": "hybrid" if vector is not None else "text"})


class ContentTypeSetting(BaseModel):
    content_type: ContentType
    enabled: bool


class ContentTypeSettings(BaseModel):
    items: list[ContentTypeSetting]


class SetContentType(Strict):
    enabled: bool

    model_config = {"json_schema_extra": {"examples": [{"enabled": False}]}}


@router.get("/search/content-types", response_model=ContentTypeSettings)
def content_types(organization_id: UUID, reader: Reads) -> JSONResponse:
    """Which content types the organization's search and assistant use (seed:
    ``RagAccessControl``); every internal member may read it."""
    internal_role(reader.conn, organization_id, reader.caller)
    disabled = search_index.disabled_types(reader.conn, organization_id)
    return reader.answer({"items": [{"content_type": t.value, "enabled": t.value not in disabled}
                                    for t in ContentType]})


@router.put("/search/content-types/{content_type}", response_model=CommandAnswer)
def set_content_type(organization_id: UUID,
                     content_type: Annotated[ContentType, Path()],
                     body: SetContentType, command: Command) -> JSONResponse:
    """Organizers only: switch a content type on or off for the organization's search
    and assistant. Off, its records disappear from both as soon as the index has
    applied the change (send the answer's position as X-Min-Position)."""
    return command_response(commands.set_search_content_type(
        command, organization_id, content_type, body.enabled))


class Representative(BaseModel):
    id: UUID
    text: str = Field(description="the message, shortened")


class ChatCluster(BaseModel):
    label: str = Field(description="the cluster's top terms; empty when its messages "
                       "have no words", examples=["invoice, payment, overdue"])
    terms: list[str]
    size: int
    first_at: datetime
    last_at: datetime
    representatives: list[Representative] = Field(
        description="up to three messages closest to the cluster's centre")
    message_ids: list[UUID] = Field(description="newest first")


class ChatClusters(BaseModel):
    clusters: list[ChatCluster] = Field(description="largest first")
    unclustered: list[UUID] = Field(description="messages on no shared topic")
    messages: int = Field(description="how many messages were clustered (the newest "
                          f"{chat_clusters.MAX_MESSAGES} at most)")
    computed_at: datetime
    fresh: bool = Field(description="false: messages changed since, and the clusters "
                        f"are recomputed at most every {chat_clusters.REFRESH_SECONDS:.0f} s")


@router.get("/chat-clusters", response_model=ChatClusters,
            responses={404: {"description": "the channel is not one the caller sees"}})
def clusters_of_chats(
    organization_id: UUID, reader: Reads,
    channel_id: Annotated[UUID | None, Query(description="the messages of this channel")]
    = None,
    author_id: Annotated[UUID | None, Query(
        description="the messages this person wrote, in the channels the caller sees")]
    = None,
    min_cluster_size: Annotated[int, Query(ge=2, le=50)] = 3,
) -> JSONResponse:
    """The messages the caller may read — of one channel, of one person, or all —
    grouped into topic clusters from their embeddings: each with a label (top terms),
    size, time span and representative messages. Kept and refreshed as messages arrive,
    not recomputed on every read. Client users read no channel (404)."""
    role = internal_role(reader.conn, organization_id, reader.caller)
    scope = search_index.caller_scope(reader.conn, organization_id, role, reader.caller)
    if ContentType.MESSAGE.value not in scope.content_types:
        # Messages switched off for the organization: nothing to cluster (and no channel
        # is told apart from another).
        return reader.answer(chat_clusters.nothing_to_cluster())
    if channel_id is not None and channel_id not in scope.channel_ids:
        raise not_found("channel", channel_id)
    return reader.answer(chat_clusters.chat_clusters(
        reader.conn, scope, channel_id=channel_id, author_id=author_id,
        min_cluster_size=min_cluster_size))
