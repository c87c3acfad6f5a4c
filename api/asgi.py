"""Entry point for uvicorn worker processes (`vistone serve --workers N`): each process
builds its own runtime from the environment; projections run in one separate worker."""

from __future__ import annotations

from fastapi import FastAPI

from api.main import create_app
from vistone.config import Settings
from vistone.runtime import Runtime


def app() -> FastAPI:
    return create_app(Runtime.open(Settings.from_env()), run_projections=False)
