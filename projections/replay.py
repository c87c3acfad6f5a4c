"""Time travel for operators: every read model (or some) built into a PostgreSQL schema
of its own from the log *up to a point*, to query the past with SQL.

``vistone replay --until <position|time> --into <schema>`` calls :func:`replay`. It runs
each read model's DDL in the target schema, then feeds it the log's events up to that
position in batches, with ``search_path`` pointing at the schema exactly as the runner
does for a generation (projections/runner.py): the same DDL and handlers, so the tables
hold what the live read model held when it had reached that position. It only reads the
log and the catalogue: the live read models, their views and their catalogue
(``public.read_model_versions``) are never written.

One schema for all read models: every registered read model's tables and indexes have
names of their own (:func:`relation_collisions`; a test keeps it so), so an operator
joins the past's ``tasks`` and ``projects`` in one ``search_path``. A replay of read
models whose names collide is refused before anything is created.

The log is ordered by commit (a position is given when the events commit, in order). A
time picks a position: the last event stamped at or before that time
(:func:`position_at`); the replay is the log up to and including it. Timestamps are taken
when a command decides, just before its commit, so two concurrent commands can commit in
the other order of their timestamps (by at most the length of a commit): an event stamped
a moment after the time that committed before that position is part of the replay.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from eventsourcing.application import Application
from psycopg.sql import SQL, Composed, Identifier
from psycopg_pool import ConnectionPool

from projections.base import ReadModel
from projections.registry import all_read_models
from projections.versions import deferred_indexes

log = logging.getLogger(__name__)

BATCH_SIZE = 2000
# Pages of positions scanned backwards when a time picks the position.
TIME_SCAN_PAGE = 1000
# A schema name an operator can type without quotes (PostgreSQL keeps 63 bytes).
SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
# Schemas of PostgreSQL itself, and the prefix of the read models' generations
# (projections/versions.py: rm_<name>_g<N>): a replay never builds there.
SYSTEM_SCHEMAS = frozenset({"public", "information_schema"})
# A replay builds in a staging schema of STAGING_PREFIX, renamed to the target only once
# complete: a replay killed midway (SIGKILL, a lost machine) leaves the target absent,
# never half-built. What a killed one left is dropped by the next replay.
STAGING_PREFIX = "vistone_replay_"
RESERVED_PREFIXES = ("pg_", "rm_", STAGING_PREFIX)
# Schemas the workers that are not read models write (analytics/store.py: the Kafka
# consumers' tables): live too, though no read model names them.
WORKER_SCHEMAS = frozenset({"monitoring"})
# The names a DDL statement gives to the relations and types it creates.
_CREATED = re.compile(
    r"\bCREATE\s+(?:UNIQUE\s+)?(?:TABLE|INDEX|VIEW|MATERIALIZED\s+VIEW|SEQUENCE|TYPE)\s+"
    r"(?:CONCURRENTLY\s+)?(?:IF\s+NOT\s+EXISTS\s+)?(\w+)", re.IGNORECASE)

# Called after each batch: (read model, position reached, position the replay ends at).
Progress = Callable[[ReadModel, int, int], None]


class ReplayRefused(ValueError):
    """The replay cannot be done as asked (a bad position, time or schema); nothing was
    created."""


class ReplayFailed(RuntimeError):
    """A read model could not apply an event; what the replay created was dropped."""

    def __init__(self, model: str, position: int | None, cause: Exception) -> None:
        where = f"the event at position {position}" if position is not None else "its DDL"
        super().__init__(f"read model {model} failed at {where}: "
                         f"{type(cause).__name__}: {cause}")
        self.model, self.position, self.cause = model, position, cause


@dataclass(frozen=True)
class ReplayedModel:
    name: str
    events: int  # events of the read model's topics applied


@dataclass(frozen=True)
class ReplayResult:
    schema: str
    until: int
    models: tuple[ReplayedModel, ...]


# --- the point in the log ------------------------------------------------------------------

def parse_until(text: str, flag: str = "--until") -> int | datetime:
    """A point in the log as an operator gives it: a log position (a non-negative
    integer) or an RFC 3339 time with an offset (``2025-03-01T12:00:00Z``, ``...+02:00``);
    a time without one is refused, since it would mean a different moment on each
    machine. ``flag`` names the option in the messages."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ReplayRefused(f"{flag} {text!r} is neither a log position nor an RFC 3339 "
                            "time (e.g. 2025-03-01T12:00:00Z)") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ReplayRefused(f"{flag} {text!r} has no UTC offset: add Z or +HH:MM")
    return moment


def log_head(app: Application[Any]) -> int:
    try:
        return app.recorder.max_notification_id() or 0
    except Exception:  # no event table yet: nothing was ever written
        return 0


