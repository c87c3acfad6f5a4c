"""communication.channels and communication.channel_members."""

from __future__ import annotations

from typing import Any

from psycopg import Cursor

from domain.channel import Channel
from projections.base import ReadModel, handles, with_first


class ChannelsReadModel(ReadModel):
    name = "channels"
    schema = "communication"
    ddl = (
        """CREATE TABLE channels (
            id uuid PRIMARY KEY,
            organization_id uuid NOT NULL,
            kind text NOT NULL,
            name text,
            project_id uuid,
            team_id uuid,
            created_by uuid,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            version bigint NOT NULL
        )""",
        "CREATE INDEX channels_organization "
        "ON channels (organization_id, created_at, id)",
        "CREATE INDEX channels_project ON channels (project_id)",
        """CREATE TABLE channel_members (
            channel_id uuid NOT NULL,
            user_id uuid NOT NULL,
            role text NOT NULL,
            joined_at timestamptz NOT NULL,
            PRIMARY KEY (channel_id, user_id)
        )""",
        "CREATE INDEX channel_members_user "
        "ON channel_members (user_id)",
    )
    tables = ("channels", "channel_members")

    def _touch(self, cur: Cursor[Any], e: Any, *, first: str | None = None,
               first_params: tuple = ()) -> None:
        """Update the channel's row; ``first`` (a write to the members) goes in the same
        statement."""
        cur.execute(
            with_first(first, "UPDATE channels SET updated_at = %s, version = %s WHERE id = %s"),
            (*first_params, e.timestamp, e.originator_version, e.originator_id),
        )

    @handles(Channel.Created)
    def _created(self, cur: Cursor[Any], e: Any) -> None:
        actor = (e.meta or {}).get("actor_id")
        cur.execute(
            "INSERT INTO channels (id, organization_id, kind, name, project_id, "
            "team_id, created_by, created_at, updated_at, version) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (e.originator_id, e.organization_id, e.kind, e.name, e.project_id, e.team_id,
             actor, e.timestamp, e.timestamp, e.originator_version),
        )
        for user_id, role in sorted(e.members.items()):
            cur.execute(
                "INSERT INTO channel_members VALUES (%s, %s, %s, %s)",
                (e.originator_id, user_id, role, e.timestamp),
            )

    @handles(Channel.MemberJoined)
    def _joined(self, cur: Cursor[Any], e: Any) -> None:
        self._touch(cur, e, first=(
            "INSERT INTO channel_members VALUES (%s, %s, %s, %s)"
        ), first_params=(e.originator_id, e.user_id, e.role, e.timestamp))

    @handles(Channel.MemberLeft)
    def _left(self, cur: Cursor[Any], e: Any) -> None:
        self._touch(cur, e, first=(
            "DELETE FROM channel_members WHERE channel_id = %s AND user_id = %s"
        ), first_params=(e.originator_id, e.user_id))
