"""Departures: someone who leaves an organization leaves its work too.

Removed from an organization, a person keeps no project membership, no channel membership
(direct channels aside: two people's, fixed) and no task assigned to them there; made a
Client, they keep only a Viewer's place in projects and no task
(``vistone/commands/departures.py`` says exactly what is taken away). The command that
removes them appends one event to the Organization; the rest is spread over many
aggregates, each its own consistency boundary, which no single transaction should lock.
So this consumer of the log (a process manager) completes the departure:

- On ``Organization.MemberRemoved``, and ``Organization.RoleChanged`` to Client, it waits
  until the projects, channels and tasks read models have applied that event's position,
  asks them where the person is, and takes them out of each.
- A join that commits after the departure (a project member added, a channel joined, a
  task assigned by someone who decided just before it) is checked against the
  organization as it was at that point of the log, and undone (as far as the person's
  role now allows) if they had already left or become a Client. A join before the
  departure is left to the departure's sweep, which finds it in the read models.

Delivery: at least once. The position is stored after the effects; every effect looks at
the person's role *now* first, so a repeat (after a crash, or two processes running it)
changes nothing. The follow-up events carry the cause's actor and correlation id, with
the cause's log position as their causation id.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import Notification
from eventsourcing.utils import get_topic
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from domain.base import CommandContext
from domain.channel import Channel
from domain.organization import Organization
from domain.project import Project
from domain.roles import Role
from domain.task import Task
from projections.channels import channels_with_member
from projections.projects import projects_with_member
from projections.runner import wait_for_position
from projections.tasks import tasks_assigned_to
from vistone.app import Command, Vistone
from vistone.commands import departures
from workers.loop import Loop

log = logging.getLogger(__name__)

NAME = "departures"
BATCH_SIZE = 200
# The read models a departure asks where the person is.
READ_MODELS = ["projects", "channels", "tasks"]
# How long one step waits for them to reach a departure before trying again later.
READ_MODEL_WAIT_SECONDS = 2.0
USER_AGENT = "vistone-departures"

SETUP = """
CREATE TABLE IF NOT EXISTS public.log_processes (
    name text PRIMARY KEY,
    position bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
)
"""

# A join, and how to undo it: (organization, aggregate id, person) -> command.
Undo = Callable[[Command, UUID, UUID, UUID], Any]
JOINS: dict[type, tuple[str, Undo]] = {
    Project.MemberAdded: ("user_id", departures.leave_project),
    Channel.MemberJoined: ("user_id", departures.leave_channel),
    Task.Assigned: ("assignee_id", departures.unassign_task),
}
TOPICS = sorted(get_topic(cls) for cls in (
    Organization.MemberRemoved, Organization.RoleChanged, *JOINS))


class ReadModelsBehind(Exception):
    """The read models have not applied a departure yet: try the step again later."""


class Departures(Loop):
    name = "vistone-departures"
    idle_seconds = 0.2

    def __init__(self, app: Vistone, pool: ConnectionPool, *, batch_size: int = BATCH_SIZE,
                 read_model_wait: float = READ_MODEL_WAIT_SECONDS) -> None:
        super().__init__()
        self.app, self.pool = app, pool
        self.batch_size, self.read_model_wait = batch_size, read_model_wait
        recorder: Any = app.recorder
        self._events = Identifier(recorder.datastore.schema, recorder.events_table_name)
        with pool.connection() as conn:
            conn.execute(SETUP)
            conn.execute("INSERT INTO public.log_processes (name, position) VALUES (%s, 0) "
                         "ON CONFLICT (name) DO NOTHING", (NAME,))

    def position(self) -> int:
        with self.pool.connection() as conn:  # (its table exists: made above)
            return _stored_position(conn)

    def run_once(self) -> int:
        """Complete the departures of the next batch of the log; how many events of
        interest it held."""
        start = self.position()
        head = self.app.recorder.max_notification_id() or 0
        if head <= start:
            return 0
        notifications = self.app.recorder.select_notifications(
            start=start + 1, limit=self.batch_size, stop=head, topics=TOPICS)
        for notification in notifications:
            self._complete(notification)
        reached = notifications[-1].id if len(notifications) == self.batch_size else head
        with self.pool.connection() as conn:
            # Compare-and-set: a second process that got here first has done the same.
            conn.execute("UPDATE public.log_processes SET position = %s, updated_at = now() "
                         "WHERE name = %s AND position = %s", (reached, NAME, start))
        return len(notifications)

    def _complete(self, notification: Notification) -> None:
        event = self.app.mapper.to_domain_event(notification)
        meta = getattr(event, "meta", None) or {}
        ctx = CommandContext(
            actor_id=UUID(meta["actor_id"]) if meta.get("actor_id") else None,
            correlation_id=meta.get("correlation_id"),
            causation_id=f"log:{notification.id}", user_agent=USER_AGENT)
        command = Command(self.app, ctx)
        if isinstance(event, Organization.MemberRemoved | Organization.RoleChanged):
            if isinstance(event, Organization.RoleChanged) and event.role != Role.CLIENT:
                return
            self._sweep(command, event.originator_id, event.user_id, notification.id)
            return
        attribute, undo = JOINS[type(event)]
        person = getattr(event, attribute)
        organization_id = meta.get("organization_id")
        if person is None or organization_id is None:
            return
        # Only a join made after the departure is this join's to undo: one made before it
        # is the departure's (its sweep, with the departure's actor and correlation).
        organization = self._organization_before(UUID(organization_id), notification.id)
        if organization is not None and organization.role_of(person) in (None, Role.CLIENT):
            undo(command, UUID(organization_id), event.originator_id, person)

    def _organization_before(self, organization_id: UUID, position: int
                             ) -> Organization | None:
        """The organization as it was when the event at ``position`` was appended (the
        log is in commit order: its events before that position)."""
        with self.pool.connection() as conn:
            row = conn.execute(SQL(
                "SELECT max(originator_version) FROM {} "
                "WHERE originator_id = %s AND notification_id < %s").format(self._events),
                (organization_id, position)).fetchone()
        if row is None or row[0] is None:
            return None
        organization: Organization = self.app.repository.get(organization_id, version=row[0])
        return organization

    def _sweep(self, command: Command, organization_id: UUID, person: UUID,
               at: int) -> None:
        """Take ``person`` out of everything the read models hold of theirs once they have
        applied the departure at position ``at``."""
        if not wait_for_position(self.pool, READ_MODELS, at, self.read_model_wait):
            raise ReadModelsBehind(f"the read models have not reached position {at}")
        with self.pool.connection() as conn:
            projects = projects_with_member(conn, organization_id, person)
            channels = channels_with_member(conn, organization_id, person)
            tasks = tasks_assigned_to(conn, organization_id, person)
        for project_id in projects:
            departures.leave_project(command, organization_id, project_id, person)
        for channel_id in channels:
            departures.leave_channel(command, organization_id, channel_id, person)
        for task_id in tasks:
            departures.unassign_task(command, organization_id, task_id, person)

    def step(self) -> bool:
        try:
            return self.run_once() > 0
        except ReadModelsBehind:
            return False  # the whole batch again later (a repeat changes nothing)


def position(pool: ConnectionPool) -> int:
    """The log position departures have been completed through (0 before the first; for
    status and metrics, which create nothing)."""
    with pool.connection() as conn:
        if conn.execute("SELECT to_regclass('public.log_processes')").fetchone() == (None,):
            return 0
        return _stored_position(conn)


def _stored_position(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT position FROM public.log_processes WHERE name = %s",
                       (NAME,)).fetchone()
    return int(row[0]) if row else 0
