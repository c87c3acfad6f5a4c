"""The activity timeline (docs/timeline.md): an organization's activity, one record's
history, a channel's communication log, my own activity, a live feed (Server-Sent
Events) and an export for Organizers. Every read is filtered by what the caller may see
*now* (projections/timeline.py ``visible_sql``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import anyio
import orjson
from anyio import to_thread
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from sse_starlette import EventSourceResponse, ServerSentEvent

from api.access import internal_role, not_found, organization_role
from api.contract import Page
from api.deps import Caller, JSONResponse, PageCursor, PageLimit, Reader, reading, runtime_of
from api.problems import ApiProblem
from api.values import MOMENT_HELP, Bound, ExactJSONRoute
from domain.roles import Role
from projections import channels, timeline
from projections.organizations import member_role

router = APIRouter(tags=["activity"], route_class=ExactJSONRoute)
ORGANIZATION = "/v1/organizations/{organization_id}"

Reads = Annotated[Reader, reading("organizations", "projects", "channels", "clients",
                                  "timeline")]

# How often the live feed looks for new activity, and how many rows it sends at once.
FEED_POLL_SECONDS = 0.5
FEED_BATCH = 200


class FieldChange(BaseModel):
    """One field an event changed: ``old`` → ``new`` (JSON values; a nested field by
    dotted path, such as ``checklist.<item>.done``), or only ``withheld`` for personal
    data (names, emails, phones, bodies), whose values the timeline never copies."""

    field: str
    old: Any = None
    new: Any = None
    withheld: bool = False


class Person(BaseModel):
    """A person, by id, with their name as it is now (null once erased)."""

    id: UUID
    name: str | None


class ActivityEntry(BaseModel):
    """One event of the log as activity: what happened to which record, by whom, when,
    from where (IPs and user agents for Organizers only) and what it changed."""

    position: int = Field(description="the event's log position (also the SSE event id)")
    occurred_at: datetime
    action: str = Field(description="stable, e.g. task.status_changed",
                        examples=["task.status_changed"])
    entity_type: str = Field(examples=["task"])
    entity_id: UUID
    entity_version: int
    organization_id: UUID | None
    project_id: UUID | None
    channel_id: UUID | None
    actor_id: UUID | None
    actor: Person | None
    correlation_id: str | None
    causation_id: str | None
    client_ip: str | None = Field(description="Organizers only; null for others")
    user_agent: str | None = Field(description="Organizers only; null for others")
    changes: list[FieldChange]


# Filters: the names people use, as the timeline's columns hold them.
EntityType = Annotated[str | None, Query(pattern=r"^[a-z][a-z_]{0,63}$",
                                         description="e.g. task, project, time_log")]
Action = Annotated[str | None, Query(pattern=r"^[a-z][a-z_]{0,63}\.[a-z][a-z_]{0,63}$",
                                     description="e.g. task.status_changed")]
Since = Annotated[Bound | None, Query(description=f"on or after: {MOMENT_HELP}")]
Until = Annotated[Bound | None, Query(description=f"before: {MOMENT_HELP}")]
CorrelationId = Annotated[str | None, Query(max_length=200, pattern=r"^[\x20-\x7e]+$")]


@router.get(ORGANIZATION + "/activity", response_model=Page[ActivityEntry])
def organization_activity(
    organization_id: UUID, reader: Reads,
    actor_id: UUID | None = None,
    entity_type: EntityType = None,
    entity_id: UUID | None = None,
    project_id: UUID | None = None,
    action: Action = None,
    correlation_id: CorrelationId = None,
    since: Since = None,
    until: Until = None,
    limit: PageLimit = 50,
    cursor: PageCursor = None,
) -> JSONResponse:
    """What happened in the organization, newest first, as far as the caller may see
    it now."""
    role = organization_role(reader.conn, organization_id, reader.caller)
    return reader.answer(timeline.activity_page(
        reader.conn, organization_id, role, reader.caller,
        filters={"actor_id": actor_id, "entity_type": entity_type, "entity_id": entity_id,
                 "project_id": project_id, "action": action,
                 "correlation_id": correlation_id, "since": since, "until": until},
        cursor=cursor, limit=limit))


@router.get("/v1/me/activity", response_model=Page[ActivityEntry])
def my_activity(reader: Reads, limit: PageLimit = 50, cursor: PageCursor = None) -> JSONResponse:
    """What the caller did, newest first: on their account, and in the organizations
    they are a member of now, as far as their role there lets them see."""
    return reader.answer(timeline.my_activity_page(reader.conn, reader.caller,
                                                   cursor=cursor, limit=limit))


# Whether the caller may read the record of a history's row now, beyond seeing the row.
Readable = Callable[[Reader, UUID, Role, dict[str, Any]], bool]


def _history(reader: Reader, organization_id: UUID, kind: str, entity_id: UUID,
             cursor: str | None, limit: int, *, readable: Readable | None = None
             ) -> JSONResponse:
    """A record's history: 404 unless the caller sees a row of it now (and, with
    ``readable``, may read the record itself)."""
    role = organization_role(reader.conn, organization_id, reader.caller)
    filters = {"entity_type": kind, "entity_id": entity_id}
    found = timeline.activity_page(reader.conn, organization_id, role, reader.caller,
                                   filters=filters, cursor=cursor, limit=limit)
    first = _first_seen(reader, organization_id, role, filters, found, cursor)
    if first is None or (readable is not None
                         and not readable(reader, organization_id, role, first)):
        raise not_found(kind.replace("_", " "), entity_id)
    return reader.answer(found)


def _first_seen(reader: Reader, organization_id: UUID, role: Role, filters: dict[str, Any],
                found: dict[str, Any], cursor: str | None) -> dict[str, Any] | None:
    """A row of the record the caller sees, if any: the page's first, or (a page past the
    last row is empty too, and the record is still seen) the newest."""
    if found["items"] or cursor is None:
        return found["items"][0] if found["items"] else None
    newest = timeline.activity_page(reader.conn, organization_id, role, reader.caller,
                                    filters=filters, cursor=None, limit=1)["items"]
    return newest[0] if newest else None


def _message_readable(reader: Reader, organization_id: UUID, role: Role,
                      row: dict[str, Any]) -> bool:
    """A message is read by its channel's members (api/routes/channels.py get_message);
    Organizers and Managers see a channel's log without being in it, not its messages."""
    return channels.channel_access(reader.conn, organization_id, row["channel_id"],
                                   reader.caller, role) is True


