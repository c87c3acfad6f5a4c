"""HTTP phases: setup through the API, then closed-loop load from client threads, each
with its own keep-alive connection."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from bench.stats import Throughput

PASSWORD = "bench password 1234"


class SetupFailed(RuntimeError):
    pass


@dataclass
class Workspace:
    token: str
    organization_id: str
    project_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def tasks_path(self) -> str:
        return f"/v1/organizations/{self.organization_id}/projects/{self.project_id}/tasks"


def _expect(response: httpx.Response, status: int, what: str) -> dict:
    if response.status_code != status:
        raise SetupFailed(f"{what}: HTTP {response.status_code} {response.text[:300]}")
    return response.json()


def create_workspace(base_url: str) -> Workspace:
    """A fresh user who organizes a fresh organization with one project."""
    suffix = uuid.uuid4().hex[:10]
    email = f"bench-{suffix}@example.test"
    with httpx.Client(base_url=base_url, timeout=30) as client:
        _expect(client.post("/v1/auth/register",
                            json={"email": email, "name": "Bench", "password": PASSWORD}),
                201, "register")
        token = _expect(client.post("/v1/auth/login", json={"email": email, "password": PASSWORD}),
                        200, "login")["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        organization = _expect(
            client.post("/v1/organizations", json={"name": f"Bench {suffix}",
                                                   "slug": f"bench-{suffix}"}, headers=headers),
            201, "create organization")
        project = _expect(
            client.post(f"/v1/organizations/{organization['id']}/projects",
                        json={"name": f"Bench project {suffix}"}, headers=headers),
            201, "create project")
    return Workspace(token, organization["id"], project["id"])


def create_task_request(workspace: Workspace) -> Callable[[httpx.Client, int], httpx.Response]:
    def send(client: httpx.Client, index: int) -> httpx.Response:
        return client.post(workspace.tasks_path, json={"title": f"bench task {index}"},
                           headers=workspace.headers)
    return send


def list_tasks_request(workspace: Workspace) -> Callable[[httpx.Client, int], httpx.Response]:
    def send(client: httpx.Client, _: int) -> httpx.Response:
        return client.get(workspace.tasks_path, params={"limit": 50}, headers=workspace.headers)
    return send


def health_request() -> Callable[[httpx.Client, int], httpx.Response]:
    def send(client: httpx.Client, _: int) -> httpx.Response:
        return client.get("/health")
    return send


def probe(base_url: str, workspace: Workspace) -> str | None:
    """None when create-task works, else why not (the endpoint may not exist yet)."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        response = create_task_request(workspace)(client, 0)
    if response.status_code in (200, 201):
        return None
    return f"POST {workspace.tasks_path}: HTTP {response.status_code} {response.text[:200]}"


def closed_loop(base_url: str, send: Callable[[httpx.Client, int], httpx.Response],
                clients: int, seconds: float, ok: tuple[int, ...] = (200, 201)) -> Throughput:
    """Each client sends its next request as soon as the previous one is answered."""
    counts = [0] * clients
    errors = [0] * clients
    latencies: list[list[float]] = [[] for _ in range(clients)]
    first_error: list[str] = []
    gate = threading.Barrier(clients + 1)
    go = threading.Event()  # the window opens only once every client is connected
    deadline_box: list[float] = []

    def work(index: int) -> None:
        with httpx.Client(base_url=base_url, timeout=30) as client:
            send(client, -1)  # opens the keep-alive connection outside the measured window
            gate.wait()
            go.wait()
            deadline = deadline_box[0]
            sequence = 0
            while time.perf_counter() < deadline:
                sequence += 1
                began = time.perf_counter()
                try:
                    response = send(client, index * 1_000_000 + sequence)
                except httpx.HTTPError as error:
                    errors[index] += 1
                    first_error.append(repr(error))
                    continue
                elapsed_ms = (time.perf_counter() - began) * 1000
                if response.status_code in ok:
                    counts[index] += 1
                    latencies[index].append(elapsed_ms)
                else:
                    errors[index] += 1
                    first_error.append(f"HTTP {response.status_code} {response.text[:200]}")

    workers = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(clients)]
    for worker in workers:
        worker.start()
    gate.wait(60)
    started = time.perf_counter()
    deadline_box.append(started + seconds)
    go.set()
    for worker in workers:
        worker.join(seconds + 60)
    elapsed = time.perf_counter() - started
    return Throughput(sum(counts), elapsed, sum(errors),
                      [ms for per_client in latencies for ms in per_client],
                      first_error[0] if first_error else None)
