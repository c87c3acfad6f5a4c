"""Operating the embedding queue: `vistone embed` as its own process empties it, and
`vistone status` and `/metrics` show what waits and how late it is."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from domain.base import CommandContext
from projections.runner import process_pending
from projections.search_index import queue_figures
from vistone.app import Command
from vistone.cli import main
from vistone.commands import organizations, projects, users
from vistone.runtime import Runtime


def some_projects(runtime: Runtime, count: int) -> None:
    owner = users.register_user(Command(runtime.app, CommandContext(None)),
                                email="owner@embed.test", name="Owner",
                                password="password-1").id
    command = Command(runtime.app, CommandContext(owner))
    org = organizations.create_organization(command, name="Embed", slug="embed").id
    for i in range(count):
        projects.create_project(command, org, name=f"Project {i}",
                                description=f"Launch campaign number {i} for the coffee brand")
    while process_pending(runtime.app, runtime.pool, runtime.read_models):
        pass


def status_line(output: str) -> str:
    return next(line for line in output.splitlines() if line.startswith("search index"))


def test_embed_until_idle_empties_the_queue_and_status_says_so(
    cli_env: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    some_projects(cli_env, 5)
    with cli_env.pool.connection() as conn:
        assert queue_figures(conn)["pending"] == 5
    assert main(["status"]) == 0
    line = status_line(capsys.readouterr().out)
    assert "5 chunks, 5 waiting for an embedding" in line and "wordllama" in line

    assert main(["embed", "--until-idle"]) == 0
    with cli_env.pool.connection() as conn:
        figures = queue_figures(conn)
        embedded = conn.execute("SELECT count(*) FROM ai_engine.chunks "
                                "WHERE embedding IS NOT NULL").fetchone()
    assert figures["pending"] == 0 and embedded == (5,)
    assert figures["recent_lag_p95_seconds"] is not None
    assert main(["status"]) == 0
    assert "5 chunks, 0 waiting for an embedding" in status_line(capsys.readouterr().out)


def test_metrics_show_the_embedding_queue(cli_env: Runtime) -> None:
    some_projects(cli_env, 3)
    with TestClient(create_app(cli_env, run_projections=False)) as http:
        metrics = http.get("/metrics").text
    model = cli_env.search_index().embedding.name  # type: ignore[union-attr]
    assert f'vistone_embedding_pending_chunks{{model="{model}"}} 3.0' in metrics
    assert f'vistone_search_chunks{{model="{model}"}} 3.0' in metrics
    assert f'vistone_embedding_failing{{model="{model}"}} 0.0' in metrics
    lag = next(line for line in metrics.splitlines()
               if line.startswith("vistone_embedding_lag_seconds{"))
    assert float(lag.split()[-1]) >= 0.0
