"""Start and stop bench/server.py as a child process on a free local port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    def __init__(self, database_url: str, jwt_secret: str, data_dir: Path,
                 extra_env: dict[str, str] | None = None,
                 command: list[str] | None = None, log_name: str = "server.log",
                 workers: int = 1) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "DATABASE_URL": database_url, "VISTONE_JWT_SECRET": jwt_secret,
               "VISTONE_DATA_DIR": str(data_dir), **(extra_env or {})}
        self._log_path = data_dir / log_name
        data_dir.mkdir(parents=True, exist_ok=True)
        self._log = open(self._log_path, "w")  # noqa: SIM115 - closed in stop()
        if command is None and workers > 1:
            # The production path: uvicorn worker processes plus one projection worker.
            command = [sys.executable, "-m", "vistone.cli", "serve", "--no-demo", "--no-access-log",
                       "--workers", str(workers), "--port", str(self.port)]
        self.process = subprocess.Popen(
            command or [sys.executable, "-m", "bench.server", "--port", str(self.port)],
            cwd=REPO_ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.base_url}/health", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server not ready after {timeout}s:\n{self.log_tail()}")

    def wait_for_output(self, text: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self._log_path.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"process did not print {text!r}:\n{self.log_tail()}")
            time.sleep(0.2)

    def log_tail(self, lines: int = 40) -> str:
        self._log.flush()
        text = self._log_path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._log.close()


def projection_worker(database_url: str, jwt_secret: str, data_dir: Path) -> ServerProcess:
    """The standalone projection worker (`vistone worker`) as its own process."""
    script = "import sys; from vistone.cli import main; sys.exit(main(['worker']))"
    worker = ServerProcess(database_url, jwt_secret, data_dir, log_name="worker.log",
                           command=[sys.executable, "-c", script])
    worker.wait_for_output("projection worker running")
    return worker
