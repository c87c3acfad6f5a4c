"""`vistone export` against a real database: the log as JSON lines for auditors, one line
per event with its metadata and its attributes in their current form, filtered, streamed
page by page."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from domain.base import CommandContext
from domain.task import Task, TaskStatus
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
from vistone.cli import main
from vistone.commands import organizations, projects, tasks, users
from vistone.export import ExportFilter, export_lines, write_export
from vistone.runtime import Runtime

LINE_KEYS = {"position", "aggregate_id", "aggregate_type", "version", "event_type",
             "timestamp", "meta", "attributes"}
META_KEYS = {"actor_id", "organization_id", "correlation_id", "causation_id", "client_ip",
             "user_agent"}


def as_actor(runtime: Runtime, actor: UUID | None, *, ip: str | None = None) -> Command:
    return Command(runtime.app, CommandContext(actor, client_ip=ip, user_agent="export-test",
                                               correlation_id="corr-1" if ip else None))


def write_history(runtime: Runtime) -> dict[str, Any]:
    """Two organizations with their own owners; a project and a task in the first."""
    alice = users.register_user(as_actor(runtime, None), email="alice@export.test",
                                name="Alice Auditable", password="password-1").id
    bob = users.register_user(as_actor(runtime, None), email="bob@export.test", name="Bob",
                              password="password-1").id
    org_a = organizations.create_organization(as_actor(runtime, alice, ip="10.0.0.1"),
                                              name="Org A", slug="org-a").id
    org_b = organizations.create_organization(as_actor(runtime, bob), name="Org B",
                                              slug="org-b").id
    project = projects.create_project(as_actor(runtime, alice), org_a, name="Apollo").id
    task = tasks.create_task(as_actor(runtime, alice), org_a, project, title="Audit me").id
    changed = tasks.change_task_status(as_actor(runtime, alice, ip="10.0.0.2"), org_a, task,
                                       status=TaskStatus.IN_PROGRESS)
    tasks.update_task(as_actor(runtime, alice), org_a, task, changes={"title": "Audited"})
    organizations.update_organization(as_actor(runtime, bob), org_b, name="Org B2")
    return {"alice": alice, "bob": bob, "org_a": org_a, "org_b": org_b, "project": project,
            "task": task, "status_changed": changed.position}


def export(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, Any]]:
    assert main(["export", *args]) == 0
    out = capsys.readouterr().out
    assert out == "" or out.endswith("\n")
    return [json.loads(line) for line in out.splitlines()]


def log_events(runtime: Runtime) -> list[tuple[int, Any]]:
    app = runtime.app
    return [(n.id, app.mapper.to_domain_event(n))
            for n in app.recorder.select_notifications(start=1, limit=100_000)]


def test_every_event_is_one_json_line_with_its_metadata(
    cli_env: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    history = write_history(cli_env)
    events = log_events(cli_env)
    lines = export(capsys)
    assert [line["position"] for line in lines] == [position for position, _ in events]
    for line, (_, event) in zip(lines, events, strict=True):
        assert set(line) == LINE_KEYS and set(line["meta"]) >= META_KEYS
        assert line["aggregate_id"] == str(event.originator_id)
        assert line["version"] == event.originator_version
        # RFC 3339 in UTC, the same instant as the event's.
        assert line["timestamp"].endswith("Z")
        assert datetime.fromisoformat(line["timestamp"]) == event.timestamp

    changed = next(line for line in lines if line["position"] == history["status_changed"])
    assert changed["event_type"] == "task.status_changed"
    assert changed["aggregate_type"] == "task"
    assert changed["aggregate_id"] == str(history["task"])
    assert changed["attributes"] == {"status": "IN_PROGRESS", "previous": "PENDING"}
    assert changed["meta"] == {
        "actor_id": str(history["alice"]), "organization_id": str(history["org_a"]),
        "correlation_id": "corr-1", "causation_id": None, "client_ip": "10.0.0.2",
        "user_agent": "export-test"}
    types = {line["event_type"] for line in lines}
    assert {"user.registered", "organization.created", "project.created", "task.created",
            "task.updated", "organization.renamed"} <= types
    created = next(line for line in lines if line["event_type"] == "task.created")
    assert created["attributes"]["title"] == "Audit me"
    assert created["attributes"]["project_id"] == str(history["project"])


def test_password_hashes_are_never_exported_and_personal_fields_on_request(
    cli_env: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    history = write_history(cli_env)
    password_hash: str = cli_env.app.repository.get(history["alice"]).password_hash
    assert main(["export"]) == 0
    out = capsys.readouterr().out
    assert password_hash not in out
    registered = [json.loads(line) for line in out.splitlines()
                  if '"user.registered"' in line]
    assert len(registered) == 2
    assert all(r["attributes"]["password_hash"] == {"withheld": True} for r in registered)
    assert "Alice Auditable" in out  # personal data is part of the audit by default

    assert main(["export", "--withhold-personal"]) == 0
    out = capsys.readouterr().out
    assert "Alice Auditable" not in out and "alice@export.test" not in out
    alice = next(json.loads(line) for line in out.splitlines()
                 if f'"aggregate_id":"{history["alice"]}"' in line)
    assert alice["attributes"]["name"] == {"withheld": True}


def test_organization_filter_keeps_only_that_organization(
    cli_env: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    history = write_history(cli_env)
    org_a = str(history["org_a"])
    lines = export(capsys, "--organization", org_a)
    for line in lines:
        assert org_a in (line["meta"]["organization_id"],
                         line["attributes"].get("organization_id"), line["aggregate_id"])
    ids = {line["aggregate_id"] for line in lines}
    assert {org_a, str(history["project"]), str(history["task"])} <= ids
    assert str(history["org_b"]) not in ids
    assert "user.registered" not in {line["event_type"] for line in lines}
    # Every event of the task is there.
    assert [line["version"] for line in lines if line["aggregate_id"] == str(history["task"])
            ] == [1, 2, 3]
    assert export(capsys, "--organization", str(uuid.uuid4())) == []


def test_aggregate_filter_gives_one_aggregates_history_in_order(
    cli_env: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    history = write_history(cli_env)
    lines = export(capsys, "--aggregate", str(history["task"]))
    assert [(line["version"], line["event_type"]) for line in lines] == [
        (1, "task.created"), (2, "task.status_changed"), (3, "task.updated")]


def test_since_and_until_take_positions_and_times_inclusively(
    cli_env: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    write_history(cli_env)
    events = log_events(cli_env)
    positions = [p for p, _ in events]
    low, high = positions[3], positions[-3]
    lines = export(capsys, "--since", str(low), "--until", str(high))
    assert [line["position"] for line in lines] == [p for p in positions if low <= p <= high]

    stamps = dict(events)
    since, until = stamps[low].timestamp, stamps[high].timestamp
    # The same instants in another offset: a time is an instant, whatever the zone.
    offset = timezone(timedelta(hours=-7))
    lines = export(capsys, "--since", since.astimezone(offset).isoformat(),
                   "--until", until.astimezone(UTC).isoformat().replace("+00:00", "Z"))
    assert [line["position"] for line in lines] == [
        p for p, e in events if since <= e.timestamp <= until]
    assert lines[0]["position"] == low and lines[-1]["position"] == high
    # Combined with another filter.
    only_since = export(capsys, "--since", str(high + 1))
    assert [line["position"] for line in only_since] == [p for p in positions if p > high]


def test_an_older_event_version_is_exported_upcast(
    cli_env: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Task.Created of version 1 (before the event said the status) in the log: the
    export shows it as version 2 reads it, with the status it implied."""
    history = write_history(cli_env)
    app = cli_env.app
    old_task = Task.create(id=uuid.uuid4(), project_id=history["project"],
                           organization_id=history["org_a"], title="From before",
                           creator_id=history["alice"],
                           meta=CommandContext(history["alice"], history["org_a"]).meta)
    stored = app.mapper.to_stored_event(old_task.collect_events()[0])
    state = json.loads(stored.state)
    del state["status"], state["class_version"]
    stored = type(stored)(stored.originator_id, stored.originator_version, stored.topic,
                          json.dumps(state).encode())
    app.recorder.insert_events([stored])
    assert b'"status"' not in stored.state  # really version 1 in the log

    lines = export(capsys, "--aggregate", str(old_task.id))
    assert len(lines) == 1
    assert lines[0]["event_type"] == "task.created"
    assert lines[0]["attributes"]["status"] == "PENDING"
    assert lines[0]["attributes"]["title"] == "From before"


