"""Settings from the environment. Nothing secret is a constant in the code."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw else default


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw else default


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None
    data_dir: Path = Path(".vistone")
    jwt_secret: str | None = None
    access_token_ttl_seconds: int = 3600
    run_projections_in_server: bool = True
    # The embedding worker (workers/embedding.py) beside the projections, or elsewhere
    # (`vistone embed`) with VISTONE_EMBEDDING=external.
    run_embedding_in_server: bool = True
    # The Kafka relay and an analytics consumer beside the projections (and the embedded
    # broker when no cluster is named), or elsewhere with VISTONE_KAFKA=external.
    kafka_bootstrap: str | None = None
    run_kafka_in_server: bool = True
    read_wait_seconds: float = 2.0
    max_body_bytes: int = 1_048_576
    db_pool_size: int = 10
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            database_url=os.environ.get("DATABASE_URL") or None,
            data_dir=Path(os.environ.get("VISTONE_DATA_DIR", ".vistone")).expanduser().resolve(),
            jwt_secret=os.environ.get("VISTONE_JWT_SECRET") or None,
            access_token_ttl_seconds=_int("VISTONE_ACCESS_TOKEN_TTL", 3600),
            run_projections_in_server=os.environ.get("VISTONE_PROJECTIONS", "in-process")
            != "external",
            run_embedding_in_server=os.environ.get("VISTONE_EMBEDDING", "in-process")
            != "external",
            kafka_bootstrap=os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or None,
            run_kafka_in_server=os.environ.get("VISTONE_KAFKA", "in-process") != "external",
            read_wait_seconds=_float("VISTONE_READ_WAIT_SECONDS", 2.0),
            max_body_bytes=_int("VISTONE_MAX_BODY_BYTES", 1_048_576),
            db_pool_size=_int("VISTONE_DB_POOL_SIZE", 10),
        )

    def resolve_jwt_secret(self) -> str:
        """The signing secret: from the environment, or generated once and kept in the
        data directory (embedded mode), so tokens survive a restart."""
        if self.jwt_secret:
            return self.jwt_secret
        self.data_dir.mkdir(parents=True, exist_ok=True)
        path = self.data_dir / "jwt-secret"
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(48))
        return path.read_text().strip()
