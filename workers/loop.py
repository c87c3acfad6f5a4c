"""A worker that repeats one step, in its own thread or the caller's, and backs off on
failure: the shape the relay and the analytics consumer share."""

from __future__ import annotations

import logging
import threading
from typing import Self

log = logging.getLogger(__name__)

FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 30.0


class Loop:
    name = "vistone-loop"
    # How long to wait after a step that found nothing to do (0: the step waits itself).
    idle_seconds = 0.05

    def __init__(self) -> None:
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def step(self) -> bool:
        """Do one round of work; whether there was any."""
        raise NotImplementedError

    def on_failure(self) -> None:
        """After a step raised (the broker or the database away): before the back-off."""

    def on_exit(self) -> None:
        """Once the loop has stopped, in its thread."""

    def run_forever(self) -> None:
        backoff = FIRST_BACKOFF_SECONDS
        while not self._stop.is_set():
            try:
                busy = self.step()
            except Exception as error:  # noqa: BLE001 - an outage: back off and retry
                self.last_error = f"{type(error).__name__}: {error}"
                log.exception("%s: a step failed; retrying in %.1f s", self.name, backoff)
                self.on_failure()
                self._stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                continue
            self.last_error = None
            backoff = FIRST_BACKOFF_SECONDS
            if not busy and self.idle_seconds:
                self._stop.wait(self.idle_seconds)
        self.on_exit()

    def start(self) -> Self:
        self._thread = threading.Thread(target=self.run_forever, name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the loop to end (a signal handler may call it); wait for its thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(15)
            self._thread = None
