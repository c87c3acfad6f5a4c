"""Wires one process together: settings, database, the application, a connection pool
for read models and queries, and (optionally) the in-process projection runner."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from psycopg_pool import ConnectionPool

from projections.base import ReadModel
from projections.registry import all_read_models
from projections.runner import ProjectionRunner, ensure_schema
from vistone.app import Vistone
from vistone.config import Settings
from vistone.database import Database, open_database

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    database: Database
    app: Vistone
    pool: ConnectionPool
    read_models: list[ReadModel] = field(default_factory=all_read_models)
    runner: ProjectionRunner | None = None

    @classmethod
    def open(cls, settings: Settings, *, read_models: list[ReadModel] | None = None) -> Runtime:
        database = open_database(settings.database_url, settings.data_dir)
        app = Vistone(env=database.eventsourcing_env(pool_size=settings.db_pool_size))
        # Autocommit: a query is one round trip (no BEGIN/COMMIT around it); the
        # projection runner opens explicit transactions where it needs them.
        pool = ConnectionPool(database.url, min_size=2, max_size=settings.db_pool_size * 2,
                              kwargs={"autocommit": True}, open=True, name="vistone-read")
        runtime = cls(settings, database, app, pool,
                      read_models if read_models is not None else all_read_models())
        ensure_schema(pool, runtime.read_models)
        return runtime

    def start_projections(self) -> ProjectionRunner:
        if self.runner is None:
            self.runner = ProjectionRunner(self.app, self.pool, self.read_models, self.database.url)
            self.runner.start()
        return self.runner

    def close(self) -> None:
        if self.runner is not None:
            self.runner.stop()
            self.runner = None
        self.pool.close()
        self.app.close()