def test_output_file_holds_the_same_lines_and_nothing_partial_is_left(
    cli_env: Runtime, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    write_history(cli_env)
    assert main(["export"]) == 0
    to_stdout = capsys.readouterr().out
    target = tmp_path / "audit.jsonl"
    assert main(["export", "--output", str(target)]) == 0
    assert capsys.readouterr().out == ""  # the lines went to the file
    assert target.read_text() == to_stdout
    assert [p.name for p in tmp_path.iterdir()] == ["audit.jsonl"]


@pytest.mark.parametrize("args", [
    ["--organization", "not-an-id"], ["--aggregate", "42"],
    ["--since", "2025-03-01T10:00:00"], ["--until", "last tuesday"],
])
def test_bad_filters_are_refused_without_output(
    cli_env: Runtime, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    write_history(cli_env)
    assert main(["export", *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and args[0] in captured.err


class _Pages:
    """Counts the pages the export reads from the real recorder."""

    def __init__(self, runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[int, int]] = []
        real = runtime.app.recorder.select_notifications

        def counted(*args: Any, **kwargs: Any) -> Any:
            found = real(*args, **kwargs)
            self.calls.append((kwargs["start"], len(found)))
            return found

        monkeypatch.setattr(runtime.app.recorder, "select_notifications", counted)


def test_the_export_is_streamed_page_by_page(
    cli_env: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_history(cli_env)
    head = cli_env.app.recorder.max_notification_id()
    assert head is not None and head > 6
    pages = _Pages(cli_env, monkeypatch)
    lines = export_lines(cli_env.app, ExportFilter(), page_size=3)
    first = next(lines)
    # The first line is out after one page of the log was read.
    assert json.loads(first)["position"] == 1 and pages.calls == [(1, 3)]
    rest = list(lines)
    assert len(rest) == head - 1
    assert all(size <= 3 for _, size in pages.calls) and len(pages.calls) >= head // 3

    class Sink:
        """Records each write: one per line, as each is made."""

        def __init__(self) -> None:
            self.writes: list[bytes] = []

        def write(self, data: bytes) -> int:
            self.writes.append(data)
            return len(data)

    sink = Sink()
    assert write_export(cli_env.app, sink, ExportFilter()) == head  # type: ignore[arg-type]
    assert len(sink.writes) == head and all(w.count(b"\n") == 1 for w in sink.writes)


@pytest.mark.timeout(600)
@settings(max_examples=1, deadline=None, database=None, phases=[Phase.generate],
          suppress_health_check=list(HealthCheck))
@given(v=values(), cv=client_values())
def test_withholding_personal_leaves_nothing_personal_for_any_event(
    fresh_runtime: Runtime, v: Values, cv: ClientValues,
) -> None:
    """Every aggregate and event type with personal values the rules accept: the export
    for sending outside holds none of them (inside a dict of changes, a conversation's
    questions and answers included), and says where each was withheld."""
    runtime = fresh_runtime
    world = run_every_command(runtime, v)
    run_client_commands(runtime, world, cv)
    run_assistant_commands(runtime, world, v)
    lines = [json.loads(line) for line in
             export_lines(runtime.app, ExportFilter(withhold_personal=True))]
    assert len(lines) == runtime.app.recorder.max_notification_id()
    secrets = personal_values(v, cv)
    for line in lines:  # (the world uses names as correlation ids: meta is the caller's)
        assert not leaks(secrets, line["attributes"]), line["event_type"]
    by_type = {line["event_type"]: line["attributes"] for line in lines}
    assert by_type["client.updated"]["changes"]["email"] == {"withheld": True}
    assert by_type["conversation.asked"]["question"] == {"withheld": True}
    assert by_type["conversation.answered"]["answer"] == {"withheld": True}