@router.get(ORGANIZATION + "/history", response_model=Page[ActivityEntry])
def organization_history(organization_id: UUID, reader: Reads, limit: PageLimit = 50,
                         cursor: PageCursor = None) -> JSONResponse:
    """The organization's own history (renames, settings, members), newest first."""
    return _history(reader, organization_id, "organization", organization_id, cursor, limit)


HISTORY: dict[str, Any] = {
    "response_model": Page[ActivityEntry],
    "description": "Newest first, with what each event changed; 404 if the caller may not "
                   "see the record now."}


@router.get(ORGANIZATION + "/projects/{project_id}/history", **HISTORY)
def project_history(organization_id: UUID, project_id: UUID, reader: Reads,
                    limit: PageLimit = 50, cursor: PageCursor = None) -> JSONResponse:
    return _history(reader, organization_id, "project", project_id, cursor, limit)


@router.get(ORGANIZATION + "/tasks/{task_id}/history", **HISTORY)
def task_history(organization_id: UUID, task_id: UUID, reader: Reads,
                 limit: PageLimit = 50, cursor: PageCursor = None) -> JSONResponse:
    return _history(reader, organization_id, "task", task_id, cursor, limit)


@router.get(ORGANIZATION + "/channels/{channel_id}/history", **HISTORY)
def channel_history(organization_id: UUID, channel_id: UUID, reader: Reads,
                    limit: PageLimit = 50, cursor: PageCursor = None) -> JSONResponse:
    return _history(reader, organization_id, "channel", channel_id, cursor, limit)


@router.get(ORGANIZATION + "/messages/{message_id}/history", **HISTORY)
def message_history(organization_id: UUID, message_id: UUID, reader: Reads,
                    limit: PageLimit = 50, cursor: PageCursor = None) -> JSONResponse:
    return _history(reader, organization_id, "message", message_id, cursor, limit,
                    readable=_message_readable)


@router.get(ORGANIZATION + "/time-logs/{time_log_id}/history", **HISTORY)
def time_log_history(organization_id: UUID, time_log_id: UUID, reader: Reads,
                     limit: PageLimit = 50, cursor: PageCursor = None) -> JSONResponse:
    return _history(reader, organization_id, "time_log", time_log_id, cursor, limit)


@router.get(ORGANIZATION + "/clients/{client_id}/history", **HISTORY)
def client_history(organization_id: UUID, client_id: UUID, reader: Reads,
                   limit: PageLimit = 50, cursor: PageCursor = None) -> JSONResponse:
    return _history(reader, organization_id, "client", client_id, cursor, limit)


@router.get(ORGANIZATION + "/proposals/{proposal_id}/history", **HISTORY)
def proposal_history(organization_id: UUID, proposal_id: UUID, reader: Reads,
                     limit: PageLimit = 50, cursor: PageCursor = None) -> JSONResponse:
    return _history(reader, organization_id, "proposal", proposal_id, cursor, limit)


@router.get(ORGANIZATION + "/feedback/{feedback_id}/history", **HISTORY)
def feedback_history(organization_id: UUID, feedback_id: UUID, reader: Reads,
                     limit: PageLimit = 50, cursor: PageCursor = None) -> JSONResponse:
    return _history(reader, organization_id, "client_feedback", feedback_id, cursor, limit)


@router.get(ORGANIZATION + "/channels/{channel_id}/communication-log",
            response_model=Page[ActivityEntry])
