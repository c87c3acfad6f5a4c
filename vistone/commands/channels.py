"""Channels and messages.

Posting loads the Channel (membership, snapshotted), the Organization (the poster's
role) and, for a project channel, the Project (the poster must still see it): a fixed
number of small aggregates, never the channel's messages.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID, uuid4

from domain.base import CommandContext, Forbidden, InvalidValue, NotFound
from domain.channel import Channel, ChannelKind, DirectChannelExists, direct_channel_id
from domain.message import Message
from domain.roles import SEES_ALL_PROJECTS, Permission, require
from vistone.app import Command, CommandResult, UnitOfWork
from vistone.commands.access import authorize, member_role, project_access, require_actor


def create_channel(
    command: Command, organization_id: UUID, *, kind: ChannelKind,
    name: str | None = None, project_id: UUID | None = None, team_id: UUID | None = None,
    user_id: UUID | None = None,
) -> CommandResult:
    """A project channel (``project_id``), a team channel (``team_id`` optional) or a
    direct channel between the actor and ``user_id``. A second direct channel for the
    same pair raises DirectChannelExists naming the first."""
    command = command.in_organization(organization_id)
    ctx = command.ctx
    actor = require_actor(ctx)
    channel_id = uuid4()

    def decide(uow: UnitOfWork) -> Channel:
        if kind is ChannelKind.PROJECT:
            if project_id is None:
                raise InvalidValue("a project channel needs a project_id", field="project_id")
            project, _ = project_access(uow, ctx, project_id, Permission.WRITE_WORK)
            project.require_writable()
            return uow.add(Channel.create_project_channel(
                channel_id, organization_id, project_id, name or "", actor, ctx.meta))
        organization, _ = authorize(uow, ctx, organization_id, Permission.WRITE_WORK)
        if kind is ChannelKind.TEAM:
            return uow.add(Channel.create_team_channel(
                channel_id, organization_id, name or "", actor, ctx.meta, team_id=team_id))
        if user_id is None:
            raise InvalidValue("a direct channel needs the other person's user_id",
                               field="user_id")
        if organization.role_of(user_id) is None:
            raise NotFound(f"user {user_id} is not a member of this organization",
                           field="user_id")
        existing = uow.find(Channel, direct_channel_id(organization_id, actor, user_id))
        if existing is not None:
            raise DirectChannelExists(existing.id)
        return uow.add(Channel.create_direct_channel(organization_id, actor, user_id, ctx.meta))

    return command.execute(decide)


def join_channel(command: Command, organization_id: UUID, channel_id: UUID) -> CommandResult:
    command = command.in_organization(organization_id)
    ctx = command.ctx
    actor = require_actor(ctx)

    def decide(uow: UnitOfWork) -> Channel:
        authorize(uow, ctx, organization_id, Permission.WRITE_WORK)
        channel = _channel(uow, organization_id, channel_id)
        if channel.is_direct and not channel.is_member(actor):
            raise NotFound(f"channel {channel_id} not found")
        if channel.project_id is not None:
            project_access(uow, ctx, channel.project_id, Permission.READ)
        channel.join(actor, ctx.meta)
        return channel

    return command.execute(decide)


def add_channel_member(
    command: Command, organization_id: UUID, channel_id: UUID, user_id: UUID | None = None,
) -> CommandResult:
    """An existing member who may write work adds someone from the organization (for a
    project channel, someone who can see the project); without ``user_id`` (or with
    their own) the actor joins."""
    actor = require_actor(command.ctx)
    if user_id is None or user_id == actor:
        return join_channel(command, organization_id, channel_id)
    command = command.in_organization(organization_id)
    ctx = command.ctx

    def decide(uow: UnitOfWork) -> Channel:
        organization, _ = authorize(uow, ctx, organization_id, Permission.WRITE_WORK)
        channel = _readable_channel(uow, ctx, organization_id, channel_id)
        target_role = organization.role_of(user_id)
        if target_role is None:
            raise NotFound(f"user {user_id} is not a member of this organization",
                           field="user_id")
        if channel.project_id is not None and channel.kind == ChannelKind.PROJECT.value:
            project, _ = project_access(uow, ctx, channel.project_id, Permission.READ)
            if target_role not in SEES_ALL_PROJECTS and not project.is_member(user_id):
                raise Forbidden("the user cannot see this channel's project", field="user_id")
        channel.join(user_id, ctx.meta)
        return channel

    return command.execute(decide)


def remove_channel_member(
    command: Command, organization_id: UUID, channel_id: UUID, user_id: UUID,
) -> CommandResult:
    """Leave (``user_id`` is the actor) or remove someone: ``Channel.remove`` says who
    may."""
    command = command.in_organization(organization_id)
    ctx = command.ctx
    actor = require_actor(ctx)

    def decide(uow: UnitOfWork) -> Channel:
        _, role = member_role(uow, ctx, organization_id)
        channel = _channel(uow, organization_id, channel_id)
        channel.remove(user_id, by=actor, role=role, meta=ctx.meta)
        return channel

    return command.execute(decide)


def post_message(
    command: Command, organization_id: UUID, channel_id: UUID, *,
    content: str, mentions: Iterable[UUID] = (), attachments: Iterable[dict[str, Any]] = (),
) -> CommandResult:
    command = command.in_organization(organization_id)
    ctx = command.ctx
    actor = require_actor(ctx)
    message_id = uuid4()
    mentions, attachments = list(mentions), list(attachments)

    def decide(uow: UnitOfWork) -> Message:
        _, role = member_role(uow, ctx, organization_id)
        channel = _readable_channel(uow, ctx, organization_id, channel_id)
        require(role, Permission.WRITE_WORK)
        return uow.add(Message.post(
            message_id, channel.id, organization_id, actor, content, channel.member_ids(),
            ctx.meta, mentions=mentions, attachments=attachments))

    return command.execute(decide)


def edit_message(
    command: Command, organization_id: UUID, message_id: UUID, *, content: str,
) -> CommandResult:
    command = command.in_organization(organization_id)
    ctx = command.ctx
    actor = require_actor(ctx)

    def decide(uow: UnitOfWork) -> Message:
        message = _message(uow, ctx, organization_id, message_id)
        message.edit(actor, content, ctx.meta)
        return message

    return command.execute(decide)


def delete_message(command: Command, organization_id: UUID, message_id: UUID) -> CommandResult:
    command = command.in_organization(organization_id)
    ctx = command.ctx
    actor = require_actor(ctx)

    def decide(uow: UnitOfWork) -> Message:
        message = _message(uow, ctx, organization_id, message_id)
        message.delete(actor, ctx.meta)
        return message

    return command.execute(decide)


def _channel(uow: UnitOfWork, organization_id: UUID, channel_id: UUID) -> Channel:
    channel = uow.find(Channel, channel_id)
    if channel is None or channel.organization_id != organization_id:
        raise NotFound(f"channel {channel_id} not found")
    return channel


def _readable_channel(uow: UnitOfWork, ctx: CommandContext, organization_id: UUID,
                      channel_id: UUID) -> Channel:
    """The channel, if the actor is in it and (for a project channel) still sees the
    project; anything else is a 404, as for another tenant's channel."""
    channel = _channel(uow, organization_id, channel_id)
    if ctx.actor_id is None or not channel.is_member(ctx.actor_id):
        raise NotFound(f"channel {channel_id} not found")
    if channel.kind == ChannelKind.PROJECT.value and channel.project_id is not None:
        try:
            project_access(uow, ctx, channel.project_id, Permission.READ)
        except NotFound:
            raise NotFound(f"channel {channel_id} not found") from None
    return channel


def _message(uow: UnitOfWork, ctx: CommandContext, organization_id: UUID,
             message_id: UUID) -> Message:
    _, role = member_role(uow, ctx, organization_id)
    message = uow.find(Message, message_id)
    if message is None or message.organization_id != organization_id:
        raise NotFound(f"message {message_id} not found")
    try:
        # A sender who left the channel (or lost the project) no longer reaches it.
        _readable_channel(uow, ctx, organization_id, message.channel_id)
    except NotFound:
        raise NotFound(f"message {message_id} not found") from None
    require(role, Permission.WRITE_WORK)
    return message

