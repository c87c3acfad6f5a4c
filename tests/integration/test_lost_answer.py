"""A write whose answer is lost after it committed (the store then retries it) is a
success, not a conflict: the command answers with the position it reached."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from eventsourcing.persistence import OperationalError

from domain.base import CommandContext
from vistone.app import Command
from vistone.commands import organizations, users
from vistone.runtime import Runtime


def test_a_committed_write_whose_answer_was_lost_is_reported_as_done(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = users.register_user(Command(runtime.app, CommandContext(None)),
                                email=f"lost-{uuid.uuid4().hex}@x.test", name="L",
                                password="password-1").id
    recorder = runtime.app.recorder
    insert = recorder.insert_events
    calls = {"n": 0}

    def commit_then_lose_the_answer(stored_events: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            insert(stored_events, **kwargs)  # committed...
            raise OperationalError("connection lost")  # ...but the answer never came
        return insert(stored_events, **kwargs)  # the store's own retry: a collision

    # The library retries insert_events on OperationalError: emulate its retry here.
    def with_retry(stored_events: Any, **kwargs: Any) -> Any:
        try:
            return commit_then_lose_the_answer(stored_events, **kwargs)
        except OperationalError:
            return commit_then_lose_the_answer(stored_events, **kwargs)

    monkeypatch.setattr(recorder, "insert_events", with_retry)
    result = organizations.create_organization(
        Command(runtime.app, CommandContext(owner)),
name="Lost", slug=f"lost-{uuid.uuid4().hex[:10]}")
    monkeypatch.undo()
    assert result.version == 1 and result.position is not None
    stored = list(runtime.app.repository.event_store.get(result.id))
    assert len(stored) == 1  # appended once