def position_at(app: Application[Any], moment: datetime, *,
                page: int = TIME_SCAN_PAGE) -> int:
    """The position of the last event stamped at or before ``moment`` (0 if none is):
    the log is read backwards from its head in pages, so a recent time reads little."""
    high = log_head(app)
    while high > 0:
        low = max(1, high - page + 1)
        notifications = app.recorder.select_notifications(start=low, limit=page, stop=high)
        for notification in reversed(notifications):
            if app.mapper.to_domain_event(notification).timestamp <= moment:
                return int(notification.id)
        high = low - 1
    return 0


def resolve_until(app: Application[Any], until: int | datetime) -> int:
    """The log position ``until`` names; a position past the log's head is refused."""
    if isinstance(until, datetime):
        return position_at(app, until)
    head = log_head(app)
    if until > head:
        raise ReplayRefused(f"--until {until} is past the log's head ({head})")
    return until


# --- the target schema ---------------------------------------------------------------------

def relation_names(model: ReadModel) -> set[str]:
    """The tables, indexes, views, sequences and types ``model``'s DDL creates (the
    implicit ones — ``<table>_pkey``, ``<table>_<column>_seq`` — follow the table's name)."""
    names = {name.lower() for statement in model.ddl for name in _CREATED.findall(statement)}
    names.discard("on")  # CREATE INDEX ON t (...): PostgreSQL picks a free name
    return names | {table.lower() for table in model.tables}


def relation_collisions(models: list[ReadModel]) -> dict[str, list[str]]:
    """Relation names created by more than one of ``models``: name → read models."""
    owners: dict[str, list[str]] = {}
    for model in models:
        for name in relation_names(model):
            owners.setdefault(name, []).append(model.name)
    return {name: sorted(set(who)) for name, who in sorted(owners.items())
            if len(set(who)) > 1}


def live_schemas(app: Application[Any], conn: psycopg.Connection[Any]) -> set[str]:
    """Schemas the running system uses: the read models' views, every generation in the
    catalogue, the event store's."""
    live = set(SYSTEM_SCHEMAS | WORKER_SCHEMAS) | {m.schema for m in all_read_models()}
    datastore = getattr(app.recorder, "datastore", None)
    if datastore is not None and getattr(datastore, "schema", None):
        live.add(datastore.schema)
    if conn.execute("SELECT to_regclass('public.read_model_versions')").fetchone() != (None,):
        live |= {row[0] for row in conn.execute(
            "SELECT storage FROM public.read_model_versions WHERE storage <> ''")}
    return live


def check_schema_name(name: str) -> None:
    """A plain lower-case identifier that is not PostgreSQL's or the read models'."""
    if not SCHEMA_NAME.fullmatch(name):
        raise ReplayRefused(
            f"--into {name!r} is not a plain schema name: lower-case letters, digits and "
            "underscores, not starting with a digit, at most 63 characters")
    if name in SYSTEM_SCHEMAS or name.startswith(RESERVED_PREFIXES):
        raise ReplayRefused(f"--into {name!r} names a schema of PostgreSQL or of the live "
                            "read models; choose another name")


def _schema_contents(conn: psycopg.Connection[Any], name: str) -> int | None:
    """How many relations, types and functions the schema holds; None if it does not
    exist."""
    row = conn.execute(
        "SELECT n.oid IS NOT NULL, "
        "  (SELECT count(*) FROM pg_class WHERE relnamespace = n.oid) "
        "+ (SELECT count(*) FROM pg_type WHERE typnamespace = n.oid) "
        "+ (SELECT count(*) FROM pg_proc WHERE pronamespace = n.oid) "
        "FROM (SELECT to_regnamespace(%s)::oid AS oid) n", (name,),
    ).fetchone()
    return None if row is None or not row[0] else int(row[1])


def staging_schema(into: str) -> str:
    return STAGING_PREFIX + hashlib.blake2b(into.encode(), digest_size=8).hexdigest()


def _try_lock(conn: psycopg.Connection[Any], schema: str) -> bool:
    row = conn.execute("SELECT pg_try_advisory_lock(hashtext('vistone.replay'), "
                       "hashtext(%s))", (schema,)).fetchone()
    return bool(row and row[0])


def _unlock(conn: psycopg.Connection[Any], schema: str) -> None:
    conn.execute("SELECT pg_advisory_unlock(hashtext('vistone.replay'), hashtext(%s))",
                 (schema,))


@contextmanager
def _exclusive(pool: ConnectionPool, schema: str) -> Iterator[None]:
    """Hold a session advisory lock on the staging schema's name while it is built: two
    replays into one schema at once would each find it empty, then drop each other's
    work. A killed replay's session ends, and its lock with it."""
    with pool.connection() as conn:
        if not _try_lock(conn, schema):
            raise ReplayRefused(f"another replay into schema {schema!r} is under way")
        try:
            yield
        finally:
            _unlock(conn, schema)


def drop_abandoned_staging(pool: ConnectionPool) -> list[str]:
    """Drop the staging schemas no replay holds any more (left by a killed replay)."""
    dropped = []
    with pool.connection() as conn:
        names = [row[0] for row in conn.execute(
            "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, %s)",
            (STAGING_PREFIX,))]
        for name in names:
            if _try_lock(conn, name):
                try:
                    conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                        Identifier(name)))
                    dropped.append(name)
                finally:
                    _unlock(conn, name)
    return dropped


