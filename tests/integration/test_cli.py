"""The operator's command line against a real database: status shows positions and lag,
rebuild replays a read model from the log."""

from __future__ import annotations

import pytest

from domain.base import CommandContext
from projections.runner import process_pending
from vistone.app import Command
from vistone.cli import main
from vistone.commands import users
from vistone.runtime import Runtime


def register(runtime: Runtime, count: int) -> None:
    for i in range(count):
        users.register_user(Command(runtime.app, CommandContext(None)), email=f"cli{i}@x.test",
                            name=f"Cli {i}", password="password-1")


def status_rows(output: str) -> dict[str, list[str]]:
    return {line.split()[0]: line.split() for line in output.splitlines()[1:] if line.strip()}


def test_status_shows_each_projection_lag_behind_the_log(
    cli_env: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    register(cli_env, 3)
    assert main(["status"]) == 0
    rows = status_rows(capsys.readouterr().out)
    head = cli_env.app.recorder.max_notification_id()
    assert set(rows) >= {"users", "organizations", "tasks", "timelogs", "messages"}
    # name, state, generation, position, head, lag
    assert rows["users"][1] == "active"
    assert rows["users"][3:6] == ["0", str(head), str(head)]

    while process_pending(cli_env.app, cli_env.pool, cli_env.read_models):
        pass
    assert main(["status"]) == 0
    rows = status_rows(capsys.readouterr().out)
    assert rows["users"][3:6] == [str(head), str(head), "0"]


def test_rebuild_replays_a_read_model_to_the_same_rows(
    cli_env: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    register(cli_env, 4)
    while process_pending(cli_env.app, cli_env.pool, cli_env.read_models):
        pass
    with cli_env.pool.connection() as conn:
        before = conn.execute("SELECT * FROM auth.users ORDER BY id").fetchall()
    with cli_env.pool.connection() as conn:
        old = conn.execute("SELECT generation, storage FROM public.read_model_versions "
                           "WHERE name = 'users'").fetchone()
    assert old is not None
    assert main(["rebuild", "users"]) == 0
    assert "rebuilt users: generation" in capsys.readouterr().out
    with cli_env.pool.connection() as conn:
        new = conn.execute("SELECT generation, state FROM public.read_model_versions "
                           "WHERE name = 'users'").fetchall()
        assert new == [(new[0][0], "active")] and new[0][0] > old[0]
        # the old generation's tables are gone with its schema
        assert conn.execute("SELECT to_regnamespace(%s)", (old[1],)).fetchone() == (None,)
    with cli_env.pool.connection() as conn:
        assert conn.execute("SELECT * FROM auth.users ORDER BY id").fetchall() == before
    assert main(["rebuild", "no-such-model"]) == 2


def test_analytics_recompute_and_kafka_commands_need_a_cluster(
    cli_env: Runtime, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from analytics.store import AnalyticsStore

    register(cli_env, 3)
    head = cli_env.app.recorder.max_notification_id()
    assert main(["analytics", "--recompute"]) == 0
    assert f"{head} events applied" in capsys.readouterr().out
    with cli_env.pool.connection() as conn:
        progress = AnalyticsStore().progress(conn)
    assert progress["events_applied"] == head and progress["repeats_ignored"] == 0
    assert main(["status"]) == 0
    assert f"{head} applied, 0 repeats ignored, 0 skipped" in capsys.readouterr().out
    # The relay and the consumers run on a cluster; the server runs them itself otherwise.
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    for command in ("relay", "analytics"):
        assert main([command]) == 2
        assert "set KAFKA_BOOTSTRAP_SERVERS" in capsys.readouterr().err
