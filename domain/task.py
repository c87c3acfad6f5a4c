"""Task: a unit of work in one project, with an optional parent (subtasks), one
assignee, a status lifecycle and a checklist.

Status lifecycle (illegal transitions raise IllegalTaskTransition):

    PENDING ──► IN_PROGRESS ──► COMPLETED
       ▲            │               │
       └────────────┴───────────────┘   (reopen: back to PENDING)

Dependencies between tasks are not kept here: the no-cycle rule spans every task of
a project, so they live in the project's TaskDependencyGraph (domain/task_dependencies.py).
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.base import (
    AlreadyExists,
    InvalidValue,
    NotFound,
    RuleViolation,
    optional_text,
    require_text,
)

MAX_TITLE = 200
MAX_DESCRIPTION = 10_000
MAX_CHECKLIST_TEXT = 500
# A checklist is a short list of steps; the cap keeps the aggregate (and its
# replay) small.
MAX_CHECKLIST_ITEMS = 200


class TaskStatus(StrEnum):
    PENDING = "PENDING"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"


class TaskPriority(StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    URGENT = "URGENT"


# How every task starts, and the priority of one created without saying.
INITIAL_STATUS = TaskStatus.PENDING
DEFAULT_PRIORITY = TaskPriority.MEDIUM

TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.PENDING: frozenset({TaskStatus.IN_PROGRESS}),
    TaskStatus.IN_PROGRESS: frozenset({TaskStatus.COMPLETED, TaskStatus.PENDING}),
    TaskStatus.COMPLETED: frozenset({TaskStatus.PENDING}),
}


class IllegalTaskTransition(RuleViolation):
    code = "illegal-transition"


class AssigneeNotProjectMember(RuleViolation):
    code = "assignee-not-project-member"


class ParentInOtherProject(InvalidValue):
    code = "parent-in-other-project"


class ChecklistItemNotFound(NotFound):
    code = "checklist-item-not-found"


class ChecklistItemExists(AlreadyExists):
    code = "checklist-item-exists"


class ChecklistFull(RuleViolation):
    code = "checklist-full"


def validate_title(title: str) -> str:
    return require_text(title, "title", max_length=MAX_TITLE)


def validate_description(description: str | None) -> str | None:
    return optional_text(description, "description", max_length=MAX_DESCRIPTION)


def validate_due_date(due_date: date | None) -> date | None:
    if due_date is not None and not isinstance(due_date, date):
        raise InvalidValue("due_date must be a date (YYYY-MM-DD)", field="due_date")
    return due_date


def validate_priority(priority: TaskPriority) -> TaskPriority:
    if not isinstance(priority, TaskPriority):
        allowed = ", ".join(p.value for p in TaskPriority)
        raise InvalidValue(f"priority must be one of {allowed}", field="priority")
    return priority


class Task(Aggregate):
    class Created(Aggregate.Created):
        """Everything a reader needs about the new task, its initial status included
        (from version 2)."""

        project_id: UUID
        organization_id: UUID
        title: str
        description: str | None
        priority: str
        due_date: date | None
        parent_id: UUID | None
        creator_id: UUID
        meta: dict
        status: str

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            # Every task started PENDING before the event said so.
            state["status"] = TaskStatus.PENDING.value

    @event(Created)
    def __init__(
        self,
        id: UUID,
        project_id: UUID,
        organization_id: UUID,
        title: str,
        description: str | None,
        priority: str,
        due_date: date | None,
        parent_id: UUID | None,
        creator_id: UUID,
        meta: dict,
        status: str,
    ) -> None:
        self.project_id = project_id
        self.organization_id = organization_id
        self.title = title
        self.description = description
        self.priority = priority
        self.due_date = due_date
        self.parent_id = parent_id
        self.creator_id = creator_id
        self.assignee_id: UUID | None = None
        self.status = status
        # item id -> {"text": str, "done": bool}; str keys keep the state snapshot-safe.
        self.checklist: dict[str, dict[str, Any]] = {}

    @classmethod
    def create(
        cls,
        id: UUID,
        project_id: UUID,
        organization_id: UUID,
        title: str,
        creator_id: UUID,
        meta: dict,
        description: str | None = None,
        priority: TaskPriority = DEFAULT_PRIORITY,
        due_date: date | None = None,
        parent: Task | None = None,
    ) -> Task:
        # The parent is fixed at creation, so the parent chain can never loop.
        if parent is not None and parent.project_id != project_id:
            raise ParentInOtherProject("the parent task belongs to another project",
                                       field="parent_id")
        return cls(
            id=id,
            project_id=project_id,
            organization_id=organization_id,
            title=validate_title(title),
            description=validate_description(description),
            priority=validate_priority(priority).value,
            due_date=validate_due_date(due_date),
            parent_id=parent.id if parent is not None else None,
            creator_id=creator_id,
            meta=meta,
            status=INITIAL_STATUS.value,
        )

    # --- commands ---------------------------------------------------------
    def update(self, meta: dict, **changes: Any) -> None:
        """Change any of title, description, priority, due_date; only the fields given."""
        allowed = {"title", "description", "priority", "due_date"}
        unknown = set(changes) - allowed
        if unknown:
            raise InvalidValue(f"unknown field(s): {', '.join(sorted(unknown))}",
                               field=sorted(unknown)[0])
        if "title" in changes:
            changes["title"] = validate_title(changes["title"])
        if "description" in changes:
            changes["description"] = validate_description(changes["description"])
        if "priority" in changes:
            changes["priority"] = validate_priority(changes["priority"]).value
        if "due_date" in changes:
            changes["due_date"] = validate_due_date(changes["due_date"])
        changed = {k: v for k, v in changes.items() if getattr(self, k) != v}
        if changed:
            self._updated(changes=changed, meta=meta)

    @event("Updated")
    def _updated(self, changes: dict[str, Any], meta: dict) -> None:
        for key, value in changes.items():
            setattr(self, key, value)

    def assign(self, assignee_id: UUID | None, is_project_member: bool, meta: dict) -> None:
        """Assign to a member of the task's project (the caller says whether the
        assignee is one), or unassign with ``None``."""
        if assignee_id is not None and not is_project_member:
            raise AssigneeNotProjectMember("the assignee is not a member of the task's project",
                                           field="assignee_id")
        if assignee_id != self.assignee_id:
            self._assigned(assignee_id=assignee_id, meta=meta)

    @event("Assigned")
    def _assigned(self, assignee_id: UUID | None, meta: dict) -> None:
        self.assignee_id = assignee_id

    def change_status(self, status: TaskStatus, meta: dict) -> None:
        current = TaskStatus(self.status)
        if status is current:
            return
        if status not in TRANSITIONS[current]:
            raise IllegalTaskTransition(
                f"a {current.value} task cannot become {status.value}", field="status"
            )
        self._status_changed(status=status.value, previous=current.value, meta=meta)

    @event("StatusChanged")
    def _status_changed(self, status: str, previous: str, meta: dict) -> None:
        self.status = status

    def add_checklist_item(self, item_id: str, text: str, meta: dict) -> None:
        if item_id in self.checklist:
            raise ChecklistItemExists("a checklist item with this id exists", field="item_id")
        if len(self.checklist) >= MAX_CHECKLIST_ITEMS:
            raise ChecklistFull(f"a checklist holds at most {MAX_CHECKLIST_ITEMS} items",
                                field="text")
        text = require_text(text, "text", max_length=MAX_CHECKLIST_TEXT)
        self._checklist_item_added(item_id=item_id, text=text, meta=meta)

    @event("ChecklistItemAdded")
    def _checklist_item_added(self, item_id: str, text: str, meta: dict) -> None:
        self.checklist[item_id] = {"text": text, "done": False}

    def set_checklist_item_done(self, item_id: str, done: bool, meta: dict) -> None:
        item = self._checklist_item(item_id)
        if not isinstance(done, bool):
            raise InvalidValue("done must be true or false", field="done")
        if item["done"] != done:
            self._checklist_item_toggled(item_id=item_id, done=done, meta=meta)

    @event("ChecklistItemToggled")
    def _checklist_item_toggled(self, item_id: str, done: bool, meta: dict) -> None:
        self.checklist[item_id] = {**self.checklist[item_id], "done": done}

    def edit_checklist_item(self, item_id: str, text: str, meta: dict) -> None:
        item = self._checklist_item(item_id)
        text = require_text(text, "text", max_length=MAX_CHECKLIST_TEXT)
        if item["text"] != text:
            self._checklist_item_edited(item_id=item_id, text=text, meta=meta)

    @event("ChecklistItemEdited")
    def _checklist_item_edited(self, item_id: str, text: str, meta: dict) -> None:
        self.checklist[item_id] = {**self.checklist[item_id], "text": text}

    def remove_checklist_item(self, item_id: str, meta: dict) -> None:
        self._checklist_item(item_id)
        self._checklist_item_removed(item_id=item_id, meta=meta)

    @event("ChecklistItemRemoved")
    def _checklist_item_removed(self, item_id: str, meta: dict) -> None:
        del self.checklist[item_id]

    def _checklist_item(self, item_id: str) -> dict[str, Any]:
        item = self.checklist.get(item_id)
        if item is None:
            raise ChecklistItemNotFound(f"checklist item {item_id} not found", field="item_id")
        return item
