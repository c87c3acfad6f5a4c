"""communication.channels and communication.channel_members, and the queries that read
them: which channels a caller sees, one channel, and a channel's members."""

from __future__ import annotations

from typing import Any

from psycopg import Connection, Cursor

from domain.channel import Channel, ChannelKind
from domain.roles import Role
from projections.base import ReadModel, handles
from projections.paging import Order
from projections.projects import visible_projects_sql
from projections.table import Table

CHANNELS = Table("communication", "channels", {
    "id": "uuid PRIMARY KEY",
    "organization_id": "uuid NOT NULL",
    "kind": "text NOT NULL",
    "name": "text",
    "project_id": "uuid",
    "team_id": "uuid",
    "created_by": "uuid",
    "created_at": "timestamptz NOT NULL",
    "updated_at": "timestamptz NOT NULL",
    "version": "bigint NOT NULL",
})

CHANNEL_MEMBERS = Table("communication", "channel_members", {
    "channel_id": "uuid NOT NULL",
    "user_id": "uuid NOT NULL",
    "role": "text NOT NULL",
    "joined_at": "timestamptz NOT NULL",
}, constraints=("PRIMARY KEY (channel_id, user_id)",), hidden=("channel_id",))

MEMBER_COLUMNS = ("channel_id", "user_id", "role", "joined_at")

# Channels in the order they were opened; members in the order they joined.
OLDEST_FIRST = Order((("created_at", "timestamptz"), ("id", "uuid")))
BY_JOINING = Order((("joined_at", "timestamptz"), ("user_id", "uuid")))


class ChannelsReadModel(ReadModel):
    name = "channels"
    schema = "communication"
    ddl = (
        CHANNELS.ddl,
        "CREATE INDEX channels_organization "
        "ON channels (organization_id, created_at, id)",
        "CREATE INDEX channels_project ON channels (project_id)",
        CHANNEL_MEMBERS.ddl,
        "CREATE INDEX channel_members_user "
        "ON channel_members (user_id)",
        "CREATE INDEX channel_members_joined "
        "ON channel_members (channel_id, joined_at, user_id)",
    )
    tables = ("channels", "channel_members")

    @handles(Channel.Created)
    def _created(self, cur: Cursor[Any], e: Any) -> None:
        CHANNELS.insert(cur, {
            "id": e.originator_id, "organization_id": e.organization_id, "kind": e.kind,
            "name": e.name, "project_id": e.project_id, "team_id": e.team_id,
            "created_by": (e.meta or {}).get("actor_id"), "created_at": e.timestamp,
            "updated_at": e.timestamp, "version": e.originator_version,
        })
        cur.executemany(CHANNEL_MEMBERS.insert_sql(MEMBER_COLUMNS),
                        [(e.originator_id, user_id, role, e.timestamp)
                         for user_id, role in sorted(e.members.items())])

    @handles(Channel.MemberJoined)
    def _joined(self, cur: Cursor[Any], e: Any) -> None:
        CHANNELS.touch(cur, e, first=CHANNEL_MEMBERS.insert_sql(MEMBER_COLUMNS),
                       first_params=(e.originator_id, e.user_id, e.role, e.timestamp))

    @handles(Channel.MemberLeft)
    def _left(self, cur: Cursor[Any], e: Any) -> None:
        CHANNELS.touch(cur, e, first=(
            "DELETE FROM channel_members WHERE channel_id = %s AND user_id = %s"
        ), first_params=(e.originator_id, e.user_id))


# --- queries ----------------------------------------------------------------

# "The caller is a member of the channel" (parameter: the caller).
_MEMBER = ("EXISTS (SELECT 1 FROM communication.channel_members cm "
           "WHERE cm.channel_id = channels.id AND cm.user_id = %s)")


