"""What an operator and an orchestrator ask: is the process up, can it answer, metrics."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from starlette.responses import Response

from api.deps import JSONResponse, runtime_of
from api.metrics import render_metrics
from projections.status import read_model_status

router = APIRouter(tags=["ops"])


class ReadModelState(BaseModel):
    name: str
    state: Literal["active", "building", "retired", "missing"]
    generation: int | None
    version: str | None
    position: int
    lag: int = Field(description="events between the read model and the log's head")
    lag_seconds: float = Field(description="age of the oldest event not applied yet")
    stopped: bool
    failed_position: int | None = Field(description="the event it cannot apply, if stopped")
    error: str | None = Field(description="the kind of error (its message is in the logs)")


class Readiness(BaseModel):
    status: Literal["ready"]
    log_head: int
    read_models: list[ReadModelState]


class NotReady(BaseModel):
    """application/problem+json, with where every read model stands."""

    type: str
    title: str
    status: int
    detail: str
    log_head: int
    read_models: list[ReadModelState]


NOT_READY: dict[int | str, dict[str, Any]] = {
    503: {"model": NotReady, "description": "a read model is stopped or not built yet",
          "content": {"application/problem+json": {}}},
}
METRICS: dict[int | str, dict[str, Any]] = {
    200: {"description": "Prometheus text exposition format",
          "content": {"text/plain": {"schema": {"type": "string"}}}},
}


@router.get("/health")
def health() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/health/ready", response_model=Readiness, responses=NOT_READY)
def ready(request: Request) -> JSONResponse:
    """Readiness: 200 when every read model is built and running; 503 (problem+json)
    naming each read model that is stopped at an event it cannot apply, or not built
    yet. Lag alone does not make the service unready: reads say whether they are
    consistent (X-Consistent). Unauthenticated, so it names the kind of error only: the
    message may quote stored values (`vistone status` and the logs show it whole)."""
    runtime = runtime_of(request)
    rows = read_model_status(runtime.app, runtime.pool, runtime.read_models)
    models: list[dict[str, Any]] = [
        {"name": r.name, "state": r.state, "generation": r.generation, "version": r.version,
         "position": r.position, "lag": r.lag, "lag_seconds": round(r.lag_seconds, 3),
         "stopped": r.stopped, "failed_position": r.failed_position,
         "error": _kind(r.last_error)}
        for r in rows
    ]
    blocking = [r for r in rows if (r.state == "active" and r.stopped) or r.state == "missing"]
    head = rows[0].head if rows else 0
    if not blocking:
        return JSONResponse({"status": "ready", "log_head": head, "read_models": models})
    detail = "; ".join(
        f"read model {r.name} is stopped at log position {r.position} "
        f"(event {r.failed_position}: {_kind(r.last_error)})" if r.stopped
        else f"read model {r.name} is not built yet" for r in blocking)
    return JSONResponse(
        {"type": "https://vistone.dev/problems/not-ready", "title": "Not ready",
         "status": 503, "detail": detail, "log_head": head, "read_models": models},
        status_code=503, media_type="application/problem+json",
        headers={"Retry-After": "30"})


@router.get("/metrics", response_class=Response, responses=METRICS)
async def metrics(request: Request) -> Response:
    """Prometheus text format: requests by route and status, the log's head, and each
    read model's position, lag (events and seconds) and stopped state."""
    body = await run_in_threadpool(render_metrics, runtime_of(request))
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")


def _kind(error: str | None) -> str | None:
    """``UniqueViolation`` of ``UniqueViolation: duplicate key ... (email)=(...)``."""
    return error.split(":", 1)[0] if error else None
