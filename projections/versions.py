"""Versions of read models, built blue-green.

A read model's version is the digest of its DDL, tables, topics and revision
(``ReadModel.digest``). Each built copy of a read model is a *generation*: its tables live
in a PostgreSQL schema of its own, ``rm_<name>_g<generation>``, and its position in the
log is kept in its row of ``public.read_model_versions``. Queries never name a generation:
they read views ``<schema>.<table>`` (``auth.organizations``, ``project.tasks`` ...) that
point at the *active* generation.

When the code declares a version that is not the active one (a column or an index was
added), or when ``vistone rebuild`` asks for a fresh copy, a *building* generation is
created beside the active one and fed from the log like any read model while the active
one keeps answering (its secondary indexes are created only when it is complete: one index
built over a full table costs far less than upkeep through every event). When the building
generation reaches the log's head (and the active one's position), one transaction locks
the views, points them at it and marks it active; the old generation is retired and its
schema dropped just after, when no query can reach it. Nothing is
dropped before its replacement is complete; a build killed halfway resumes from its
position the next time a runner sees it.

Which process builds what (several processes and, during a deploy, several versions of
the code may run at once): a process builds and applies only its own version; if another
version was swapped in (or started building) *after* this process started, a newer
deployment is at work and this process stands down for that read model instead of
building its own version back.

All schema work is serialized by one advisory lock and done only when something has to
change: a process that finds everything in place reads one table and runs no DDL.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from projections.base import ReadModel

log = logging.getLogger(__name__)

SCHEMA_LOCK = "SELECT pg_advisory_xact_lock(hashtext('vistone.read_model_schema'))"
# How long a swap waits for queries to let go of the tables before it gives way.
SWAP_LOCK_TIMEOUT_MS = 200

VERSIONS_DDL = (
    """CREATE TABLE IF NOT EXISTS public.read_model_versions (
        generation bigserial PRIMARY KEY,
        name text NOT NULL,
        digest text NOT NULL,
        storage text NOT NULL,
        state text NOT NULL CHECK (state IN ('building', 'active', 'retired')),
        position bigint NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now(),
        activated_at timestamptz,
        updated_at timestamptz NOT NULL DEFAULT now(),
        failed_position bigint,
        failed_at timestamptz,
        last_error text
    )""",
    "CREATE UNIQUE INDEX IF NOT EXISTS read_model_versions_one_active "
    "ON public.read_model_versions (name) WHERE state = 'active'",
    "CREATE UNIQUE INDEX IF NOT EXISTS read_model_versions_one_building "
    "ON public.read_model_versions (name) WHERE state = 'building'",
)
# A catalogue created before generations could be retired takes the new state too.
RETIRED_STATE_DDL = (
    "ALTER TABLE public.read_model_versions DROP CONSTRAINT read_model_versions_state_check, "
    "ADD CONSTRAINT read_model_versions_state_check "
    "CHECK (state IN ('building', 'active', 'retired'))"
)

# The tracking table of the first release (one row per read model, tables in place);
# its tables are replaced by a first versioned build, then it is dropped.
LEGACY_TRACKING = "public.projection_tracking"

COLUMNS = ("generation, name, digest, storage, state, position, created_at, activated_at, "
           "updated_at, failed_position, failed_at, last_error")


@dataclass(frozen=True)
class Generation:
    """One built (or building) copy of a read model."""

    generation: int
    name: str
    digest: str
    storage: str
    state: str
    position: int
    created_at: datetime
    activated_at: datetime | None
    updated_at: datetime
    failed_position: int | None
    failed_at: datetime | None
    last_error: str | None

    @property
    def building(self) -> bool:
        return self.state == "building"

    @property
    def stopped(self) -> bool:
        return self.last_error is not None


@dataclass
class Plan:
    """What one process does for one read model."""

    run: list[Generation] = field(default_factory=list)
    create: str | None = None  # "active" (nothing to serve yet) or "building"
    drop: list[Generation] = field(default_factory=list)
    stand_down: str | None = None  # why this process leaves the model to a newer one

    @property
    def changes_schema(self) -> bool:
        return self.create is not None or bool(self.drop)


def plan_model(model: ReadModel, generations: Iterable[Generation],
               started_at: datetime | None) -> Plan:
    """Decide, from the catalogue alone, what this process does for ``model``.
    ``started_at`` (database time) enables standing down for newer deployments."""
    mine = [g for g in generations if g.name == model.name]
    active = next((g for g in mine if g.state == "active"), None)
    build = next((g for g in mine if g.building), None)

    def newer(moment: datetime | None) -> bool:
        return started_at is not None and moment is not None and moment > started_at

    plan = Plan(drop=[g for g in mine if g.state == "retired"])
    if active is not None and active.digest != model.digest and newer(active.activated_at):
        plan.stand_down = (f"version {active.digest} was swapped in after this process "
                           f"started (this process has {model.digest})")
        return plan
    if active is not None and active.digest == model.digest:
        plan.run.append(active)
    needs_build = active is None or active.digest != model.digest
    if build is not None:
        if build.digest == model.digest:
            plan.run.append(build)
            needs_build = False
        elif newer(build.created_at):
            plan.stand_down = (f"version {build.digest} started building after this process "
                               f"started (this process has {model.digest})")
            needs_build = False
        else:
            plan.drop.append(build)  # an older deployment's build nobody finishes
    if needs_build:
        plan.create = "active" if active is None else "building"
    return plan


def read_generations(conn: psycopg.Connection[Any],
                     names: list[str] | None = None) -> list[Generation] | None:
    """Every generation (of ``names``), or None before the catalogue exists. Only reads."""
    if conn.execute("SELECT to_regclass('public.read_model_versions')").fetchone() == (None,):
        return None
    rows = conn.execute(
        f"SELECT {COLUMNS} FROM public.read_model_versions "
        "WHERE %s::text[] IS NULL OR name = ANY(%s) ORDER BY name, generation",
        (names, names),
    ).fetchall()
    return [Generation(*row) for row in rows]


def reconcile(pool: ConnectionPool, models: list[ReadModel], *,
              started_at: datetime | None = None, build: bool = True) -> dict[str, Plan]:
    """Bring the catalogue in line with ``models`` and return each model's plan.

    Without ``build`` only what nothing can be served without is created (a first
    install); building a new version is left to the processes that run projections."""
    names = [m.name for m in models]
    with pool.connection() as conn:
        generations = read_generations(conn, names)
    if generations is not None:
        plans = {m.name: plan_model(m, generations, started_at) for m in models}
        if not any(_must_act(p, build) for p in plans.values()):
            return plans
    with pool.connection() as conn, conn.transaction():
        conn.execute(SCHEMA_LOCK)
        for statement in VERSIONS_DDL:
            conn.execute(statement)
        if "'retired'" not in (conn.execute(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conname = 'read_model_versions_state_check'").fetchone() or ("",))[0]:
            conn.execute(RETIRED_STATE_DDL)
        generations = read_generations(conn, names) or []
        plans = {m.name: plan_model(m, generations, started_at) for m in models}
        for model in models:
            plan = plans[model.name]
            if not _must_act(plan, build):
                continue
            for stale in plan.drop if build else ():
                _drop_generation(conn, stale)
                log.info("read model %s: dropped %s generation %s", model.name, stale.state,
                         stale.generation)
            plan.drop = []
            if plan.create is not None:
                state = plan.create
                if state == "active" and _legacy_tables(conn, model):
                    state = "building"  # the first release's tables serve until replaced
                if state == "active" or build:
                    plan.run.append(_create_generation(conn, model, state))
                plan.create = None
        _drop_legacy_tracking_when_unused(conn)
    return plans


def _must_act(plan: Plan, build: bool) -> bool:
    return plan.changes_schema if build else plan.create == "active"


def request_rebuild(pool: ConnectionPool, model: ReadModel) -> Generation:
    """A building generation of ``model``'s version: the one already building, or a new
    one (a build of another version is replaced). The active one keeps serving."""
    with pool.connection() as conn, conn.transaction():
        conn.execute(SCHEMA_LOCK)
        for statement in VERSIONS_DDL:
            conn.execute(statement)
        for generation in read_generations(conn, [model.name]) or []:
            if generation.building:
                if generation.digest == model.digest:
                    return generation
                _drop_generation(conn, generation)
        return _create_generation(conn, model, "building")


def swap_in(pool: ConnectionPool, model: ReadModel, generation: int, reached: int) -> bool:
    """Make a complete building generation the active one, in one transaction: the
    views point at its tables, the old generation's schema is dropped. Returns False
    (and changes nothing) if it is no longer building, has not reached ``reached`` or the
    active generation's position (what queries see never moves back: a read that waited
    for a position keeps seeing it), or if queries hold the tables right now."""
    _create_deferred_indexes(pool, model, generation)
    try:
        with pool.connection() as conn, conn.transaction():
            conn.execute(SCHEMA_LOCK)
            # A query holds its views and their tables (shared) while it runs, and takes
            # them one by one: waiting behind it while holding some of them could deadlock
            # it. Rather than make a query fail, the swap gives way and is tried again.
            conn.execute(f"SET LOCAL lock_timeout = '{SWAP_LOCK_TIMEOUT_MS}ms'")
            rows = conn.execute(
                f"SELECT {COLUMNS} FROM public.read_model_versions WHERE name = %s "
                "FOR UPDATE", (model.name,),
            ).fetchall()
            generations = [Generation(*row) for row in rows]
            new = next((g for g in generations if g.generation == generation), None)
            active = [g for g in generations if g.state == "active"]
            if new is None or not new.building or new.position < reached \
                    or any(new.position < old.position for old in active):
                return False
            # Every view of the model at once, before anything changes: the swap then
            # holds them all or none while it works.
            views = [f"{model.schema}.{table}" for table in model.tables
                     if _exists(conn, f"{model.schema}.{table}")]
            if views:
                conn.execute(f"LOCK TABLE {', '.join(views)} IN ACCESS EXCLUSIVE MODE")
            _point_views_at(conn, model, new.storage)
            # The old tables are dropped after this commits (no query can reach them
            # then): dropping them here would lock more tables queries hold.
            conn.execute(
                "UPDATE public.read_model_versions SET state = 'retired', updated_at = now() "
                "WHERE name = %s AND state = 'active'", (model.name,))
            conn.execute(
                "UPDATE public.read_model_versions SET state = 'active', "
                "activated_at = now(), updated_at = now() WHERE generation = %s",
                (generation,),
            )
            if _exists(conn, LEGACY_TRACKING):
                conn.execute(f"DELETE FROM {LEGACY_TRACKING} WHERE name = %s", (model.name,))
            _drop_legacy_tracking_when_unused(conn)
    except psycopg.errors.LockNotAvailable:
        log.info("read model %s: queries hold its tables; the swap is tried again",
                 model.name)
        return False
    log.info("read model %s: generation %s (version %s) swapped in", model.name, generation,
             model.digest)
    reconcile(pool, [model])  # drops the retired generation now that no query reads it
    return True


def _create_generation(conn: psycopg.Connection[Any], model: ReadModel,
                       state: str) -> Generation:
    row = conn.execute(
        "INSERT INTO public.read_model_versions (name, digest, storage, state, activated_at) "
        "VALUES (%s, %s, '', %s, CASE WHEN %s = 'active' THEN now() END) "
        "RETURNING generation",
        (model.name, model.digest, state, state),
    ).fetchone()
    assert row is not None
    storage = f"rm_{model.name}_g{row[0]}"
    conn.execute("UPDATE public.read_model_versions SET storage = %s WHERE generation = %s",
                 (storage, row[0]))
    conn.execute(SQL("CREATE SCHEMA {}").format(Identifier(storage)))
    conn.execute(SQL("SET LOCAL search_path TO {}, public").format(Identifier(storage)))
    deferred = deferred_indexes(model) if state == "building" else []
    for statement in model.ddl:
        if statement not in deferred:
            conn.execute(statement)
    conn.execute("SET LOCAL search_path TO DEFAULT")
    if state == "active":
        _point_views_at(conn, model, storage)
    created = conn.execute(
        f"SELECT {COLUMNS} FROM public.read_model_versions WHERE generation = %s", (row[0],),
    ).fetchone()
    assert created is not None
    log.info("read model %s: created %s generation %s (version %s)", model.name, state,
             row[0], model.digest)
    return Generation(*created)


def deferred_indexes(model: ReadModel) -> list[str]:
    """The secondary indexes of ``model`` (``CREATE INDEX``, not unique): a building
    generation gets them only when complete, since one index built over a full table
    costs far less than keeping it up to date through every event of a rebuild."""
    return [s for s in model.ddl if s.lstrip().upper().startswith("CREATE INDEX ")]


def _create_deferred_indexes(pool: ConnectionPool, model: ReadModel, generation: int) -> None:
    with pool.connection() as conn, conn.transaction():
        conn.execute(SCHEMA_LOCK)  # two runners finishing the same build take turns
        row = conn.execute(
            "SELECT storage FROM public.read_model_versions "
            "WHERE generation = %s AND state = 'building'", (generation,),
        ).fetchone()
        if row is None:
            return
        conn.execute(SQL("SET LOCAL search_path TO {}, public").format(Identifier(row[0])))
        for statement in deferred_indexes(model):
            conn.execute(re.sub(r"^\s*CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ", statement,
                                flags=re.IGNORECASE))


def _point_views_at(conn: psycopg.Connection[Any], model: ReadModel, storage: str) -> None:
    conn.execute(SQL("CREATE SCHEMA IF NOT EXISTS {}").format(Identifier(model.schema)))
    for table in model.tables:
        public = Identifier(model.schema, table)
        kind = conn.execute(
            "SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s", (model.schema, table),
        ).fetchone()
        if kind == ("v",):
            conn.execute(SQL("DROP VIEW {}").format(public))
        elif kind is not None:  # a table of the first release
            conn.execute(SQL("DROP TABLE {} CASCADE").format(public))
        conn.execute(SQL("CREATE VIEW {} AS SELECT * FROM {}")
                     .format(public, Identifier(storage, table)))


def _drop_generation(conn: psycopg.Connection[Any], generation: Generation) -> None:
    conn.execute("DELETE FROM public.read_model_versions WHERE generation = %s",
                 (generation.generation,))
    if generation.storage:
        conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
            Identifier(generation.storage)))


def _legacy_tables(conn: psycopg.Connection[Any], model: ReadModel) -> bool:
    return any(_exists(conn, f"{model.schema}.{table}") for table in model.tables)


def _exists(conn: psycopg.Connection[Any], qualified: str) -> bool:
    return conn.execute("SELECT to_regclass(%s)", (qualified,)).fetchone() != (None,)


def _drop_legacy_tracking_when_unused(conn: psycopg.Connection[Any]) -> None:
    if _exists(conn, LEGACY_TRACKING) and conn.execute(
            f"SELECT count(*) FROM {LEGACY_TRACKING}").fetchone() == (0,):
        conn.execute(f"DROP TABLE {LEGACY_TRACKING}")
