"""What the search index makes of each kind of record: one small formatter per
aggregate class, from the record's current state to a document (title, text, the scope
permissions need, a link) — or None when the record is not searchable now (a deleted
message, an archived client).

A later entity with text (wiki pages, documents…) joins the index by adding its
formatter here: the index (projections/search_index.py) keeps each record's state and
asks its formatter after every event, so it needs no code per event. Only what a search
needs goes into a document: no emails, phones or addresses (people are found by id), and
no field that changes often without changing the text (status, assignee, checklist
ticks), so those changes re-embed nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from domain.client import Client
from domain.client_feedback import ClientFeedback
from domain.message import Message
from domain.project import Project
from domain.proposal import Proposal
from domain.state import entity_type
from domain.task import Task


@dataclass(frozen=True)
class Document:
    title: str
    content: str
    link: str  # the API path that reads the source
    project_id: UUID | None = None  # readable by those who see the project
    channel_id: UUID | None = None  # readable by those who see the channel
    client_id: UUID | None = None
    author_id: UUID | None = None  # who wrote it (messages: the chats of a person)


def _org(record: Any) -> str:
    return f"/v1/organizations/{record.organization_id}"


def project_document(project: Project) -> Document | None:
    if project.archived:
        return None
    return Document(project.name, project.description or "",
                    f"{_org(project)}/projects/{project.id}", project_id=project.id,
                    client_id=project.client_id)


def task_document(task: Task) -> Document | None:
    # Checklist items by their text only, in the order they were added.
    items = [item["text"] for item in task.checklist.values()]
    body = task.description or ""
    if items:
        body = f"{body}\nChecklist:\n" + "\n".join(f"- {text}" for text in items)
    return Document(task.title, body,
                    f"{_org(task)}/tasks/{task.id}",
                    project_id=task.project_id, author_id=task.creator_id)


def message_document(message: Message) -> Document | None:
    if message.deleted or not message.content:
        return None
    first_line = message.content.strip().splitlines()[0] if message.content.strip() else ""
    title = first_line if len(first_line) <= 80 else first_line[:79] + "…"
    return Document(title, message.content,
                    f"{_org(message)}/messages/{message.id}",
                    channel_id=message.channel_id, author_id=message.sender_id)


def client_document(client: Client) -> Document | None:
    if client.archived:
        return None
    return Document(client.name, "", f"{_org(client)}/clients/{client.id}",
                    client_id=client.id)


def proposal_document(proposal: Proposal) -> Document | None:
    return Document(proposal.title, proposal.content or "",
                    f"{_org(proposal)}/proposals/{proposal.id}",
                    project_id=proposal.project_id, client_id=proposal.client_id)


def feedback_document(feedback: ClientFeedback) -> Document | None:
    parts = [feedback.comment or "", feedback.response or ""]
    text = "\n".join(p for p in parts if p)
    if not text:
        return None  # a bare rating has nothing to search
    return Document(f"Client feedback, rated {feedback.rating} of 5", text,
                    f"{_org(feedback)}/clients/{feedback.client_id}/feedback",
                    project_id=feedback.project_id, client_id=feedback.client_id,
                    author_id=feedback.author_id)


Formatter = Callable[[Any], "Document | None"]

FORMATTERS: dict[type, Formatter] = {
    Project: project_document,
    Task: task_document,
    Message: message_document,
    Client: client_document,
    Proposal: proposal_document,
    ClientFeedback: feedback_document,
}

# The content types of the index (a document's ``content_type``): the formatted
# classes' entity types — ``project``, ``task``, ``message``, ``client``, ``proposal``,
# ``client_feedback``.
CONTENT_TYPES: dict[str, type] = {entity_type(cls): cls for cls in FORMATTERS}
