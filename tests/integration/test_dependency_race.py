"""Two or three requests that would together close a dependency cycle, arriving at the
same moment from real threads against the real database: the project's dependency
graph lets them in one at a time, so the last one sees the cycle."""

from __future__ import annotations

import threading
import uuid
from uuid import UUID

import pytest

from domain.base import CommandContext
from domain.task_dependencies import DependencyCycle, TaskDependencyGraph, dependency_graph_id
from vistone.app import Command
from vistone.commands import organizations, projects, tasks, users
from vistone.runtime import Runtime


def setup_organization(runtime: Runtime) -> tuple[CommandContext, UUID]:
    email = f"race-{uuid.uuid4().hex[:12]}@example.test"
    anonymous = CommandContext(actor_id=None)
    user = users.register_user(Command(runtime.app, anonymous), email=email, name="Racer",
                               password="correct horse battery").id
    ctx = CommandContext(actor_id=user, correlation_id="dependency-race")
    org = organizations.create_organization(Command(runtime.app, ctx), name="Race",
                                            slug=f"race-{uuid.uuid4().hex[:12]}").id
    return ctx.in_organization(org), org


def new_tasks(runtime: Runtime, ctx: CommandContext, org: UUID,
              count: int) -> tuple[UUID, list[UUID]]:
    project = projects.create_project(Command(runtime.app, ctx), org,
                                      name=f"P {uuid.uuid4().hex[:8]}").id
    return project, [tasks.create_task(Command(runtime.app, ctx), org, project, title=f"T{i}").id
                     for i in range(count)]


def race(runtime: Runtime, ctx: CommandContext, org: UUID,
         edges: list[tuple[UUID, UUID]]) -> tuple[int, list[BaseException]]:
    """Add every edge from its own thread, all released at once by a barrier."""
    barrier = threading.Barrier(len(edges))
    outcomes: list[BaseException | None] = [None] * len(edges)

    def add(i: int, task: UUID, depends_on: UUID) -> None:
        barrier.wait()
        try:
            tasks.add_dependency(Command(runtime.app, ctx), org, task, depends_on_id=depends_on)
        except BaseException as error:  # noqa: BLE001 - collected and asserted below
            outcomes[i] = error

    threads = [threading.Thread(target=add, args=(i, a, b)) for i, (a, b) in enumerate(edges)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    failures = [o for o in outcomes if o is not None]
    return len(edges) - len(failures), failures


def stored_edges(runtime: Runtime, project: UUID) -> set[tuple[str, str]]:
    graph = runtime.app.repository.get(dependency_graph_id(project))
    assert isinstance(graph, TaskDependencyGraph)
    return {(t, d) for t, ds in graph.edges.items() for d in ds}


def is_acyclic(edges: set[tuple[str, str]]) -> bool:
    remaining = set(edges)
    # Kahn: repeatedly drop edges out of nodes nothing points to; a cycle never empties.
    while remaining:
        targets = {d for _, d in remaining}
        free = {(t, d) for t, d in remaining if t not in targets}
        if not free:
            return False
        remaining -= free
    return True


@pytest.mark.parametrize("round_", range(20))
def test_two_requests_closing_a_cycle_one_wins(runtime: Runtime, round_: int) -> None:
    ctx, org = setup_organization(runtime)
    # A fresh project each round, so the lazy creation of its graph races too.
    project, (a, b) = new_tasks(runtime, ctx, org, 2)
    succeeded, failures = race(runtime, ctx, org, [(a, b), (b, a)])
    assert succeeded == 1, failures
    assert len(failures) == 1 and isinstance(failures[0], DependencyCycle), failures
    edges = stored_edges(runtime, project)
    assert len(edges) == 1 and is_acyclic(edges)


@pytest.mark.parametrize("round_", range(10))
def test_three_requests_closing_a_triangle(runtime: Runtime, round_: int) -> None:
    ctx, org = setup_organization(runtime)
    project, (a, b, c) = new_tasks(runtime, ctx, org, 3)
    succeeded, failures = race(runtime, ctx, org, [(a, b), (b, c), (c, a)])
    # A cycle is only seen once the two other edges are stored, so exactly two win.
    assert succeeded <= 2
    assert failures and all(isinstance(f, DependencyCycle) for f in failures), failures
    edges = stored_edges(runtime, project)
    assert len(edges) == succeeded == 2 and is_acyclic(edges)


def test_same_edge_twice_at_once_is_stored_once(runtime: Runtime) -> None:
    ctx, org = setup_organization(runtime)
    project, (a, b) = new_tasks(runtime, ctx, org, 2)
    succeeded, failures = race(runtime, ctx, org, [(a, b), (a, b)])
    assert succeeded == 1 and len(failures) == 1
    assert stored_edges(runtime, project) == {(str(a), str(b))}


@pytest.mark.parametrize("round_", range(5))
def test_overlapping_retries_with_one_idempotency_key_all_get_the_first_answer(
    runtime: Runtime, round_: int
) -> None:
    """A retry that decides after its original committed would see the edge as a
    duplicate; with the same Idempotency-Key it must answer what the original did."""
    from vistone.recorder import IdempotencyKey

    ctx, org = setup_organization(runtime)
    _, (a, b) = new_tasks(runtime, ctx, org, 2)
    assert ctx.actor_id is not None
    key = IdempotencyKey(ctx.actor_id, f"edge-{round_}", "same-request")
    barrier = threading.Barrier(6)
    results: list[object] = [None] * 6

    def add(i: int) -> None:
        barrier.wait()
        try:
            results[i] = tasks.add_dependency(Command(runtime.app, ctx, idempotency=key), org, a,
                                              depends_on_id=b)
        except BaseException as error:  # noqa: BLE001 - asserted below
            results[i] = error

    threads = [threading.Thread(target=add, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert len(set(results)) == 1
