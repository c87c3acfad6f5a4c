"""communication.messages, communication.message_mentions and
communication.message_attachments. A deleted message keeps its row (a tombstone with
the content cleared) so the conversation's order and pagination stay stable."""

from __future__ import annotations

from typing import Any

from psycopg import Cursor

from domain.message import Message
from projections.base import ReadModel, handles


class MessagesReadModel(ReadModel):
    name = "messages"
    schema = "communication"
    ddl = (
        """CREATE TABLE messages (
            id uuid PRIMARY KEY,
            channel_id uuid NOT NULL,
            organization_id uuid NOT NULL,
            sender_id uuid NOT NULL,
            content text,
            created_at timestamptz NOT NULL,
            edited_at timestamptz,
            deleted_at timestamptz,
            version bigint NOT NULL
        )""",
        "CREATE INDEX messages_channel_newest "
        "ON messages (channel_id, created_at DESC, id DESC)",
        """CREATE TABLE message_mentions (
            message_id uuid NOT NULL,
            user_id uuid NOT NULL,
            PRIMARY KEY (message_id, user_id)
        )""",
        "CREATE INDEX message_mentions_user "
        "ON message_mentions (user_id)",
        """CREATE TABLE message_attachments (
            message_id uuid NOT NULL,
            position integer NOT NULL,
            url text NOT NULL,
            file_type text NOT NULL,
            PRIMARY KEY (message_id, position)
        )""",
    )
    tables = ("messages", "message_mentions",
              "message_attachments")

    @handles(Message.Posted)
    def _posted(self, cur: Cursor[Any], e: Any) -> None:
        cur.execute(
            "INSERT INTO messages (id, channel_id, organization_id, sender_id, "
            "content, created_at, version) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (e.originator_id, e.channel_id, e.organization_id, e.sender_id, e.content,
             e.timestamp, e.originator_version),
        )
        if e.mentions:
            cur.executemany(
                "INSERT INTO message_mentions VALUES (%s, %s)",
                [(e.originator_id, user_id) for user_id in e.mentions],
            )
        if e.attachments:
            cur.executemany(
                "INSERT INTO message_attachments VALUES (%s, %s, %s, %s)",
                [(e.originator_id, i, a["url"], a["file_type"])
                 for i, a in enumerate(e.attachments)],
            )

    @handles(Message.Edited)
    def _edited(self, cur: Cursor[Any], e: Any) -> None:
        cur.execute(
            "UPDATE messages SET content = %s, edited_at = %s, version = %s "
            "WHERE id = %s",
            (e.content, e.timestamp, e.originator_version, e.originator_id),
        )

    @handles(Message.Deleted)
    def _deleted(self, cur: Cursor[Any], e: Any) -> None:
        cur.execute(
            "WITH attachments AS (DELETE FROM message_attachments WHERE message_id = %s), "
            "mentions AS (DELETE FROM message_mentions WHERE message_id = %s) "
            "UPDATE messages SET content = NULL, deleted_at = %s, version = %s WHERE id = %s",
            (e.originator_id, e.originator_id, e.timestamp, e.originator_version,
             e.originator_id),
        )