def _visible(role: Role, caller: Any) -> tuple[str, list[Any]]:
    """The condition "the caller sees the channel", with its parameters: direct channels
    they are in, every team channel, and the channels of the projects they see. (Only the
    internal roles read channels: the Client role is answered 404 before any query.)"""
    projects = visible_projects_sql(role).format(alias="channels")
    condition = (f"((channels.kind = %s AND {_MEMBER}) OR channels.kind = %s "
                 f"OR (channels.kind = %s AND {projects}))")
    params = [ChannelKind.DIRECT.value, caller, ChannelKind.TEAM.value,
              ChannelKind.PROJECT.value, caller]
    return condition, params


def visible_channels(conn: Connection[Any], organization_id: Any, caller: Any, role: Role,
                     *, kind: ChannelKind | None, project_id: Any, cursor: str | None,
                     limit: int) -> dict[str, Any]:
    """A page of the channels of the organization the caller sees, oldest first, each
    with its members."""
    visible, params = _visible(role, caller)
    where = ["organization_id = %s", visible]
    params = [organization_id, *params]
    if kind is not None:
        where.append("kind = %s")
        params.append(kind.value)
    if project_id is not None:
        where.append("project_id = %s")
        params.append(project_id)
    found = CHANNELS.page(conn, where, params, OLDEST_FIRST, cursor, limit)
    _with_members(conn, found["items"], caller)
    return found


def visible_channel(conn: Connection[Any], organization_id: Any, channel_id: Any,
                    caller: Any, role: Role) -> dict[str, Any] | None:
    """The channel with its members, if it is in the organization and the caller sees it."""
    visible, params = _visible(role, caller)
    found = CHANNELS.one(conn, f"id = %s AND organization_id = %s AND {visible}",
                         (channel_id, organization_id, *params))
    if found is not None:
        _with_members(conn, [found], caller)
    return found


def channel_access(conn: Connection[Any], organization_id: Any, channel_id: Any,
                   caller: Any, role: Role) -> bool | None:
    """Whether the caller is a member of the channel, if it is in the organization and
    the caller sees it; None if not (whatever the reason: it answers 404)."""
    visible, params = _visible(role, caller)
    row = conn.execute(
        f"SELECT {_MEMBER} FROM {CHANNELS.view} "
        f"WHERE id = %s AND organization_id = %s AND {visible}",
        (caller, channel_id, organization_id, *params),
    ).fetchone()
    return None if row is None else bool(row[0])


def members(conn: Connection[Any], channel_id: Any, *, cursor: str | None,
            limit: int) -> dict[str, Any]:
    """A page of the channel's members, in the order they joined."""
    return CHANNEL_MEMBERS.page(conn, ["channel_id = %s"], [channel_id], BY_JOINING,
                                cursor, limit)


def _with_members(conn: Connection[Any], channels: list[dict[str, Any]], caller: Any) -> None:
    """Adds ``members`` (in the order they joined) and ``is_member`` to each channel."""
    by_id: dict[Any, list[dict[str, Any]]] = {c["id"]: [] for c in channels}
    if by_id:
        rows = conn.execute(
            "SELECT channel_id, user_id, role, joined_at FROM communication.channel_members "
            f"WHERE channel_id = ANY(%s) ORDER BY {BY_JOINING.by()}", (list(by_id),),
        ).fetchall()
        for channel_id, user_id, role, joined_at in rows:
            by_id[channel_id].append({"user_id": user_id, "role": role, "joined_at": joined_at})
    for channel in channels:
        channel["members"] = by_id[channel["id"]]
        channel["is_member"] = any(m["user_id"] == caller for m in channel["members"])


def channels_with_member(conn: Connection[Any], organization_id: Any,
                         user_id: Any) -> list[Any]:
    """The organization's channels the user is a member of, direct ones aside (two
    people's, fixed)."""
    return [row[0] for row in conn.execute(
        f"SELECT c.id FROM {CHANNEL_MEMBERS.view} m JOIN {CHANNELS.view} c "
        "ON c.id = m.channel_id WHERE m.user_id = %s AND c.organization_id = %s "
        "AND c.kind <> %s ORDER BY c.id",
        (user_id, organization_id, ChannelKind.DIRECT.value))]
