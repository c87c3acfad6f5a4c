"""Channels, their members, and their messages (newest first)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Query, Request
from psycopg import Connection
from pydantic import Field
from starlette.responses import Response

from api.access import not_found, organization_role
from api.deps import (
    CREATES,
    MAX_CURSOR_LENGTH,
    Caller,
    JSONResponse,
    Strict,
    as_datetime,
    as_uuid,
    command_of,
    command_response,
    page,
    parse_cursor,
    read_consistency,
    runtime_of,
)
from api.problems import problem
from api.values import ExactJSONRoute, Uuid
from domain.channel import DirectChannelExists, parse_kind
from domain.message import MAX_ATTACHMENTS, MAX_CONTENT_LENGTH
from domain.roles import Role
from projections.projects import visible_projects_sql
from vistone.commands import channels as commands

router = APIRouter(prefix="/v1/organizations/{organization_id}", tags=["channels"],
                   route_class=ExactJSONRoute)

CHANNEL_MODELS = ["organizations", "projects", "channels"]
MESSAGE_MODELS = CHANNEL_MODELS + ["messages"]
CHANNEL_COLUMNS = ("id", "organization_id", "kind", "name", "project_id", "team_id",
                   "created_by", "created_at", "updated_at", "version")


class CreateChannel(Strict):
    kind: str = Field(max_length=20)
    name: str | None = Field(default=None, max_length=100)
    project_id: Uuid | None = None
    team_id: Uuid | None = None
    user_id: Uuid | None = Field(default=None, description="the other person (direct)")


class AddChannelMember(Strict):
    user_id: Uuid | None = Field(default=None, description="omit to join yourself")


class Attachment(Strict):
    url: str = Field(max_length=2048)
    file_type: str = Field(max_length=100)


class PostMessage(Strict):
    # The domain owns the length rule (MessageTooLong); this bound only stops abuse.
    content: str = Field(max_length=MAX_CONTENT_LENGTH * 4)
    mentions: list[Uuid] = Field(default_factory=list, max_length=200)
    attachments: list[Attachment] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)


class EditMessage(Strict):
    content: str = Field(max_length=MAX_CONTENT_LENGTH * 4)


# --- commands ---------------------------------------------------------------

@router.post("/channels", status_code=201, dependencies=CREATES)
def create_channel(organization_id: UUID, body: CreateChannel, request: Request,
                   caller: Caller) -> Response:
    try:
        result = commands.create_channel(command_of(request, caller), organization_id,
            kind=parse_kind(body.kind), name=body.name, project_id=body.project_id,
            team_id=body.team_id, user_id=body.user_id,
        )
    except DirectChannelExists as e:
        return problem(409, e.code, type(e).__name__, e.message, field=e.field,
                       channel_id=str(e.channel_id))
    return command_response(result, 201)


@router.post("/channels/{channel_id}/members", status_code=201)
def add_channel_member(organization_id: UUID, channel_id: UUID, request: Request,
                       caller: Caller, body: AddChannelMember | None = None) -> JSONResponse:
    user_id = body.user_id if body is not None and body.user_id is not None else caller
    result = commands.add_channel_member(command_of(request, caller), organization_id, channel_id,
        user_id,
    )
    return command_response(result, 201)


@router.delete("/channels/{channel_id}/members/{user_id}")
def remove_channel_member(organization_id: UUID, channel_id: UUID, user_id: UUID,
                          request: Request, caller: Caller) -> JSONResponse:
    result = commands.remove_channel_member(command_of(request, caller), organization_id, channel_id,
        user_id,
    )
    return command_response(result)


@router.post("/channels/{channel_id}/messages", status_code=201, dependencies=CREATES)
def post_message(organization_id: UUID, channel_id: UUID, body: PostMessage,
                 request: Request, caller: Caller) -> JSONResponse:
    result = commands.post_message(command_of(request, caller), organization_id, channel_id,
        content=body.content, mentions=body.mentions,
        attachments=[a.model_dump() for a in body.attachments],
    )
    return command_response(result, 201)


@router.patch("/messages/{message_id}")
def edit_message(organization_id: UUID, message_id: UUID, body: EditMessage,
                 request: Request, caller: Caller) -> JSONResponse:
    result = commands.edit_message(command_of(request, caller), organization_id, message_id,
        content=body.content,
    )
    return command_response(result)


@router.delete("/messages/{message_id}")
def delete_message(organization_id: UUID, message_id: UUID, request: Request,
                   caller: Caller) -> JSONResponse:
    result = commands.delete_message(command_of(request, caller), organization_id, message_id,
    )
    return command_response(result)


# --- queries ----------------------------------------------------------------

def _visible_channels_sql(role: Role) -> str:
    """Channels the caller sees (alias ``c``; parameters: caller, caller, caller):
    direct channels they are in, team channels (internal roles, or members), and the
    channels of projects they can see."""
    projects = visible_projects_sql(role).format(alias="c")
    team_open = "TRUE" if role is not Role.CLIENT else "FALSE"
    member = ("EXISTS (SELECT 1 FROM communication.channel_members cm "
              "WHERE cm.channel_id = c.id AND cm.user_id = %s)")
    return (f"((c.kind = 'direct' AND {member}) "
            f"OR (c.kind = 'team' AND ({team_open} OR {member})) "
            f"OR (c.kind = 'project' AND {projects}))")




def _members_of(conn: Connection[Any], channel_ids: list[UUID]) -> dict[UUID, list[dict]]:
    rows = conn.execute(
        "SELECT channel_id, user_id, role, joined_at FROM communication.channel_members "
        "WHERE channel_id = ANY(%s) ORDER BY joined_at, user_id", (channel_ids,),
    ).fetchall()
    members: dict[UUID, list[dict]] = {cid: [] for cid in channel_ids}
    for channel_id, user_id, role, joined_at in rows:
        members[channel_id].append({"user_id": user_id, "role": role, "joined_at": joined_at})
    return members


@router.get("/channels")
def list_channels(
    organization_id: UUID, request: Request, caller: Caller,
    kind: str | None = Query(default=None, max_length=20),
    project_id: UUID | None = None,
    limit: int = Query(default=50, ge=1, le=200),
    cursor: str | None = Query(default=None, max_length=MAX_CURSOR_LENGTH),
) -> JSONResponse:
    headers = read_consistency(request, CHANNEL_MODELS)
    kind_filter = parse_kind(kind).value if kind else None
    after_at, after_id = parse_cursor(cursor, as_datetime, as_uuid) or (None, None)
    with runtime_of(request).pool.connection() as conn:
        role = organization_role(conn, organization_id, caller)
        rows = conn.execute(
            f"SELECT {', '.join('c.' + c for c in CHANNEL_COLUMNS)} "
            "FROM communication.channels c WHERE c.organization_id = %s "
            f"AND {_visible_channels_sql(role)} "
            "AND (%s::text IS NULL OR c.kind = %s) AND (%s::uuid IS NULL OR c.project_id = %s) "
            "AND (%s::timestamptz IS NULL OR (c.created_at, c.id) > (%s, %s)) "
            "ORDER BY c.created_at, c.id LIMIT %s",
            (organization_id, caller, caller, caller, kind_filter, kind_filter,
             project_id, project_id, after_at, after_at, after_id, limit + 1),
        ).fetchall()
        items = [dict(zip(CHANNEL_COLUMNS, r, strict=True)) for r in rows]
        members = _members_of(conn, [i["id"] for i in items])
    for item in items:
        item["members"] = members[item["id"]]
        item["is_member"] = any(m["user_id"] == caller for m in item["members"])
    return page(items, limit, lambda i: [i["created_at"].isoformat(), str(i["id"])], headers)


def _visible_channel(conn: Connection[Any], organization_id: UUID, channel_id: UUID,
                     caller: UUID) -> dict[str, Any]:
    role = organization_role(conn, organization_id, caller)
    row = conn.execute(
        f"SELECT {', '.join('c.' + c for c in CHANNEL_COLUMNS)} "
        "FROM communication.channels c WHERE c.organization_id = %s AND c.id = %s "
        f"AND {_visible_channels_sql(role)}",
        (organization_id, channel_id, caller, caller, caller),
    ).fetchone()
    if row is None:
        raise not_found("channel", channel_id)
    return dict(zip(CHANNEL_COLUMNS, row, strict=True))


@router.get("/channels/{channel_id}")
def get_channel(organization_id: UUID, channel_id: UUID, request: Request,
                caller: Caller) -> JSONResponse:
    headers = read_consistency(request, CHANNEL_MODELS)
    with runtime_of(request).pool.connection() as conn:
        channel = _visible_channel(conn, organization_id, channel_id, caller)
        channel["members"] = _members_of(conn, [channel_id])[channel_id]
    channel["is_member"] = any(m["user_id"] == caller for m in channel["members"])
    return JSONResponse(channel,
                        headers={**headers, "ETag": f'"{channel["version"]}"'})


MESSAGE_COLUMNS = ("id", "channel_id", "sender_id", "content", "created_at", "edited_at",
                   "deleted_at", "version")


@router.get("/channels/{channel_id}/messages")
def list_messages(
    organization_id: UUID, channel_id: UUID, request: Request, caller: Caller,
    limit: int = Query(default=50, ge=1, le=200),
    cursor: str | None = Query(default=None, max_length=MAX_CURSOR_LENGTH),
) -> JSONResponse:
    """Newest first. Only the channel's members read it (and, for a project channel,
    only while they can see the project); anyone else gets 404."""
    headers = read_consistency(request, MESSAGE_MODELS)
    before_at, before_id = parse_cursor(cursor, as_datetime, as_uuid) or (None, None)
    with runtime_of(request).pool.connection() as conn:
        _visible_channel(conn, organization_id, channel_id, caller)
        is_member = conn.execute(
            "SELECT 1 FROM communication.channel_members WHERE channel_id = %s AND user_id = %s",
            (channel_id, caller),
        ).fetchone()
        if is_member is None:
            raise not_found("channel", channel_id)
        rows = conn.execute(
            f"SELECT {', '.join(MESSAGE_COLUMNS)} FROM communication.messages "
            "WHERE channel_id = %s "
            "AND (%s::timestamptz IS NULL OR (created_at, id) < (%s, %s)) "
            "ORDER BY created_at DESC, id DESC LIMIT %s",
            (channel_id, before_at, before_at, before_id, limit + 1),
        ).fetchall()
        items = [dict(zip(MESSAGE_COLUMNS, r, strict=True)) for r in rows]
        ids = [i["id"] for i in items]
        mentions = conn.execute(
            "SELECT message_id, user_id FROM communication.message_mentions "
            "WHERE message_id = ANY(%s) ORDER BY user_id", (ids,),
        ).fetchall()
        attachments = conn.execute(
            "SELECT message_id, url, file_type FROM communication.message_attachments "
            "WHERE message_id = ANY(%s) ORDER BY position", (ids,),
        ).fetchall()
    by_id = {i["id"]: i for i in items}
    for item in items:
        item.update(mentions=[], attachments=[], deleted=item["deleted_at"] is not None)
    for message_id, user_id in mentions:
        by_id[message_id]["mentions"].append(user_id)
    for message_id, url, file_type in attachments:
        by_id[message_id]["attachments"].append({"url": url, "file_type": file_type})
    return page(items, limit, lambda i: [i["created_at"].isoformat(), str(i["id"])], headers)
