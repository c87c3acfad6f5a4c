"""Fixtures of the integration tests that drive the command line."""

from __future__ import annotations

import pytest

from vistone.runtime import Runtime


@pytest.fixture
def cli_env(fresh_runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    """A fresh database that `vistone.cli.main([...])` opens through the environment."""
    monkeypatch.setenv("DATABASE_URL", fresh_runtime.database.url)
    monkeypatch.setenv("VISTONE_JWT_SECRET", "cli-test-secret")
    return fresh_runtime
