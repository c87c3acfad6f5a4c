"""Channel history is not a cost of posting, and a direct channel is unique per pair
even when both people open it at the same moment."""

from __future__ import annotations

import threading
import time
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient

from domain.base import CommandContext
from domain.channel import Channel, ChannelKind, DirectChannelExists, direct_channel_id
from domain.message import Message
from tests.helpers import add_member, new_organization, new_person
from vistone.app import Command
from vistone.commands.channels import create_channel, post_message
from vistone.runtime import Runtime

HISTORY = 100_000
BATCH = 500  # app.save of ~1,000+ events at once stalls in the psycopg pipeline here
MEMBERSHIP_CHURN = 250


class LoadCounter:
    """Counts the aggregates a command loads and the stored events it reads."""

    def __init__(self, runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
        self.loaded: list[UUID] = []
        self.events_read = 0
        repository, recorder = runtime.app.repository, runtime.app.recorder
        get, select_events = repository.get, recorder.select_events

        def counting_get(aggregate_id: UUID, *args: Any, **kwargs: Any) -> Any:
            self.loaded.append(aggregate_id)
            return get(aggregate_id, *args, **kwargs)

        def counting_select(*args: Any, **kwargs: Any) -> Any:
            events = select_events(*args, **kwargs)
            self.events_read += len(events)
            return events

        monkeypatch.setattr(repository, "get", counting_get)
        monkeypatch.setattr(recorder, "select_events", counting_select)

    def reset(self) -> None:
        self.loaded.clear()
        self.events_read = 0


def test_posting_does_not_load_the_channel_history(
    client: TestClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch,
) -> None:
    ann, bob = new_person(client, "Ann"), new_person(client, "Bob")
    org = new_organization(client, ann)
    add_member(client, ann, org["id"], bob, "Contributor")
    organization_id, ann_id, bob_id = UUID(org["id"]), UUID(ann.id), UUID(bob.id)
    ctx = CommandContext(actor_id=ann_id)
    app = runtime.app

    busy = create_channel(Command(app, ctx), organization_id, kind=ChannelKind.TEAM, name="busy").id
    quiet = create_channel(Command(app, ctx),
                           organization_id, kind=ChannelKind.TEAM, name="quiet").id

    # Membership churn grows the Channel's own log past two snapshot intervals.
    channel = app.repository.get(busy)
    for _ in range(MEMBERSHIP_CHURN // 2):
        channel.join(bob_id, {})
        channel.leave(bob_id, {})
    channel.join(bob_id, {})
    app.save(channel)

    started = time.monotonic()
    members = channel.member_ids()
    for start in range(0, HISTORY, BATCH):
        batch = [Message.post(uuid4(), busy, organization_id, ann_id, f"message {start + i}",
                              members, {}) for i in range(BATCH)]
        app.save(*batch)
    seeded_in = time.monotonic() - started

    # One post each first: whatever the aggregate cache holds from set-up is brought up to
    # date, so the measured post shows the steady cost, not the cache's catch-up.
    for channel_id in (quiet, busy):
        post_message(Command(app, ctx), organization_id, channel_id, content="warm-up")

    counter = LoadCounter(runtime, monkeypatch)
    costs = {}
    for channel_id in (quiet, busy):
        counter.reset()
        result = post_message(Command(app, ctx), organization_id, channel_id, content="one more",
                              mentions=[ann_id])
        costs[channel_id] = (set(counter.loaded), counter.events_read)
        posted = app.repository.get(result.id)
        assert isinstance(posted, Message) and posted.channel_id == channel_id
        assert result.version == 1

    loaded, events_read = costs[busy]
    # Exactly the channel and the organization (the poster's role); never a message.
    assert loaded == {busy, organization_id}, seeded_in
    assert costs[quiet][0] == {quiet, organization_id}
    # The busy channel's log holds 250+ events and 100,000 messages refer to it, yet
    # loading it reads at most one snapshot interval of events plus the organization's.
    assert app.repository.get(busy).version > MEMBERSHIP_CHURN
    assert events_read <= 100 + costs[quiet][1], costs


@pytest.mark.parametrize("attempt", range(5))
def test_concurrent_direct_channel_creation_has_one_winner(
    client: TestClient, runtime: Runtime, attempt: int,
) -> None:
    ann, bob = new_person(client, "Ann"), new_person(client, "Bob")
    org = new_organization(client, ann)
    add_member(client, ann, org["id"], bob, "Contributor")
    organization_id = UUID(org["id"])
    pair = [(UUID(ann.id), UUID(bob.id)), (UUID(bob.id), UUID(ann.id))]
    barrier = threading.Barrier(len(pair))
    created: list[UUID] = []
    refused: list[UUID] = []
    errors: list[BaseException] = []

    def open_direct(actor: UUID, other: UUID) -> None:
        barrier.wait()
        try:
            result = create_channel(Command(runtime.app, CommandContext(actor_id=actor)),
                                    organization_id, kind=ChannelKind.DIRECT, user_id=other)
            created.append(result.id)
        except DirectChannelExists as e:
            refused.append(e.channel_id)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=open_direct, args=p) for p in pair]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    expected = direct_channel_id(organization_id, UUID(ann.id), UUID(bob.id))
    assert created == [expected] and refused == [expected]
    channel = runtime.app.repository.get(expected)
    assert isinstance(channel, Channel) and channel.version == 1
    assert channel.member_ids() == {ann.id, bob.id}
