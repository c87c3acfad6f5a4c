"""The search index's vocabulary and the assistant's aggregates (seed: ``ai_engine``).

- ``ContentType``: the kinds of record the search index holds.
- ``SearchAccess`` (seed: ``RagAccessControl``): per organization, the content types its
  Organizers switched off; one per organization, named by the organization's id.
- ``PromptTemplate`` (seed: ``SystemPromptTemplate``): an organization's prompt for the
  assistant, named (unique within the organization: its id derives from the name),
  with a category and an active flag. The built-in template serves when none is active.
- ``Conversation`` (seed: ``ConversationHistory``, ``AiConversation``): one person's
  session with the assistant; each exchange is an event, so conversations are audited
  and replayable like everything else.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.base import InvalidValue, derived_id, require_text


class ContentType(StrEnum):
    PROJECT = "project"
    TASK = "task"
    MESSAGE = "message"
    CLIENT = "client"
    PROPOSAL = "proposal"
    CLIENT_FEEDBACK = "client_feedback"


def parse_content_type(value: Any, field_name: str = "content_type") -> ContentType:
    try:
        return ContentType(value)
    except ValueError:
        raise InvalidValue(f"{field_name} must be one of "
                           f"{', '.join(t.value for t in ContentType)}",
                           field=field_name) from None


class SearchAccess(Aggregate):
    """Which content types an organization's search and assistant may use."""

    @staticmethod
    def id_for(organization_id: UUID) -> UUID:
        return derived_id("search-access", organization_id)

    @event("Created")
    def __init__(self, organization_id: UUID, meta: dict) -> None:
        self.organization_id = organization_id
        self.disabled: list[str] = []

    @classmethod
    def open(cls, organization_id: UUID, meta: dict) -> SearchAccess:
        return cls._create(cls.Created, id=cls.id_for(organization_id),
                           organization_id=organization_id, meta=meta)

    def set_enabled(self, content_type: ContentType, enabled: bool, meta: dict) -> None:
        if not isinstance(enabled, bool):
            raise InvalidValue("enabled must be true or false", field="enabled")
        if (content_type.value not in self.disabled) != enabled:
            self._content_type_set(content_type=content_type.value, enabled=enabled,
                                   meta=meta)

    @event("ContentTypeSet")
    def _content_type_set(self, content_type: str, enabled: bool, meta: dict) -> None:
        self.disabled = sorted(set(self.disabled) - {content_type}) if enabled else \
            sorted({*self.disabled, content_type})


MAX_TEMPLATE = 8000
MAX_TEMPLATE_NAME = 100


def validate_template(text: Any) -> str:
    """A prompt template: where ``{context}`` and ``{question}`` go (one without them
    gets them appended when it is used)."""
    return require_text(text, "template", max_length=MAX_TEMPLATE)


class PromptTemplate(Aggregate):
    @staticmethod
    def id_for(organization_id: UUID, name: str) -> UUID:
        return derived_id("prompt-template", organization_id, name)

    @event("Created")
    def __init__(self, organization_id: UUID, name: str, category: str, template: str,
                 active: bool, meta: dict) -> None:
        self.organization_id = organization_id
        self.name = name
        self.category = category
        self.template = template
        self.active = active

    @classmethod
    def create(cls, organization_id: UUID, name: str, category: str, template: str,
               active: bool, meta: dict) -> PromptTemplate:
        name = require_text(name, "name", max_length=MAX_TEMPLATE_NAME)
        if not isinstance(active, bool):
            raise InvalidValue("active must be true or false", field="active")
        return cls._create(cls.Created, id=cls.id_for(organization_id, name),
                           organization_id=organization_id, name=name,
                           category=require_text(category, "category", max_length=100),
                           template=validate_template(template), active=active, meta=meta)

    def revise(self, category: str, template: str, active: bool, meta: dict) -> None:
        if not isinstance(active, bool):
            raise InvalidValue("active must be true or false", field="active")
        category = require_text(category, "category", max_length=100)
        template = validate_template(template)
        if (category, template, active) != (self.category, self.template, self.active):
            self._revised(category=category, template=template, active=active, meta=meta)

    @event("Revised")
    def _revised(self, category: str, template: str, active: bool, meta: dict) -> None:
        self.category, self.template, self.active = category, template, active


class SearchMode(StrEnum):
    HYBRID = "hybrid"  # the embedding index and full text, fused
    TEXT = "text"  # full text alone: the embedding model could not answer


class TurnRole(StrEnum):
    """Who wrote a turn of a conversation (seed: ``ConversationHistory.role``)."""

    USER = "user"
    ASSISTANT = "assistant"


class AnswerMode(StrEnum):
    GENERATED = "generated"  # a chat model wrote it from the sources
    EXTRACTED = "extracted"  # the most relevant passages, quoted: no model wrote it


MAX_QUESTION = 2000
MAX_TITLE = 200


class Conversation(Aggregate):
    """A person's session with the assistant. Its title is what the person wrote:
    withheld from the timeline's diffs. (Questions and answers are in the events only,
    not in the state the timeline compares.)"""

    PERSONAL_FIELDS = frozenset({"title"})
    # What people wrote and read, carried by the events only (never published).
    PERSONAL_EVENT_FIELDS = frozenset({"question", "answer", "citations"})

    @event("Started")
    def __init__(self, organization_id: UUID, person_id: UUID, title: str,
                 meta: dict) -> None:
        self.organization_id = organization_id
        # Its owner, as the timeline scopes a person's records (only they see its rows).
        self.person_id = person_id
        self.title = title
        self.turns = 0
        self.tokens_used = 0

    @classmethod
    def start(cls, organization_id: UUID, person_id: UUID, title: str | None,
              meta: dict) -> Conversation:
        title = require_text(title, "title", max_length=MAX_TITLE) if title else ""
        return cls(organization_id=organization_id, person_id=person_id, title=title,
                   meta=meta)

    @staticmethod
    def validate_question(question: Any) -> str:
        return require_text(question, "question", max_length=MAX_QUESTION)

    def record_exchange(self, question: str, answer: str, citations: list[dict[str, Any]],
                        mode: str, model: str, prompt_tokens: int, completion_tokens: int,
                        template: str, meta: dict) -> None:
        """One question and its answer, appended together: an answer never exists without
        its question, nor a question without the answer it got."""
        self._asked(question=self.validate_question(question), meta=meta)
        self._answered(answer=answer, citations=citations, mode=mode, model=model,
                       prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                       template=template, meta=meta)

    @event("Asked")
    def _asked(self, question: str, meta: dict) -> None:
        # (An untitled conversation is shown by its first question: the read model's
        # concern; the title here stays what its owner gave.)
        self.turns += 1

    @event("Answered")
    def _answered(self, answer: str, citations: list[dict[str, Any]], mode: str, model: str,
                  prompt_tokens: int, completion_tokens: int, template: str,
                  meta: dict) -> None:
        self.turns += 1
        self.tokens_used += prompt_tokens + completion_tokens
