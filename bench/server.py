"""The server under test: the real app behind a real uvicorn, as its own process, so the
HTTP numbers include the socket, the event loop and the thread pool a deployment has.

The database comes from DATABASE_URL (the benchmark's embedded PostgreSQL); projections
run in-process unless VISTONE_PROJECTIONS=external.
"""

from __future__ import annotations

import argparse

import uvicorn

from api.main import create_app
from vistone.config import Settings
from vistone.runtime import Runtime


def main() -> None:
    parser = argparse.ArgumentParser(description="Vistone server for the benchmark")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    settings = Settings.from_env()
    if not settings.database_url:
        raise SystemExit("bench.server needs DATABASE_URL (the benchmark passes it)")
    runtime = Runtime.open(settings)
    try:
        uvicorn.run(create_app(runtime), host="127.0.0.1", port=args.port, log_level="warning")
    finally:
        runtime.close()


if __name__ == "__main__":
    main()
