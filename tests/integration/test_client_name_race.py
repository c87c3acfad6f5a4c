"""Two requests creating one client name at the same moment: exactly one wins; and two
linking one portal user to two clients at the same moment: exactly one link holds."""

from __future__ import annotations

from functools import partial
from uuid import UUID

from fastapi.testclient import TestClient

from domain.base import AlreadyExists, CommandContext
from projections.runner import wait_for_position
from tests.helpers import add_client, add_member, new_organization, new_person, race
from vistone.app import Command, CommandResult
from vistone.commands.clients import create_client, link_portal_user
from vistone.runtime import Runtime

ROUNDS = 20


def one_winner(outcomes: list[object]) -> CommandResult:
    winners = [o for o in outcomes if isinstance(o, CommandResult)]
    losers = [o for o in outcomes if not isinstance(o, CommandResult)]
    assert len(winners) == 1, outcomes
    assert len(losers) == 1 and isinstance(losers[0], AlreadyExists), outcomes
    return winners[0]


def test_concurrent_creations_of_one_client_name_let_exactly_one_in(
    client: TestClient, runtime: Runtime,
) -> None:
    ann, max_ = new_person(client, "Ann"), new_person(client, "Max")
    org = new_organization(client, ann)
    add_member(client, ann, org["id"], max_, "Manager")
    organization_id = UUID(org["id"])
    contexts = [CommandContext(actor_id=UUID(ann.id)), CommandContext(actor_id=UUID(max_.id))]

    last_position = 0
    for round_number in range(ROUNDS):
        # Different spellings of one name: the claim is on the normalized key.
        names = [f"Race {round_number}", f"  RACE   {round_number}"]
        winner = one_winner(race([
            partial(create_client, Command(runtime.app, contexts[i]), organization_id,
                    name=names[i])
            for i in range(2)]))
        last_position = max(last_position, winner.position or 0)

    assert wait_for_position(runtime.pool, ["clients"], last_position, 10.0)
    with runtime.pool.connection() as conn:
        count = conn.execute(
            "SELECT count(*), count(DISTINCT lower(name)) FROM client.clients "
            "WHERE organization_id = %s", (organization_id,),
        ).fetchone()
    assert count == (ROUNDS, ROUNDS)


def test_concurrent_links_of_one_portal_user_let_exactly_one_in(
    client: TestClient, runtime: Runtime,
) -> None:
    ann = new_person(client, "Ann")
    org = new_organization(client, ann)
    organization_id = UUID(org["id"])
    acme, globex = (UUID(add_client(client, ann, org["id"])["id"]) for _ in range(2))
    ctx = CommandContext(actor_id=UUID(ann.id))

    last_position = 0
    for _ in range(ROUNDS // 4):
        carl = new_person(client, "Carl")
        add_member(client, ann, org["id"], carl, "Client")
        winner = one_winner(race([
            partial(link_portal_user, Command(runtime.app, ctx), organization_id, c,
                    user_id=UUID(carl.id))
            for c in (acme, globex)]))
        last_position = max(last_position, winner.position or 0)

    assert wait_for_position(runtime.pool, ["clients"], last_position, 10.0)
    with runtime.pool.connection() as conn:
        count = conn.execute(
            "SELECT count(*), count(DISTINCT user_id) FROM client.portal_users "
            "WHERE organization_id = %s", (organization_id,),
        ).fetchone()
    assert count == (ROUNDS // 4, ROUNDS // 4)
