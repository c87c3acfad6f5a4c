"""Channel: a place to talk, for a project, a team, or exactly two people.

Messages are not part of this aggregate (see domain/message.py): a channel holds
only who may talk in it, so its history stays short (and is snapshotted) however
many messages are posted, and posting never loads the conversation.

A direct channel is unique per pair inside an organization: its id is derived from
the organization and the sorted pair, so two concurrent creations write version 1
of the same aggregate and the event store lets exactly one of them in.
"""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.base import (
    AlreadyExists,
    Forbidden,
    InvalidValue,
    NotFound,
    RuleViolation,
    derived_id,
    require_text,
)
from domain.roles import SEES_ALL_PROJECTS, Permission, Role, require

MAX_NAME_LENGTH = 100


class ChannelKind(StrEnum):
    PROJECT = "project"
    TEAM = "team"
    DIRECT = "direct"


class ChannelRole(StrEnum):
    OWNER = "owner"
    MEMBER = "member"


class AlreadyChannelMember(RuleViolation):
    code = "already-channel-member"


class NotChannelMember(NotFound):
    code = "not-channel-member"


class DirectChannelMembershipFixed(RuleViolation):
    """A direct channel joins exactly its two people, for good."""

    code = "direct-channel-membership-fixed"


class DirectChannelExists(AlreadyExists):
    """The pair already has a direct channel in this organization; here is its id."""

    code = "direct-channel-exists"

    def __init__(self, channel_id: UUID) -> None:
        super().__init__("these two people already have a direct channel", field="user_id")
        self.channel_id = channel_id


def direct_channel_id(organization_id: UUID, a: UUID, b: UUID) -> UUID:
    return derived_id("direct-channel", organization_id, *sorted([str(a), str(b)]))


class Channel(Aggregate):
    @event("Created")
    def __init__(
        self,
        id: UUID,
        organization_id: UUID,
        kind: str,
        name: str | None,
        project_id: UUID | None,
        team_id: UUID | None,
        members: dict[str, str],
        meta: dict,
    ) -> None:
        self.organization_id = organization_id
        self.kind = kind
        self.name = name
        self.project_id = project_id
        self.team_id = team_id
        # str keys and role values keep the state JSON-snapshot safe.
        self.members: dict[str, str] = dict(members)

    @classmethod
    def create_project_channel(cls, id: UUID, organization_id: UUID, project_id: UUID,
                               name: str, creator_id: UUID, meta: dict) -> Channel:
        return cls(id=id, organization_id=organization_id, kind=ChannelKind.PROJECT.value,
                   name=require_text(name, "name", max_length=MAX_NAME_LENGTH),
                   project_id=project_id, team_id=None,
                   members={str(creator_id): ChannelRole.OWNER.value}, meta=meta)

    @classmethod
    def create_team_channel(cls, id: UUID, organization_id: UUID, name: str,
                            creator_id: UUID, meta: dict, team_id: UUID | None = None) -> Channel:
        return cls(id=id, organization_id=organization_id, kind=ChannelKind.TEAM.value,
                   name=require_text(name, "name", max_length=MAX_NAME_LENGTH),
                   project_id=None, team_id=team_id,
                   members={str(creator_id): ChannelRole.OWNER.value}, meta=meta)

    @classmethod
    def create_direct_channel(cls, organization_id: UUID, a: UUID, b: UUID,
                              meta: dict) -> Channel:
        if a == b:
            raise InvalidValue("a direct channel joins two different people", field="user_id")
        return cls(id=direct_channel_id(organization_id, a, b), organization_id=organization_id,
                   kind=ChannelKind.DIRECT.value, name=None, project_id=None, team_id=None,
                   members={str(a): ChannelRole.MEMBER.value, str(b): ChannelRole.MEMBER.value},
                   meta=meta)

    # --- state queries ----------------------------------------------------
    @property
    def is_direct(self) -> bool:
        return self.kind == ChannelKind.DIRECT.value

    def is_member(self, user_id: UUID) -> bool:
        return str(user_id) in self.members

    def is_owner(self, user_id: UUID) -> bool:
        return self.members.get(str(user_id)) == ChannelRole.OWNER.value

    def member_ids(self) -> frozenset[str]:
        return frozenset(self.members)

    # --- commands ---------------------------------------------------------
    def join(self, user_id: UUID, meta: dict) -> None:
        if self.is_direct:
            raise DirectChannelMembershipFixed("nobody can join a direct channel")
        if self.is_member(user_id):
            raise AlreadyChannelMember("already a member of this channel", field="user_id")
        self._joined(user_id=user_id, role=ChannelRole.MEMBER.value, meta=meta)

    @event("MemberJoined")
    def _joined(self, user_id: UUID, role: str, meta: dict) -> None:
        self.members[str(user_id)] = role

    def leave(self, user_id: UUID, meta: dict) -> None:
        if self.is_direct:
            raise DirectChannelMembershipFixed("nobody can leave a direct channel")
        if not self.is_member(user_id):
            raise NotChannelMember("not a member of this channel", field="user_id")
        self._left(user_id=user_id, meta=meta)

    def remove(self, user_id: UUID, *, by: UUID, role: Role, meta: dict) -> None:
        """``by``, whose organization role is ``role``, takes ``user_id`` out of the
        channel. Anyone who may write work may leave; only the channel's owner, an
        Organizer or a Manager removes someone else. Organizers and Managers oversee every
        channel but the direct ones, which stay private to their two people: for anyone
        else outside the channel it does not exist."""
        if not self.is_member(by) and (self.is_direct or role not in SEES_ALL_PROJECTS):
            raise NotFound(f"channel {self.id} not found")
        require(role, Permission.WRITE_WORK)  # a Client writes nothing, leaving included
        if user_id != by and not self.is_owner(by) and role not in SEES_ALL_PROJECTS:
            raise Forbidden("only the channel's owner, an Organizer or a Manager can remove "
                            "someone else", field="user_id")
        self.leave(user_id, meta)

    @event("MemberLeft")
    def _left(self, user_id: UUID, meta: dict) -> None:
        del self.members[str(user_id)]
