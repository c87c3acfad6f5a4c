"""The FastAPI application: routers, problem+json errors, request guard, lifecycle."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.contract import install_contract
from api.deps import RequestGuard, current_user
from api.metrics import RequestMetrics
from api.problems import install_problem_handlers
from api.routes import (
    activity,
    analytics,
    as_of,
    assistant,
    auth,
    channels,
    client_feedback,
    clients,
    ops,
    organizations,
    projects,
    proposals,
    search,
    tasks,
    timelogs,
)
from vistone.runtime import Runtime
from vistone.security import TokenService

ROUTERS = [auth.router, channels.router, organizations.router, projects.router, timelogs.router,
           tasks.router, clients.router, proposals.router, client_feedback.router, ops.router,
           as_of.router, activity.router, search.router, assistant.router,
           analytics.router]


def create_app(runtime: Runtime, *, run_projections: bool | None = None) -> FastAPI:
    """Build the HTTP app around an opened runtime. Projections run in this process
    unless the settings say a separate worker runs them."""
    in_process = (runtime.settings.run_projections_in_server
                  if run_projections is None else run_projections)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if in_process:
            runtime.start_projections()
            if runtime.settings.run_kafka_in_server:
                runtime.start_kafka()
        yield

    app = FastAPI(
        title="Vistone",
        version="0.1.0",
        description="Event-sourced CQRS backend of the Vistone work platform. Commands "
        "answer with the aggregate id, its version (also the ETag) and the log position; "
        "send that position as X-Min-Position on a query to read your own writes.",
        lifespan=lifespan,
    )
    # A path with a trailing slash is another path (404), not a redirect built from the
    # request's Host header.
    app.router.redirect_slashes = False
    app.state.runtime = runtime
    app.state.tokens = TokenService(runtime.settings.resolve_jwt_secret(),
                                    runtime.settings.access_token_ttl_seconds)
    install_problem_handlers(app)
    install_contract(app, authentication=current_user)
    for router in ROUTERS:
        app.include_router(router)

    app.add_middleware(RequestGuard, max_body_bytes=runtime.settings.max_body_bytes)
    app.add_middleware(RequestMetrics)
    return app
