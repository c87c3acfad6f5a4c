"""domain/state.py: the names the timeline gives aggregates and events, and the
field-level changes it records."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from domain.client_feedback import ClientFeedback
from domain.state import (
    action_name,
    changes,
    entity_type,
    fields_of,
    is_internal,
    json_value,
    personal_fields,
    public_state,
)
from domain.task import Task, TaskStatus
from domain.timelog import TimeLog
from domain.uniqueness import UniqueClaim
from domain.user import User


def new_task() -> Task:
    return Task.create(id=uuid.uuid4(), project_id=uuid.uuid4(), organization_id=uuid.uuid4(),
                       title="Draft", creator_id=uuid.uuid4(), meta={})


def test_names_are_snake_case_and_stable() -> None:
    assert entity_type(Task) == "task"
    assert entity_type(TimeLog) == "time_log"
    assert entity_type(ClientFeedback) == "client_feedback"
    assert action_name(Task, Task.StatusChanged) == "task.status_changed"
    assert action_name(Task, Task.ChecklistItemAdded) == "task.checklist_item_added"


def test_a_status_change_is_old_to_new() -> None:
    task = new_task()
    before = json_value(fields_of(task))
    task.change_status(TaskStatus.IN_PROGRESS, meta={})
    assert changes(before, fields_of(task)) == [
        {"field": "status", "old": "PENDING", "new": "IN_PROGRESS"}]


def test_nested_fields_change_by_dotted_path_even_when_mutated_in_place() -> None:
    task = new_task()
    task.add_checklist_item("step-1", "Write it", meta={})
    before = json_value(fields_of(task))  # a copy: the mutator changes the dict in place
    task.set_checklist_item_done("step-1", True, meta={})
    assert changes(before, fields_of(task)) == [
        {"field": "checklist.step-1.done", "old": False, "new": True}]


def test_a_field_that_appears_or_disappears_has_a_null_side() -> None:
    assert changes({"a": 1}, {"b": 2}) == [{"field": "a", "old": 1, "new": None},
                                           {"field": "b", "old": None, "new": 2}]
    # Appearing as null is no change worth a line (a creation's empty fields).
    assert changes({}, {"assignee_id": None}) == []


def test_personal_fields_are_withheld_never_copied() -> None:
    assert personal_fields(User) >= {"email", "name", "phone", "password_hash"}
    found = changes({"name": "Ada", "email": "ada@example.com"},
                    {"name": "Ada Lovelace", "email": "ada@example.com"},
                    personal_fields(User))
    assert found == [{"field": "name", "withheld": True}]
    assert "Ada" not in repr(found)


def test_values_become_exact_json() -> None:
    moment = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    ident = uuid.uuid4()
    assert json_value({"id": ident, "hours": Decimal("0.10"), "day": date(2026, 1, 5),
                       "at": moment, "tags": {"b", "a"}, "status": TaskStatus.PENDING,
                       "pair": (1, 2)}) == {
        "id": str(ident), "hours": "0.10", "day": "2026-01-05",
        "at": "2026-01-05T09:30:00+00:00", "tags": ["a", "b"], "status": "PENDING",
        "pair": [1, 2]}


def test_public_state_leaves_out_the_library_bookkeeping() -> None:
    state = public_state(new_task())
    assert state["title"] == "Draft" and state["status"] == "PENDING"
    assert not [k for k in state if k.startswith("_")]


def test_internal_aggregates_are_flagged() -> None:
    assert is_internal(UniqueClaim) and not is_internal(Task)


json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner, max_size=3)),
    max_leaves=10)
states = st.dictionaries(st.text(min_size=1, max_size=4), json_values, max_size=5)


def _without_nulls(value: object) -> object:
    """A missing field and a null one are the same to the timeline, at any depth."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    return value


@given(states, states)
def test_no_change_exactly_when_equal(before: dict, after: dict) -> None:
    assert (changes(before, after) == []) == (_without_nulls(before) == _without_nulls(after))


@given(states, states)
def test_each_change_names_a_field_whose_value_differs(before: dict, after: dict) -> None:
    original = copy.deepcopy(before)
    for change in changes(before, after):
        assert change["old"] != change["new"]
    assert before == original  # comparing never mutates
