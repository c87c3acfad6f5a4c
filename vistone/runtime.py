"""Wires one process together: settings, database, the application, a connection pool
for read models and queries, and (optionally) the in-process projection runner.

Schema work at start-up (the event store's tables, the read models' catalogue) is done
only when something is missing, under an advisory lock, so processes starting beside a
busy worker never run DDL against it; ``vistone status`` opens with ``prepare=False``
and only reads."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from projections.base import ReadModel
from projections.registry import all_read_models
from projections.runner import ProjectionRunner
from projections.versions import reconcile
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
    def open(cls, settings: Settings, *, read_models: list[ReadModel] | None = None,
             prepare: bool = True) -> Runtime:
        """Open the process's resources. With ``prepare`` (every command but ``status``),
        create what is missing: the event store's tables and, on a first install, the
        read models' tables."""
        database = open_database(settings.database_url, settings.data_dir)
        env = database.eventsourcing_env(pool_size=settings.db_pool_size)
        with psycopg.connect(database.url, autocommit=True) as conn:
            missing = _event_store_missing(conn)
            if missing and prepare:
                # Creating the tables takes locks; two processes starting together (or a
                # start beside a busy writer) must not interleave their DDL.
                conn.execute("SELECT pg_advisory_lock(hashtext('vistone.event_store'))")
            env["CREATE_TABLE"] = "y" if missing and prepare else "n"
            try:
                app = Vistone(env=env)
            finally:
                if missing and prepare:
                    conn.execute("SELECT pg_advisory_unlock(hashtext('vistone.event_store'))")
        # Autocommit: a query is one round trip (no BEGIN/COMMIT around it); the
        # projection runner opens explicit transactions where it needs them.
        pool = ConnectionPool(database.url, min_size=2, max_size=settings.db_pool_size * 2,
                              kwargs={"autocommit": True}, open=True, name="vistone-read")
        runtime = cls(settings, database, app, pool,
                      read_models if read_models is not None else all_read_models())
        if prepare:
            reconcile(pool, runtime.read_models, build=False)
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


def _event_store_missing(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute(
        "SELECT to_regclass('public.vistone_events') IS NULL "
        "OR to_regclass('public.command_idempotency') IS NULL"
    ).fetchone()
    return bool(row and row[0])
