"""The 24-hour rule under concurrent requests: eight threads log 5 hours each for the
same person and date at the same moment; exactly four fit."""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from domain.base import CommandContext
from domain.person_day import DailyLimitExceeded, PersonDay, person_day_id
from projections.runner import wait_for_position
from tests.e2e.test_timelogs_api import new_project, new_task
from tests.helpers import new_organization, new_person
from vistone.app import Command, CommandResult
from vistone.commands.timelogs import log_time
from vistone.runtime import Runtime

THREADS = 8


def race(runtime: Runtime, actor: UUID, org: UUID, task: UUID,
         work_date: date) -> tuple[list[CommandResult], list[Exception]]:
    barrier = threading.Barrier(THREADS)
    results: list[CommandResult] = []
    errors: list[Exception] = []
    lock = threading.Lock()

    def attempt() -> None:
        barrier.wait()
        try:
            result = log_time(Command(runtime.app, CommandContext(actor_id=actor)),
                              org, task_id=task,
                              work_date=work_date, hours=Decimal(5))
        except Exception as error:  # collected and checked below
            with lock:
                errors.append(error)
        else:
            with lock:
                results.append(result)

    threads = [threading.Thread(target=attempt) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results, errors


@pytest.mark.parametrize("work_date", [date(2024, 1, 31), date(2024, 2, 29), date(2024, 12, 31)])
def test_concurrent_logs_never_exceed_24_hours(client: TestClient, runtime: Runtime,
                                               work_date: date) -> None:
    ann = new_person(client, "Ann")
    org = new_organization(client, ann)["id"]
    task = new_task(client, ann, org, new_project(client, ann, org))
    actor, org_id, task_id = UUID(ann.id), UUID(org), UUID(task)

    results, errors = race(runtime, actor, org_id, task_id, work_date)

    assert len(results) == 4, errors
    assert len(errors) == 4 and all(isinstance(e, DailyLimitExceeded) for e in errors), errors
    ledger = runtime.app.repository.get(person_day_id(actor, work_date))
    assert isinstance(ledger, PersonDay)
    assert ledger.total == Decimal(20)
    assert set(ledger.entries) == {str(r.id) for r in results}

    head = max(r.position or 0 for r in results)
    assert wait_for_position(runtime.pool, ["timelogs"], head, 10.0)
    with runtime.pool.connection() as conn:
        total = conn.execute(
            "SELECT hours FROM workforce.person_day_totals "
            "WHERE person_id = %s AND work_date = %s AND organization_id = %s",
            (actor, work_date, org_id),
        ).fetchone()
        rows = conn.execute(
            "SELECT count(*) FROM workforce.time_logs WHERE person_id = %s AND work_date = %s "
            "AND deleted_at IS NULL", (actor, work_date),
        ).fetchone()
    assert total is not None and total[0] == Decimal(20)
    assert rows is not None and rows[0] == 4