def communication_log(organization_id: UUID, channel_id: UUID, reader: Reads,
                      limit: PageLimit = 50, cursor: PageCursor = None) -> JSONResponse:
    """The channel's lifecycle, membership and moderation (message edits and deletions),
    newest first, for those who see the channel."""
    role = organization_role(reader.conn, organization_id, reader.caller)
    if role is Role.CLIENT:
        raise not_found("channel", channel_id)
    found = timeline.communication_page(reader.conn, organization_id, role, reader.caller,
                                        channel_id, cursor=cursor, limit=limit)
    # Every channel's log starts with its creation, so an empty first page means unseen.
    if _first_seen(reader, organization_id, role,
                   {"entity_type": "channel", "entity_id": channel_id}, found, cursor) is None:
        raise not_found("channel", channel_id)
    return reader.answer(found)


# --- the live feed ---------------------------------------------------------

LastEventId = Annotated[str | None, Header(
    alias="Last-Event-ID", max_length=20, pattern=r"^[0-9]{1,19}$",
    description="resume after this log position (sent back by EventSource on reconnect)")]


@router.get(ORGANIZATION + "/activity/stream", response_class=EventSourceResponse,
            responses={200: {"description": "Server-Sent Events: one `activity` event per "
                             "entry (id = log position, data = an ActivityEntry as JSON)",
                             "content": {"text/event-stream": {"schema": {"type": "string"}}}}})
async def activity_stream(
    organization_id: UUID, request: Request, caller: Caller,
    last_event_id: LastEventId = None,
    after: Annotated[int | None, Query(ge=0, le=2**63 - 1, description=(
        "start after this log position (Last-Event-ID wins); default: from now on"))] = None,
) -> EventSourceResponse:
    """The organization's activity as it is projected, oldest first, as far as the
    caller may see it at each moment. Resumable: reconnect with ``Last-Event-ID`` (the
    last event's id, a log position) and nothing is skipped or sent twice."""
    pool = runtime_of(request).pool

    def role_and_head() -> tuple[Role | None, int]:
        with pool.connection() as conn:
            return (member_role(conn, organization_id, caller),
                    timeline.last_position(conn))

    role, head = await to_thread.run_sync(role_and_head)
    if role is None:
        raise not_found("organization", organization_id)
    start = int(last_event_id) if last_event_id is not None else after
    position = head if start is None else start

    # Set by sse-starlette when the server shuts down: the feed then ends its response
    # properly (the client reconnects elsewhere with Last-Event-ID) instead of being cut.
    shutdown = anyio.Event()

    async def events() -> AsyncIterator[ServerSentEvent]:
        nonlocal position
        while not shutdown.is_set():
            rows = await to_thread.run_sync(_feed_batch, pool, organization_id, caller,
                                            position)
            if rows is None:
                return  # no longer a member: the feed ends
            for row in rows:
                position = row["position"]
                yield ServerSentEvent(data=orjson.dumps(row).decode(), id=str(position),
                                      event="activity")
            if len(rows) < FEED_BATCH:
                with anyio.move_on_after(FEED_POLL_SECONDS):
                    await shutdown.wait()

    return EventSourceResponse(events(), ping=15, shutdown_event=shutdown,
                               shutdown_grace_period=2 * FEED_POLL_SECONDS)


def _feed_batch(pool: Any, organization_id: UUID, caller: UUID,
                position: int) -> list[dict[str, Any]] | None:
    """The next rows after ``position`` the caller sees now; None once they are no
    longer a member (their role is read again every time, so a removal takes effect at
    once)."""
    with pool.connection() as conn:
        role = member_role(conn, organization_id, caller)
        if role is None:
            return None
        return timeline.since_position(conn, organization_id, role, caller, position,
                                       FEED_BATCH)


# --- export ----------------------------------------------------------------

@router.get(ORGANIZATION + "/activity/export",
            response_class=StreamingResponse,
            responses={200: {"description": "JSON lines: one ActivityEntry per line, "
                             "oldest first",
                             "content": {"application/x-ndjson": {
                                 "schema": {"type": "string"}}}}})
def export_activity(organization_id: UUID, request: Request, reader: Reads,
                    since: Since = None, until: Until = None) -> StreamingResponse:
    """The organization's whole activity as JSON lines, for Organizers, streamed."""
    role = internal_role(reader.conn, organization_id, reader.caller)
    if role is not Role.ORGANIZER:
        raise ApiProblem(403, "forbidden", "Forbidden",
                         "only Organizers may export the organization's activity")
    pool = runtime_of(request).pool
    caller = reader.caller

    def lines() -> Iterator[bytes]:
        with pool.connection() as conn:
            for row in timeline.export_rows(conn, organization_id, caller, since=since,
                                            until=until):
                yield orjson.dumps(row) + b"\n"

    filename = f"activity-{organization_id}.jsonl"
    return StreamingResponse(lines(), media_type="application/x-ndjson", headers={
        "Content-Disposition": f'attachment; filename="{filename}"'})
