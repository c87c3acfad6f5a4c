"""Unique emails and idempotency keys hold when requests arrive at the same moment."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

from domain.base import AlreadyExists, CommandContext
from vistone.app import Command
from vistone.commands import organizations, users
from vistone.recorder import IdempotencyKey
from vistone.runtime import Runtime


def race(count: int, action: Callable[[int], Any]) -> list[Any]:
    """Run ``action`` in ``count`` threads released together; collect results or errors."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = action(i)
        except Exception as error:  # the outcome under test
            results[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_concurrent_registrations_of_one_email_let_exactly_one_in(runtime: Runtime) -> None:
    for _ in range(5):
        email = f"race-{uuid.uuid4().hex[:8]}@x.test"
        results = race(4, lambda i, email=email: users.register_user(
            Command(runtime.app, CommandContext(None)),
            email=email.upper() if i % 2 else email, name="R", password="password-1"))
        winners = [r for r in results if not isinstance(r, Exception)]
        assert len(winners) == 1, results
        assert all(isinstance(r, AlreadyExists) for r in results if r not in winners)


def test_concurrent_retries_with_one_idempotency_key_append_once(runtime: Runtime) -> None:
    owner = users.register_user(Command(runtime.app, CommandContext(None)),
                                email=f"o-{uuid.uuid4().hex}@x.test", name="O",
                                password="password-1").id
    key = IdempotencyKey(owner, "create-org", "fingerprint-1")
    slug = f"idem-{uuid.uuid4().hex[:10]}"
    results = race(4, lambda _: organizations.create_organization(
        Command(runtime.app, CommandContext(owner), idempotency=key), name="Idem", slug=slug))
    assert not [r for r in results if isinstance(r, Exception)], results
    assert len({r.id for r in results}) == 1
    assert len({r.position for r in results}) == 1
