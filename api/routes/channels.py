"""Channels, their members, and their messages (newest first). Channels are the
organization's own conversation, no part of a client's portal: every read answers 404 to
the Client role (internal_role)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Literal, TypeAlias
from uuid import UUID

from fastapi import APIRouter, Body
from pydantic import BaseModel, Field, RootModel
from starlette.responses import Response

from api.access import internal_role, not_found
from api.contract import CommandAnswer, Page
from api.deps import (
    CREATES,
    Command,
    JSONResponse,
    PageCursor,
    PageLimit,
    Reader,
    Strict,
    command_response,
    reading,
)
from api.problems import problem
from api.values import ExactJSONRoute, Uuid, text
from domain.channel import MAX_NAME_LENGTH, ChannelKind, ChannelRole, DirectChannelExists
from domain.message import (
    ATTACHMENT_URL,
    MAX_ATTACHMENTS,
    MAX_CONTENT_LENGTH,
    MAX_FILE_TYPE_LENGTH,
    MAX_URL_LENGTH,
)
from projections import channels, messages
from vistone.commands import channels as commands

router = APIRouter(prefix="/v1/organizations/{organization_id}", tags=["channels"],
                   route_class=ExactJSONRoute)

Reads = Annotated[Reader, reading("organizations", "projects", "channels")]
MessageReads = Annotated[Reader, reading("organizations", "projects", "channels", "messages")]

# The most people one message mentions (mentions must be members of the channel).
MAX_MENTIONS = 200
# Text as the domain takes it (api.values.text); mypy sees plain text.
if TYPE_CHECKING:
    Name: TypeAlias = str
    Content: TypeAlias = str
    FileType: TypeAlias = str
else:
    Name = text(MAX_NAME_LENGTH)
    Content = text(MAX_CONTENT_LENGTH)
    FileType = text(MAX_FILE_TYPE_LENGTH)


class ProjectChannel(Strict):
    kind: Literal[ChannelKind.PROJECT]
    name: Name
    project_id: Uuid = Field(description="a project the caller can see and work on")

    model_config = {"json_schema_extra": {"examples": [
        {"kind": "project", "name": "apollo-launch",
         "project_id": "5b0c2f1e-8d4a-4c7e-9f3b-1a2d3c4e5f60"}]}}


class TeamChannel(Strict):
    kind: Literal[ChannelKind.TEAM]
    name: Name
    team_id: Uuid | None = None

    model_config = {"json_schema_extra": {"examples": [{"kind": "team", "name": "general"}]}}


class DirectChannel(Strict):
    kind: Literal[ChannelKind.DIRECT]
    user_id: Uuid = Field(description="the other person, a member of the organization")

    model_config = {"json_schema_extra": {"examples": [
        {"kind": "direct", "user_id": "9d7e6f5a-4b3c-4d2e-8f1a-0b9c8d7e6f5a"}]}}


class CreateChannel(RootModel[Annotated[ProjectChannel | TeamChannel | DirectChannel,
                                        Field(discriminator="kind")]]):
    """A project channel (named, for a project), a team channel (named) or a direct
    channel (with one other person); ``kind`` says which, and which fields go with it."""

    model_config = {"json_schema_extra": {"examples": [
        {"kind": "team", "name": "general"}]}}


class AddChannelMember(Strict):
    user_id: Uuid | None = Field(default=None, description="omit to join yourself")


# The body is optional (no body: join), so its examples sit on the body, not the model.
ADD_MEMBER_EXAMPLES = {
    "add": {"summary": "add someone",
            "value": {"user_id": "9d7e6f5a-4b3c-4d2e-8f1a-0b9c8d7e6f5a"}},
    "join": {"summary": "join yourself", "value": {}},
}


class Attachment(Strict):
    url: str = Field(max_length=MAX_URL_LENGTH, pattern=f"^{ATTACHMENT_URL}$",
                     description="an http or https URL")
    file_type: FileType


class PostMessage(Strict):
    content: Content
    mentions: list[Uuid] = Field(default_factory=list, max_length=MAX_MENTIONS,
                                 description="members of the channel")
    attachments: list[Attachment] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)

    model_config = {"json_schema_extra": {"examples": [
        {"content": "The launch plan is ready for review",
         "mentions": ["9d7e6f5a-4b3c-4d2e-8f1a-0b9c8d7e6f5a"],
         "attachments": [{"url": "https://files.example.com/launch-plan.pdf",
                          "file_type": "application/pdf"}]}]}}


class EditMessage(Strict):
    content: Content

    model_config = {"json_schema_extra": {"examples": [
        {"content": "The launch plan (v2) is ready for review"}]}}


class ChannelMember(BaseModel):
    user_id: UUID
    role: ChannelRole
    joined_at: datetime


class ChannelView(BaseModel):
    id: UUID
    organization_id: UUID
    kind: ChannelKind
    name: str | None = Field(description="null for a direct channel")
    project_id: UUID | None
    team_id: UUID | None
    created_by: UUID | None
    created_at: datetime
    updated_at: datetime
    version: int
    members: list[ChannelMember] = Field(description="in the order they joined")
    is_member: bool = Field(description="whether the caller is a member")


class AttachmentView(BaseModel):
    url: str
    file_type: str


class MessageView(BaseModel):
    id: UUID
    channel_id: UUID
    organization_id: UUID
    sender_id: UUID
    content: str | None = Field(description="null once the message is deleted")
    created_at: datetime
    edited_at: datetime | None
    deleted_at: datetime | None
    version: int
    mentions: list[UUID]
    attachments: list[AttachmentView]
    deleted: bool


# --- commands ---------------------------------------------------------------

@router.post("/channels", status_code=201, dependencies=CREATES, response_model=CommandAnswer,
             responses={409: {"description": "The pair already has a direct channel (the "
                                             "problem's channel_id names it), or a rule "
                                             "refused the command"}})
def create_channel(organization_id: UUID, body: CreateChannel, command: Command) -> Response:
    channel = body.root
    try:
        result = commands.create_channel(
            command, organization_id, kind=channel.kind,
            name=None if isinstance(channel, DirectChannel) else channel.name,
            project_id=channel.project_id if isinstance(channel, ProjectChannel) else None,
            team_id=channel.team_id if isinstance(channel, TeamChannel) else None,
            user_id=channel.user_id if isinstance(channel, DirectChannel) else None)
    except DirectChannelExists as e:
        return problem(409, e.code, type(e).__name__, e.message, field=e.field,
                       channel_id=str(e.channel_id))
    return command_response(result, 201)


@router.post("/channels/{channel_id}/members", status_code=201, response_model=CommandAnswer)
def add_channel_member(
    organization_id: UUID, channel_id: UUID, command: Command,
    body: Annotated[AddChannelMember | None, Body(openapi_examples=ADD_MEMBER_EXAMPLES)] = None,
) -> JSONResponse:
    """Join the channel (no body, or no ``user_id``), or add someone to it."""
    user_id = body.user_id if body is not None else None
    return command_response(
        commands.add_channel_member(command, organization_id, channel_id, user_id), 201)


@router.delete("/channels/{channel_id}/members/{user_id}", response_model=CommandAnswer)
def remove_channel_member(organization_id: UUID, channel_id: UUID, user_id: UUID,
                          command: Command) -> JSONResponse:
    """Leave the channel (your own ``user_id``) or remove someone (its owner, an
    Organizer or a Manager)."""
    return command_response(
        commands.remove_channel_member(command, organization_id, channel_id, user_id))


@router.post("/channels/{channel_id}/messages", status_code=201, dependencies=CREATES,
             response_model=CommandAnswer)
def post_message(organization_id: UUID, channel_id: UUID, body: PostMessage,
                 command: Command) -> JSONResponse:
    result = commands.post_message(
        command, organization_id, channel_id, content=body.content, mentions=body.mentions,
        attachments=[a.model_dump() for a in body.attachments])
    return command_response(result, 201)


@router.patch("/messages/{message_id}", response_model=CommandAnswer)
def edit_message(organization_id: UUID, message_id: UUID, body: EditMessage,
                 command: Command) -> JSONResponse:
    """Only the sender edits a message, while it is not deleted."""
    return command_response(
        commands.edit_message(command, organization_id, message_id, content=body.content))


@router.delete("/messages/{message_id}", response_model=CommandAnswer)
def delete_message(organization_id: UUID, message_id: UUID, command: Command) -> JSONResponse:
    return command_response(commands.delete_message(command, organization_id, message_id))


# --- queries ----------------------------------------------------------------

@router.get("/channels", response_model=Page[ChannelView])
def list_channels(
    organization_id: UUID, reader: Reads,
    kind: ChannelKind | None = None,
    project_id: UUID | None = None,
    limit: PageLimit = 50,
    cursor: PageCursor = None,
) -> JSONResponse:
    """The channels the caller sees, oldest first: direct channels they are in, team
    channels, and the channels of the projects they see."""
    role = internal_role(reader.conn, organization_id, reader.caller)
    return reader.answer(channels.visible_channels(
        reader.conn, organization_id, reader.caller, role, kind=kind, project_id=project_id,
        cursor=cursor, limit=limit))


@router.get("/channels/{channel_id}", response_model=ChannelView)
def get_channel(organization_id: UUID, channel_id: UUID, reader: Reads) -> JSONResponse:
    role = internal_role(reader.conn, organization_id, reader.caller)
    found = channels.visible_channel(reader.conn, organization_id, channel_id, reader.caller,
                                     role)
    if found is None:
        raise not_found("channel", channel_id)
    return reader.answer(found, ETag=f'"{found["version"]}"')


@router.get("/channels/{channel_id}/members", response_model=Page[ChannelMember])
def list_channel_members(
    organization_id: UUID, channel_id: UUID, reader: Reads,
    limit: PageLimit = 50,
    cursor: PageCursor = None,
) -> JSONResponse:
    """The channel's members in the order they joined, for anyone who sees the channel."""
    role = internal_role(reader.conn, organization_id, reader.caller)
    if channels.channel_access(reader.conn, organization_id, channel_id, reader.caller,
                               role) is None:
        raise not_found("channel", channel_id)
    return reader.answer(channels.members(reader.conn, channel_id, cursor=cursor, limit=limit))