# --- the replay ----------------------------------------------------------------------------

def replay(app: Application[Any], pool: ConnectionPool, models: list[ReadModel], *,
           until: int, into: str, batch_size: int = BATCH_SIZE,
           progress: Progress | None = None) -> ReplayResult:
    """Build ``models`` into the schema ``into`` from the log up to position ``until``
    (inclusive). The schema must not exist, or exist empty; it must not be a live one.
    The read models are built in a staging schema, which takes the name ``into`` in one
    transaction at the end: ``into`` is complete or absent, whatever happens to the
    process. On failure the staging schema is dropped and ``ReplayFailed`` says which
    read model stopped at which event. ``pool`` gives autocommit connections (the
    runtime's)."""
    check_schema_name(into)
    if until < 0:
        raise ReplayRefused("--until must be a log position of 0 or more")
    collisions = relation_collisions(models)
    if collisions:
        raise ReplayRefused("these read models create relations of the same name and "
                            "cannot share one schema: " + "; ".join(
                                f"{name} ({', '.join(who)})" for name, who in collisions.items()))
    staging = staging_schema(into)
    drop_abandoned_staging(pool)
    with _exclusive(pool, staging):
        with pool.connection() as conn:
            _check_target(app, conn, into)
            conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(Identifier(staging)))
            conn.execute(SQL("CREATE SCHEMA {}").format(Identifier(staging)))
        try:
            done = tuple(_replay_model(app, pool, model, until, staging, batch_size, progress)
                         for model in models)
            with pool.connection() as conn, conn.transaction():
                _check_target(app, conn, into)  # (still free: checked under the rename)
                conn.execute(SQL("DROP SCHEMA IF EXISTS {}").format(Identifier(into)))
                conn.execute(SQL("ALTER SCHEMA {} RENAME TO {}").format(
                    Identifier(staging), Identifier(into)))
        except BaseException:
            try:
                with pool.connection() as conn:
                    conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                        Identifier(staging)))
            except psycopg.Error:
                log.exception("could not drop the staging schema %s of a failed replay",
                              staging)
            raise
    return ReplayResult(into, until, done)


def _check_target(app: Application[Any], conn: psycopg.Connection[Any], into: str) -> None:
    if into in live_schemas(app, conn):
        raise ReplayRefused(f"--into {into!r} is a schema the live system uses")
    if _schema_contents(conn, into):
        raise ReplayRefused(f"schema {into!r} exists and is not empty: drop it or "
                            "choose another name")


def _replay_model(app: Application[Any], pool: ConnectionPool, model: ReadModel, until: int,
                  into: str, batch_size: int, progress: Progress | None) -> ReplayedModel:
    search_path = SQL("SET LOCAL search_path TO {}, public").format(Identifier(into))
    # Secondary indexes come last: one build over the full table costs far less than
    # their upkeep through every event (as for a building generation).
    later = deferred_indexes(model)
    try:
        with pool.connection() as conn, conn.transaction():
            conn.execute(search_path)
            for statement in model.ddl:
                if statement not in later:
                    conn.execute(statement)
    except psycopg.Error as error:
        raise ReplayFailed(model.name, None, error) from error
    position, applied = 0, 0
    while position < until:
        notifications = app.recorder.select_notifications(
            start=position + 1, limit=batch_size, stop=until, topics=model.topics)
        if not notifications:
            break
        events = [(int(n.id), app.mapper.to_domain_event(n)) for n in notifications]
        _apply(pool, model, search_path, events)
        applied += len(events)
        position = events[-1][0] if len(notifications) == batch_size else until
        if progress is not None:
            progress(model, position, until)
    if progress is not None and position < until:
        progress(model, until, until)
    try:
        with pool.connection() as conn, conn.transaction():
            conn.execute(search_path)
            for statement in later:
                conn.execute(statement)
    except psycopg.Error as error:
        raise ReplayFailed(model.name, None, error) from error
    return ReplayedModel(model.name, applied)


def _apply(pool: ConnectionPool, model: ReadModel, search_path: Composed,
           events: list[tuple[int, Any]]) -> None:
    """One batch in one transaction; if it fails, the events one at a time to name the
    event at fault."""
    try:
        with pool.connection() as conn, conn.transaction():
            conn.execute("SET LOCAL synchronous_commit TO off")  # rebuilt if lost
            conn.execute(search_path)
            with conn.cursor() as cursor, conn.pipeline():
                model.apply_events(cursor, events)
        return
    except Exception:  # found below, one event at a time
        pass
    with pool.connection() as conn, conn.transaction():
        conn.execute(search_path)
        with conn.cursor() as cursor:
            for position, event in events:
                try:
                    model.apply_events(cursor, [(position, event)])
                except Exception as error:
                    raise ReplayFailed(model.name, position, error) from error
