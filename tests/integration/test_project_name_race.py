"""Two requests creating one project name at the same moment: exactly one wins."""

from __future__ import annotations

import threading
from uuid import UUID

from fastapi.testclient import TestClient

from domain.base import AlreadyExists, CommandContext
from projections.runner import wait_for_position
from tests.helpers import new_organization, new_person
from vistone.app import Command
from vistone.commands.projects import create_project
from vistone.runtime import Runtime

ROUNDS = 20


def race(runtime: Runtime, contexts: list[CommandContext], organization_id: UUID,
         names: list[str]) -> list[object]:
    start = threading.Barrier(len(contexts))
    outcomes: list[object] = [None] * len(contexts)

    def attempt(index: int) -> None:
        start.wait()
        try:
            outcomes[index] = create_project(Command(runtime.app, contexts[index]), organization_id,
                                             name=names[index])
        except Exception as error:  # noqa: BLE001 - the outcome is what the test checks
            outcomes[index] = error

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(len(contexts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def test_concurrent_creations_of_one_name_let_exactly_one_in(
    client: TestClient, runtime: Runtime,
) -> None:
    ann, bob = new_person(client, "Ann"), new_person(client, "Bob")
    org = new_organization(client, ann)
    r = client.post(f"/v1/organizations/{org['id']}/members",
                    json={"user_id": bob.id, "role": "Manager"}, headers=ann.headers)
    assert r.status_code == 201, r.text
    organization_id = UUID(org["id"])
    contexts = [CommandContext(actor_id=UUID(ann.id)), CommandContext(actor_id=UUID(bob.id))]

    last_position = 0
    for round_number in range(ROUNDS):
        # Different spellings of one name: the claim is on the normalized key.
        names = [f"Race {round_number}", f"  RACE   {round_number}"]
        outcomes = race(runtime, contexts, organization_id, names)
        winners = [o for o in outcomes if not isinstance(o, Exception)]
        losers = [o for o in outcomes if isinstance(o, Exception)]
        assert len(winners) == 1, outcomes
        assert len(losers) == 1 and isinstance(losers[0], AlreadyExists), outcomes
        last_position = max(last_position, winners[0].position or 0)  # type: ignore[attr-defined]

    assert wait_for_position(runtime.pool, ["projects"], last_position, 10.0)
    with runtime.pool.connection() as conn:
        count = conn.execute(
            "SELECT count(*), count(DISTINCT lower(name)) FROM project.projects "
            "WHERE organization_id = %s", (organization_id,),
        ).fetchone()
    assert count == (ROUNDS, ROUNDS)
