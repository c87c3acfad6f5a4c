"""communication.messages, communication.message_mentions and
communication.message_attachments, and the queries that read them. A deleted message
keeps its row (a tombstone with the content cleared) so the conversation's order and
pagination stay stable."""

from __future__ import annotations

from typing import Any

from psycopg import Connection, Cursor

from domain.message import Message
from projections.base import ReadModel, handles
from projections.paging import Order
from projections.table import Table

MESSAGES = Table("communication", "messages", {
    "id": "uuid PRIMARY KEY",
    "channel_id": "uuid NOT NULL",
    "organization_id": "uuid NOT NULL",
    "sender_id": "uuid NOT NULL",
    "content": "text",
    "created_at": "timestamptz NOT NULL",
    "edited_at": "timestamptz",
    "deleted_at": "timestamptz",
    "version": "bigint NOT NULL",
})

MENTIONS = Table("communication", "message_mentions", {
    "message_id": "uuid NOT NULL",
    "user_id": "uuid NOT NULL",
}, constraints=("PRIMARY KEY (message_id, user_id)",))

ATTACHMENTS = Table("communication", "message_attachments", {
    "message_id": "uuid NOT NULL",
    "position": "integer NOT NULL",
    "url": "text NOT NULL",
    "file_type": "text NOT NULL",
}, constraints=("PRIMARY KEY (message_id, position)",))

# A conversation reads newest first.
NEWEST_FIRST = Order((("created_at", "timestamptz"), ("id", "uuid")), descending=True)


class MessagesReadModel(ReadModel):
    name = "messages"
    schema = "communication"
    ddl = (
        MESSAGES.ddl,
        "CREATE INDEX messages_channel_newest "
        "ON messages (channel_id, created_at DESC, id DESC)",
        MENTIONS.ddl,
        "CREATE INDEX message_mentions_user "
        "ON message_mentions (user_id)",
        ATTACHMENTS.ddl,
    )
    tables = ("messages", "message_mentions", "message_attachments")

    @handles(Message.Posted)
    def _posted(self, cur: Cursor[Any], e: Any) -> None:
        MESSAGES.insert(cur, {
            "id": e.originator_id, "channel_id": e.channel_id,
            "organization_id": e.organization_id, "sender_id": e.sender_id,
            "content": e.content, "created_at": e.timestamp, "version": e.originator_version,
        })
        if e.mentions:
            cur.executemany(MENTIONS.insert_sql(("message_id", "user_id")),
                            [(e.originator_id, user_id) for user_id in e.mentions])
        if e.attachments:
            cur.executemany(
                ATTACHMENTS.insert_sql(("message_id", "position", "url", "file_type")),
                [(e.originator_id, i, a["url"], a["file_type"])
                 for i, a in enumerate(e.attachments)],
            )

    @handles(Message.Edited)
    def _edited(self, cur: Cursor[Any], e: Any) -> None:
        MESSAGES.update(cur, e.originator_id, {
            "content": e.content, "edited_at": e.timestamp, "version": e.originator_version})

    @handles(Message.Deleted)
    def _deleted(self, cur: Cursor[Any], e: Any) -> None:
        cur.execute(
            "WITH attachments AS (DELETE FROM message_attachments WHERE message_id = %s), "
            "mentions AS (DELETE FROM message_mentions WHERE message_id = %s) "
            + MESSAGES.update_sql(("content", "deleted_at", "version")),
            (e.originator_id, e.originator_id, None, e.timestamp, e.originator_version,
             e.originator_id),
        )


# --- queries ----------------------------------------------------------------


def message(conn: Connection[Any], organization_id: Any, message_id: Any) -> \
        dict[str, Any] | None:
    """One message of the organization (a deleted one as its tombstone)."""
    found = MESSAGES.one(conn, "id = %s AND organization_id = %s",
                         (message_id, organization_id))
    if found is not None:
        _complete(conn, [found])
    return found


def channel_messages(conn: Connection[Any], channel_id: Any, *, cursor: str | None,
                     limit: int) -> dict[str, Any]:
    """A page of the channel's messages, newest first."""
    found = MESSAGES.page(conn, ["channel_id = %s"], [channel_id], NEWEST_FIRST, cursor,
                          limit)
    _complete(conn, found["items"])
    return found


def _complete(conn: Connection[Any], messages: list[dict[str, Any]]) -> None:
    """Adds each message's ``mentions``, ``attachments`` (in the order they were sent) and
    ``deleted``."""
    by_id = {m["id"]: m for m in messages}
    for item in messages:
        item.update(mentions=[], attachments=[], deleted=item["deleted_at"] is not None)
    if not by_id:
        return
    ids = list(by_id)
    for message_id, user_id in conn.execute(
        "SELECT message_id, user_id FROM communication.message_mentions "
        "WHERE message_id = ANY(%s) ORDER BY user_id", (ids,),
    ).fetchall():
        by_id[message_id]["mentions"].append(user_id)
    for message_id, url, file_type in conn.execute(
        "SELECT message_id, url, file_type FROM communication.message_attachments "
        "WHERE message_id = ANY(%s) ORDER BY position", (ids,),
    ).fetchall():
        by_id[message_id]["attachments"].append({"url": url, "file_type": file_type})
