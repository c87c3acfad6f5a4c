"""The assistant (docs/search.md): conversations whose answers are built from what the
asker may read and cite their sources; the organization's prompt templates."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias
from uuid import UUID

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field

from api.access import internal, internal_role, not_found, organization_role
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
    runtime_of,
)
from api.problems import ApiProblem
from api.values import ExactJSONRoute, Uuid, text
from domain.assistant import (
    MAX_QUESTION,
    MAX_TEMPLATE,
    MAX_TEMPLATE_NAME,
    MAX_TITLE,
    AnswerMode,
    ContentType,
    Conversation,
    TurnRole,
)
from domain.roles import Permission, can
from projections import assistant as conversations
from projections import search_index
from vistone.ai import assistant as answers
from vistone.app import CommandResult
from vistone.commands import assistant as commands

router = APIRouter(prefix="/v1/organizations/{organization_id}/assistant",
                   tags=["assistant"], route_class=ExactJSONRoute)

Reads = Annotated[Reader, reading("organizations", "projects", "channels", "clients",
                                  "search", "assistant")]

if TYPE_CHECKING:
    Title: TypeAlias = str
    Question: TypeAlias = str
    TemplateText: TypeAlias = str
    Category: TypeAlias = str
else:
    Title = text(MAX_TITLE)
    Question = text(MAX_QUESTION)
    TemplateText = text(MAX_TEMPLATE)
    Category = text(100)


class StartConversation(Strict):
    title: Title | None = Field(default=None, description="default: the first question")

    model_config = {"json_schema_extra": {"examples": [{"title": "Launch checklist"}]}}


class Ask(Strict):
    question: Question
    content_types: list[Annotated[ContentType, Field(strict=False)]] | None = Field(
        default=None, description="search only these kinds of record")
    project_id: Uuid | None = Field(default=None, description="search only this project")

    model_config = {"json_schema_extra": {"examples": [
        {"question": "What is left before the website launch?"}]}}


class Citation(BaseModel):
    source_id: UUID
    content_type: ContentType
    title: str
    link: str
    chunk_index: int
    cited: bool = Field(description="the answer cites it (a source given and not cited "
                        "is listed with false)")


class Tokens(BaseModel):
    prompt: int
    completion: int


class AnswerView(BaseModel):
    conversation_id: UUID
    version: int
    position: int | None
    answer: str
    mode: AnswerMode = Field(description="generated (a chat model wrote it) or extracted "
                             "(the most relevant passages quoted, no model)")
    model: str
    template: str = Field(description="the prompt template used")
    citations: list[Citation]
    tokens: Tokens
    notice: str | None = Field(default=None, description="why the answer is extracted "
                               "when a chat model is configured")


class ConversationView(BaseModel):
    id: UUID
    organization_id: UUID
    user_id: UUID
    title: str
    turns: int
    tokens_used: int
    created_at: datetime
    updated_at: datetime
    version: int


class TurnView(BaseModel):
    conversation_id: UUID
    turn: int
    role: TurnRole
    content: str
    metadata: dict[str, Any] = Field(description="for answers: citations, mode, model, "
                                     "template, tokens")
    created_at: datetime


class SaveTemplate(Strict):
    category: Category = Field(description=f"'{answers.TEMPLATE_CATEGORY}' is the one the "
                               "assistant uses")
    template: TemplateText = Field(
        description="where {context} (the sources) and {question} go; a template without "
        "them gets them appended")
    active: bool

    model_config = {"json_schema_extra": {"examples": [{
        "category": "assistant", "active": True,
        "template": "Answer briefly from these sources, citing them as [id].\n\n"
                    "{context}\n\nQuestion: {question}"}]}}


class TemplateView(BaseModel):
    id: UUID
    organization_id: UUID
    name: str
    category: str
    template: str
    active: bool
    updated_at: datetime
    version: int


# Letters, digits, spaces, dots, dashes, underscores; no space at either end (a name is
# stored trimmed: "a " would silently name "a").
TemplateName = Annotated[str, Path(min_length=1, max_length=MAX_TEMPLATE_NAME,
                                   pattern=r"^[A-Za-z0-9]([A-Za-z0-9 ._-]*[A-Za-z0-9._-])?$")]


@router.post("/conversations", status_code=201, dependencies=CREATES,
             response_model=CommandAnswer)
def start_conversation(organization_id: UUID, body: StartConversation,
                       command: Command) -> JSONResponse:
    """Open a session with the assistant (any member; only its starter uses it)."""
    return command_response(commands.start_conversation(command, organization_id,
                                                        body.title), 201)


@router.get("/conversations", response_model=Page[ConversationView])
def my_conversations(organization_id: UUID, reader: Reads, limit: PageLimit = 50,
                     cursor: PageCursor = None) -> JSONResponse:
    """The caller's own conversations, most recently active first (the Client role has
    none: 404)."""
    internal_role(reader.conn, organization_id, reader.caller)
    return reader.answer(conversations.conversations_page(
        reader.conn, organization_id, reader.caller, cursor=cursor, limit=limit))


def _own(reader: Reader, organization_id: UUID, conversation_id: UUID) -> dict[str, Any]:
    internal_role(reader.conn, organization_id, reader.caller)
    found = conversations.conversation(reader.conn, organization_id, conversation_id)
    if found is None or found["user_id"] != reader.caller:
        raise not_found("conversation", conversation_id)
    return found


@router.get("/conversations/{conversation_id}", response_model=ConversationView)
def get_conversation(organization_id: UUID, conversation_id: UUID,
                     reader: Reads) -> JSONResponse:
    return reader.answer(_own(reader, organization_id, conversation_id))


@router.get("/conversations/{conversation_id}/turns", response_model=Page[TurnView])
def conversation_turns(organization_id: UUID, conversation_id: UUID, reader: Reads,
                       limit: PageLimit = 50, cursor: PageCursor = None) -> JSONResponse:
    """Questions and answers in order, each answer with its citations, mode, model,
    template and tokens."""
    role = internal_role(reader.conn, organization_id, reader.caller)
    _own(reader, organization_id, conversation_id)
    page = conversations.turns_page(reader.conn, conversation_id, cursor=cursor, limit=limit)
    scope = search_index.caller_scope(reader.conn, organization_id, role, reader.caller)
    cited = {UUID(c["source_id"]) for turn in page["items"]
             for c in turn["metadata"].get("citations", [])}
    readable = search_index.readable_sources(reader.conn, scope, list(cited))
    for turn in page["items"]:
        _as_readable_now(turn, readable)
    return reader.answer(page)


WITHHELD_ANSWER = ("(This answer is withheld: it was built from records you may no longer "
                   "read, or that were deleted since. Ask again for an answer from what "
                   "you may read now.)")


def _as_readable_now(turn: dict[str, Any], readable: set[UUID]) -> None:
    """An answer is shown while its reader may still read every source it was built
    from (the ones it cites and the ones it was given): a removed member, a portal
    switched off or a deleted message ends it, as it ends the sources themselves."""
    citations = turn["metadata"].get("citations")
    if not citations or all(UUID(c["source_id"]) in readable for c in citations):
        return
    turn["content"] = WITHHELD_ANSWER
    turn["metadata"] = {**turn["metadata"], "withheld": True, "citations": [
        c for c in citations if UUID(c["source_id"]) in readable]}


@router.post("/conversations/{conversation_id}/questions", status_code=201,
             response_model=AnswerView,
             responses={404: {"description": "no such conversation of the caller's"}})
def ask(organization_id: UUID, conversation_id: UUID, body: Ask, reader: Reads,
        request: Request, command: Command) -> JSONResponse:
    """Ask a question: the answer is built from the passages the caller may read now,
    with the organization's active prompt template; with Mistral keyed a chat model
    writes it and cites sources by id, otherwise the passages are quoted (mode
    ``extracted``). Question and answer are recorded together in the conversation."""
    runtime = runtime_of(request)
    role = commands.require_own_conversation(runtime.app, organization_id, conversation_id,
                                             reader.caller)
    prior = runtime.app.prior_answer(command.idempotency)
    if prior is not None:  # a retry: the answer it got, without asking any model again
        return _answered(conversation_id, prior, commands.recorded_answer(
            runtime.app, conversation_id, prior.version), notice=None)
    question = Conversation.validate_question(body.question)
    scope = search_index.caller_scope(reader.conn, organization_id, role, reader.caller)
    hits = search_index.search(
        reader.conn, scope, question, runtime.query_vector(reader.conn, question),
        search_index.Filters(tuple(t.value for t in body.content_types or ()),
                             body.project_id),
        limit=answers.PASSAGES)
    passages = [answers.Passage(str(h.source_id), h.content_type, h.title, h.text, h.link,
                                h.chunk_index, h.score) for h in hits]
    template = conversations.active_template(reader.conn, organization_id,
                                             answers.TEMPLATE_CATEGORY)
    reader.release()  # the model may take seconds: give the connection back meanwhile
    draft = answers.answer(
        question, passages, runtime.chat(),
        template=template["template"] if template else answers.BUILT_IN_TEMPLATE,
        template_name=template["name"] if template else answers.BUILT_IN_TEMPLATE_NAME,
        chat_model=runtime.chat_model())
    result = commands.record_exchange(
        command, organization_id, conversation_id, question=question, answer=draft.answer,
        citations=draft.citations, mode=draft.mode, model=draft.model,
        prompt_tokens=draft.prompt_tokens, completion_tokens=draft.completion_tokens,
        template=draft.template)
    recorded = commands.recorded_answer(runtime.app, conversation_id, result.version)
    return _answered(conversation_id, result, recorded,
                     notice=draft.notice if recorded["answer"] == draft.answer else None)


def _answered(conversation_id: UUID, result: CommandResult, recorded: dict[str, Any], *,
              notice: str | None) -> JSONResponse:
    headers = {"ETag": f'"{result.version}"'}
    if result.position is not None:
        headers["X-Log-Position"] = str(result.position)
    return JSONResponse({"conversation_id": conversation_id, "version": result.version,
                         "position": result.position, **recorded, "notice": notice},
                        status_code=201, headers=headers)


def _organizer(reader: Reader, organization_id: UUID) -> None:
    role = internal(organization_role(reader.conn, organization_id, reader.caller),
                    "organization", organization_id)
    if not can(role, Permission.MANAGE_ORGANIZATION):
        raise ApiProblem(403, "forbidden", "Forbidden",
                         "only Organizers read and write the prompt templates")


@router.get("/prompt-templates", response_model=Page[TemplateView])
def prompt_templates(organization_id: UUID, reader: Reads, limit: PageLimit = 50,
                     cursor: PageCursor = None) -> JSONResponse:
    """The organization's prompt templates by name (Organizers). The assistant uses the
    most recently saved active template of category ``assistant``, or the built-in one."""
    _organizer(reader, organization_id)
    return reader.answer(conversations.templates_page(reader.conn, organization_id,
                                                      cursor=cursor, limit=limit))


@router.put("/prompt-templates/{name}", response_model=CommandAnswer)
def save_prompt_template(organization_id: UUID, name: TemplateName, body: SaveTemplate,
                         command: Command) -> JSONResponse:
    """Create or revise the template ``name`` (Organizers)."""
    return command_response(commands.save_prompt_template(
        command, organization_id, name, category=body.category, template=body.template,
        active=body.active))
