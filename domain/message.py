"""Message: one post in a channel, an aggregate of its own.

Why its own aggregate: a channel's history is its membership only, so posting loads
the (small, snapshotted) Channel to check who may talk and creates a new Message;
nothing ever loads the conversation. Posting to a channel with 100,000 messages
costs what posting to an empty one costs.

Deleting is soft: the event stays in the log, the read model clears the content.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.base import Forbidden, InvalidValue, NotFound, RuleViolation, valid_text

MAX_CONTENT_LENGTH = 4000
MAX_ATTACHMENTS = 10
MAX_URL_LENGTH = 2048
MAX_FILE_TYPE_LENGTH = 100
# An attachment's address: http or https, a host (no space or control character), then
# any path, query or fragment. A regular expression Python and JSON Schema read the same
# way, so the API's schema states this very rule.
ATTACHMENT_URL = r"https?://[^\x00-\x20\x7f/?#]+(?:[/?#][^\x00]*)?"
_ATTACHMENT_URL = re.compile(ATTACHMENT_URL)


class MessageTooLong(InvalidValue):
    code = "message-too-long"


class MentionOfNonMember(NotFound):
    """A mention names someone the channel does not know (as for any unknown id: 404)."""

    code = "mention-of-non-member"


class NotTheSender(Forbidden):
    code = "not-the-sender"


class MessageDeleted(RuleViolation):
    code = "message-deleted"


def validate_content(content: str) -> str:
    if not isinstance(content, str):
        raise InvalidValue("content must be text", field="content")
    if not valid_text(content, "content").strip():
        raise InvalidValue("content must not be empty", field="content")
    if len(content) > MAX_CONTENT_LENGTH:
        raise MessageTooLong(
            f"content is longer than {MAX_CONTENT_LENGTH} characters", field="content"
        )
    return content


def validate_mentions(mentions: Iterable[UUID | str], members: Iterable[str]) -> list[str]:
    """Mentioned user ids, each once, in order; every one must be a channel member."""
    allowed = {str(m) for m in members}
    result: list[str] = []
    for mention in mentions:
        try:
            user_id = str(UUID(str(mention)))
        except ValueError:
            raise InvalidValue("mentions must be user ids", field="mentions") from None
        if user_id not in allowed:
            raise MentionOfNonMember(
                f"user {user_id} is not a member of this channel", field="mentions"
            )
        if user_id not in result:
            result.append(user_id)
    return result


def validate_attachments(attachments: Iterable[dict[str, Any]]) -> list[dict[str, str]]:
    items = list(attachments)
    if len(items) > MAX_ATTACHMENTS:
        raise InvalidValue(f"at most {MAX_ATTACHMENTS} attachments", field="attachments")
    result = []
    for item in items:
        if not isinstance(item, dict) or set(item) != {"url", "file_type"}:
            raise InvalidValue("an attachment has exactly a url and a file_type",
                               field="attachments")
        url, file_type = item["url"], item["file_type"]
        if not isinstance(url, str) or len(url) > MAX_URL_LENGTH:
            raise InvalidValue(f"attachment url must be text of at most {MAX_URL_LENGTH} "
                               "characters", field="attachments.url")
        valid_text(url, "attachments.url")
        if isinstance(file_type, str):
            valid_text(file_type, "attachments.file_type")
        if not _ATTACHMENT_URL.fullmatch(url):
            raise InvalidValue("attachment url must be an http or https URL with a host",
                               field="attachments.url")
        if (not isinstance(file_type, str) or not file_type.strip()
                or len(file_type) > MAX_FILE_TYPE_LENGTH):
            raise InvalidValue(f"attachment file_type must be 1 to {MAX_FILE_TYPE_LENGTH} "
                               "characters", field="attachments.file_type")
        result.append({"url": url, "file_type": file_type.strip()})
    return result


class Message(Aggregate):
    PERSONAL_FIELDS = frozenset({"content", "attachments"})

    @event("Posted")
    def __init__(
        self,
        id: UUID,
        channel_id: UUID,
        organization_id: UUID,
        sender_id: UUID,
        content: str,
        mentions: list[str],
        attachments: list[dict[str, str]],
        meta: dict,
    ) -> None:
        self.channel_id = channel_id
        self.organization_id = organization_id
        self.sender_id = sender_id
        self.content = content
        self.mentions = list(mentions)
        self.attachments = [dict(a) for a in attachments]
        self.deleted = False

    @classmethod
    def post(
        cls,
        id: UUID,
        channel_id: UUID,
        organization_id: UUID,
        sender_id: UUID,
        content: str,
        channel_members: Iterable[str],
        meta: dict,
        mentions: Iterable[UUID | str] = (),
        attachments: Iterable[dict[str, Any]] = (),
    ) -> Message:
        """Post ``content``; ``channel_members`` is the channel's member set (str ids)
        at the time of posting, against which mentions are checked."""
        return cls(
            id=id,
            channel_id=channel_id,
            organization_id=organization_id,
            sender_id=sender_id,
            content=validate_content(content),
            mentions=validate_mentions(mentions, channel_members),
            attachments=validate_attachments(attachments),
            meta=meta,
        )

    def _require_sender(self, actor_id: UUID) -> None:
        if actor_id != self.sender_id:
            raise NotTheSender("only the sender can change or delete a message")
        if self.deleted:
            raise MessageDeleted("the message has been deleted")

    def edit(self, actor_id: UUID, content: str, meta: dict) -> None:
        self._require_sender(actor_id)
        content = validate_content(content)
        if content != self.content:
            self._edited(content=content, meta=meta)

    @event("Edited")
    def _edited(self, content: str, meta: dict) -> None:
        self.content = content

    def delete(self, actor_id: UUID, meta: dict) -> None:
        self._require_sender(actor_id)
        self._deleted(meta=meta)

    @event("Deleted")
    def _deleted(self, meta: dict) -> None:
        # The aggregate forgets the text too; the log keeps the events.
        self.deleted = True
        self.content = ""