@router.get("/channels/{channel_id}/messages", response_model=Page[MessageView])
def list_messages(
    organization_id: UUID, channel_id: UUID, reader: MessageReads,
    limit: PageLimit = 50,
    cursor: PageCursor = None,
) -> JSONResponse:
    """Newest first. Only the channel's members read it (and, for a project channel,
    only while they can see the project); anyone else gets 404."""
    role = internal_role(reader.conn, organization_id, reader.caller)
    if not channels.channel_access(reader.conn, organization_id, channel_id, reader.caller,
                                   role):
        raise not_found("channel", channel_id)
    return reader.answer(messages.channel_messages(reader.conn, channel_id, cursor=cursor,
                                                   limit=limit))


@router.get("/messages/{message_id}", response_model=MessageView)
def get_message(organization_id: UUID, message_id: UUID, reader: MessageReads) -> JSONResponse:
    """One message (a deleted one as its tombstone), for those who may read its channel."""
    role = internal_role(reader.conn, organization_id, reader.caller)
    found = messages.message(reader.conn, organization_id, message_id)
    if found is None or not channels.channel_access(
            reader.conn, organization_id, found["channel_id"], reader.caller, role):
        raise not_found("message", message_id)
    return reader.answer(found, ETag=f'"{found["version"]}"')
