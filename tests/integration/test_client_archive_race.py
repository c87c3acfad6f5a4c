"""Archiving a client while proposals, feedback and project links are being attached to it
(and a proposal sent to it): an archived client is read-only, so whatever was attached is in
the log before the archive and everything else was refused with ClientArchived.

Each attaching command records an event on the Client, so it conflicts with a concurrent
archive on the client's version and re-runs on the archived state (domain/client.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from uuid import UUID

from fastapi.testclient import TestClient

from domain.base import CommandContext
from domain.client import ClientArchived
from tests.helpers import (
    add_client,
    add_client_project,
    add_member,
    new_organization,
    new_person,
    race,
)
from vistone.app import Command, CommandResult
from vistone.commands.client_feedback import give_feedback
from vistone.commands.clients import archive_client
from vistone.commands.projects import create_project, link_client
from vistone.commands.proposals import create_proposal, send_proposal
from vistone.runtime import Runtime

ROUNDS = 15


def _after(seconds: float, attempt: Callable[[], CommandResult]) -> CommandResult:
    time.sleep(seconds)
    return attempt()


def test_what_is_attached_to_a_client_is_attached_before_its_archive(
    client: TestClient, runtime: Runtime,
) -> None:
    ann, max_ = new_person(client, "Ann"), new_person(client, "Max")
    org = new_organization(client, ann)
    add_member(client, ann, org["id"], max_, "Manager")
    organization_id = UUID(org["id"])
    staff = [CommandContext(actor_id=UUID(ann.id)), CommandContext(actor_id=UUID(max_.id))]

    attached = refused = 0
    for round_number in range(ROUNDS):
        client_id = UUID(add_client(client, ann, org["id"])["id"])
        project_id = UUID(add_client_project(client, ann, org["id"], None)["id"])

        def command(i: int) -> Command:
            return Command(runtime.app, staff[i % 2])

        draft = create_proposal(command(0), organization_id, client_id, title="Draft").id

        creates: list[Callable[[], CommandResult]] = [
            partial(create_proposal, command(0), organization_id, client_id, title="Offer"),
            partial(create_proposal, command(1), organization_id, client_id, title="Offer"),
            partial(give_feedback, command(0), organization_id, client_id, rating=4),
            partial(give_feedback, command(1), organization_id, client_id, rating=2),
            partial(link_client, command(0), organization_id, project_id, client_id=client_id),
            partial(create_project, command(1), organization_id,
                    name=f"For the client {round_number}", client_id=client_id),
            partial(send_proposal, command(0), organization_id, draft),
        ]
        # The archive starts a little later each round (0 to 56 ms), so that on any
        # machine some rounds see creates win and others see the archive win.
        archive = partial(_after, round_number * 0.004, partial(
            archive_client, command(0), organization_id, client_id))
        *outcomes, archived = race([*creates, archive])

        assert isinstance(archived, CommandResult), archived
        assert archived.position is not None
        for outcome in outcomes:
            if isinstance(outcome, CommandResult):
                assert outcome.position is not None
                assert outcome.position < archived.position, (round_number, outcomes, archived)
                attached += 1
            else:
                assert isinstance(outcome, ClientArchived), (round_number, outcome)
                refused += 1
    # Both sides of the race were run (not a test that only ever saw one order).
    assert attached and refused, (attached, refused)
