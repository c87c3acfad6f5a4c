"""activity.timeline: one row per event of every aggregate, present and future, with
what it changed field by field; and the queries that show it to people by their
permissions *now* (docs/timeline.md).

The read model handles every event (``topics`` is empty) without knowing any event
class: it keeps each aggregate's last state (``entity_states``, personal fields
withheld), rebuilds the aggregate from it, lets the event mutate it as the domain does,
and compares the fields before and after (domain/state.py). A new aggregate therefore
appears here without code. People are stored by id only; names are resolved at read
time, so a person's later change or erasure shows everywhere at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import Connection, Cursor
from psycopg.types.json import Jsonb

from domain.channel import ChannelKind
from domain.roles import SEES_ALL_PROJECTS, Permission, Role, can
from domain.state import (
    action_name,
    changes,
    entity_type,
    fields_of,
    is_internal,
    json_value,
    personal_fields,
)
from projections.base import ReadModel
from projections.organizations import memberships
from projections.paging import Order, page_of
from projections.table import Table
from projections.transcoding import KeptState

# The ids a row is scoped by, taken from the aggregate's fields (``project_id``...) or,
# for the aggregate of that type itself, its own id: how permissions find the row.
SCOPES = ("organization", "project", "channel", "client", "person")

TIMELINE = Table("activity", "timeline", {
    "position": "bigint PRIMARY KEY",
    "occurred_at": "timestamptz NOT NULL",
    "action": "text NOT NULL",
    "entity_type": "text NOT NULL",
    "entity_id": "uuid NOT NULL",
    "entity_version": "integer NOT NULL",
    "organization_id": "uuid",
    "project_id": "uuid",
    "channel_id": "uuid",
    "client_id": "uuid",
    "person_id": "uuid",
    "actor_id": "uuid",
    "correlation_id": "text",
    "causation_id": "text",
    "client_ip": "text",
    "user_agent": "text",
    "internal": "boolean NOT NULL",
    "changes": "jsonb NOT NULL",
}, key="position")

# Each aggregate's state after its last event, to diff the next one against. Personal
# fields are withheld (null) here too. Not a view: no query reads it.
ENTITY_STATES = Table("activity", "entity_states", {
    "entity_id": "uuid PRIMARY KEY",
    "topic": "text NOT NULL",
    "version": "integer NOT NULL",
    "state": "bytea NOT NULL",
}, key="entity_id")

NEWEST_FIRST = Order((("position", "bigint"),), descending=True)
# With a time range, pages walk the time index instead: the planner cannot know that
# positions and times rise together, and walking positions newest first while filtering
# on time skipped 330,000 rows for a week a year back (docs/benchmarks.md, timeline).
# The log's order and its times agree but for commits racing by milliseconds.
LATEST_FIRST = Order((("occurred_at", "timestamptz"), ("position", "bigint")),
                     descending=True)

# Rows the timeline keeps but shows as nobody's activity, and account rows.
_HIDDEN = "t.internal OR t.entity_type = 'user'"


class TimelineReadModel(ReadModel):
    name = "timeline"
    schema = "activity"
    ddl = (
        TIMELINE.ddl,
        ENTITY_STATES.ddl,
        # Newest first within an organization, and the filters people use most; each
        # ends with the position so a page walks one index.
        "CREATE INDEX timeline_organization ON timeline (organization_id, position DESC)",
        "CREATE INDEX timeline_entity ON timeline (entity_id, position DESC)",
        "CREATE INDEX timeline_actor ON timeline (actor_id, position DESC)",
        "CREATE INDEX timeline_project ON timeline (project_id, position DESC) "
        "WHERE project_id IS NOT NULL",
        "CREATE INDEX timeline_channel ON timeline (channel_id, position DESC) "
        "WHERE channel_id IS NOT NULL",
        "CREATE INDEX timeline_type ON timeline (organization_id, entity_type, position DESC)",
        "CREATE INDEX timeline_action ON timeline (organization_id, action, position DESC)",
        "CREATE INDEX timeline_correlation ON timeline (correlation_id, position DESC)",
        "CREATE INDEX timeline_time ON timeline "
        "(organization_id, occurred_at DESC, position DESC)",
    )
    tables = ("timeline",)

    def __init__(self) -> None:
        self._states = KeptState()

    @property
    def topics(self) -> tuple[str, ...]:
        return ()  # every event

    def apply(self, cursor: Cursor[Any], event: Any) -> None:
        raise TypeError("the timeline needs each event's log position: use apply_events")

    def apply_events(self, cursor: Cursor[Any], events: list[tuple[int, Any]]) -> None:
        if not events:
            return
        ids = list({e.originator_id for _, e in events})
        known = {row[0]: row[1:] for row in cursor.execute(
            "SELECT entity_id, topic, version, state FROM entity_states "
            "WHERE entity_id = ANY(%s)", (ids,)).fetchall()}
        aggregates: dict[UUID, Any] = {}
        rows = []
        for position, event in events:
            aggregate = aggregates.get(event.originator_id)
            if aggregate is None and event.originator_id in known:
                aggregate = self._restore(event.originator_id, *known[event.originator_id])
            aggregate, row = self._record(position, event, aggregate)
            aggregates[event.originator_id] = aggregate
            rows.append(row)
        cursor.executemany(TIMELINE.insert_sql(tuple(rows[0])),
                           [tuple(row.values()) for row in rows])
        cursor.executemany(
            ENTITY_STATES.insert_sql(("entity_id", "topic", "version", "state"))
            + " ON CONFLICT (entity_id) DO UPDATE SET topic = excluded.topic, "
              "version = excluded.version, state = excluded.state",
            [self._kept(aggregate) for aggregate in aggregates.values()])

    def _restore(self, entity_id: UUID, topic: str, version: int, state: bytes) -> Any:
        return self._states.restore(entity_id, topic, version, state)

    def _kept(self, aggregate: Any) -> tuple[Any, ...]:
        topic, state = self._states.keep(aggregate)
        return (aggregate.id, topic, aggregate.version, state)

    def _record(self, position: int, event: Any, aggregate: Any) -> tuple[Any, dict[str, Any]]:
        """Mutate ``aggregate`` (None before its first event) with ``event``; answer it
        (personal fields withheld) and the event's timeline row."""
        created = hasattr(event, "originator_topic")
        if not created and aggregate is None:
            raise LookupError(f"no state kept for {event.originator_id} before version "
                              f"{event.originator_version}")
        before = {} if created else json_value(fields_of(aggregate))
        aggregate = event.mutate(None if created else aggregate)
        cls = type(aggregate)
        personal = personal_fields(cls)
        after = fields_of(aggregate)
        found = changes(before, after, personal)
        for name in personal:  # kept state and next diffs never hold personal data
            if name in after:
                setattr(aggregate, name, None)
        kind = entity_type(cls)
        meta = getattr(event, "meta", None) or {}
        scope = {f"{s}_id": aggregate.id if kind == s else _uuid(after.get(f"{s}_id"))
                 for s in SCOPES}
        if scope["organization_id"] is None:
            scope["organization_id"] = _uuid(meta.get("organization_id"))
        return aggregate, {
            "position": position,
            "occurred_at": event.timestamp,
            "action": action_name(cls, type(event)),
            "entity_type": kind,
            "entity_id": event.originator_id,
            "entity_version": event.originator_version,
            **scope,
            "actor_id": _uuid(meta.get("actor_id")),
            "correlation_id": meta.get("correlation_id"),
            "causation_id": meta.get("causation_id"),
            "client_ip": meta.get("client_ip"),
            "user_agent": meta.get("user_agent"),
            "internal": is_internal(cls),
            "changes": Jsonb(found),
        }


def _uuid(value: Any) -> UUID | None:
    if value is None or isinstance(value, UUID):
        return value
    try:
        return UUID(str(value))
    except ValueError:
        return None


# --- queries --------------------------------------------------------------

# What a reader gets of a row; IPs and user agents only for Organizers (ROW_SELECT).
SHOWN = ("position", "occurred_at", "action", "entity_type", "entity_id", "entity_version",
         "organization_id", "project_id", "channel_id", "actor_id", "correlation_id",
         "causation_id", "changes")


def _row_select(with_origin: bool) -> str:
    origin = "t.client_ip, t.user_agent" if with_origin else "NULL, NULL"
    return (f"SELECT {', '.join('t.' + c for c in SHOWN)}, {origin}, "
            "u.name FROM activity.timeline t LEFT JOIN auth.users u ON u.id = t.actor_id")


def _rows(records: list[Any]) -> list[dict[str, Any]]:
    items = []
    for record in records:
        item = dict(zip(SHOWN, record[:len(SHOWN)], strict=True))
        item["client_ip"], item["user_agent"], name = record[len(SHOWN):]
        item["actor"] = None if item["actor_id"] is None else \
            {"id": item["actor_id"], "name": name}
        items.append(item)
    return items


# Whether the caller (parameter ``me``) may see the row ``t`` now, with ``role`` the
# caller's role in the row's organization. Mirrors the read rules of each kind of
# record (docs/permissions.md): channels as channels are seen, time logs as their
# author or staff, proposals for client managers, project work for project members,
# and for a Client only the projects and tasks their portal shows.
def _channel_seen(role: Role) -> str:
    projects = "TRUE" if role in SEES_ALL_PROJECTS else (
        "EXISTS (SELECT 1 FROM project.project_members pm "
        "WHERE pm.project_id = c.project_id AND pm.user_id = %(me)s)")
    return ("EXISTS (SELECT 1 FROM communication.channels c WHERE c.id = t.channel_id AND "
            f"(c.kind = '{ChannelKind.TEAM.value}' OR (c.kind = '{ChannelKind.DIRECT.value}' "
            "AND EXISTS (SELECT 1 FROM communication.channel_members cm "
            "WHERE cm.channel_id = c.id AND cm.user_id = %(me)s)) "
            f"OR (c.kind = '{ChannelKind.PROJECT.value}' AND {projects})))")


_PORTAL = ("EXISTS (SELECT 1 FROM project.project_clients pc "
           "JOIN client.portal_users pu ON pu.client_id = pc.client_id "
           "JOIN client.clients c ON c.id = pc.client_id "
           "WHERE pc.project_id = t.project_id AND pu.user_id = %(me)s "
           "AND c.portal_access AND NOT c.archived)")

# What the portal shows of a project is what it shows of its activity: not its members
# nor its other clients (projections/projects.py seen_from_portal).
_PORTAL_HIDDEN_ACTIONS = ("t.action NOT LIKE 'project.member%%' "
                          "AND t.action NOT LIKE 'project.client%%'")
PORTAL_HIDDEN_FIELDS = ("members", "client_id", "client_ids")

# Work with a client that only client managers see: proposals, and feedback given on no
# project (feedback on a project is seen by those who see the project).
_CLIENT_WORK = ("t.entity_type <> 'proposal' AND NOT (t.entity_type = 'client_feedback' "
                "AND t.project_id IS NULL) AND t.action NOT IN ('client.proposal_opened', "
                "'client.proposal_sent', 'client.feedback_received')")


def visible_sql(role: Role) -> str:
    """The condition "the caller sees row ``t``" for a caller with ``role`` in the row's
    organization (parameters: ``me``)."""
    if role is Role.CLIENT:
        return (f"(t.entity_type IN ('project', 'task') AND {_PORTAL} "
                f"AND {_PORTAL_HIDDEN_ACTIONS})")
    conditions = [f"(t.channel_id IS NULL OR {_channel_seen(role)})",

                  # A conversation with the assistant is its owner's alone, for every role.
                  "(t.entity_type <> 'conversation' OR t.person_id = %(me)s)"]
    if role not in SEES_ALL_PROJECTS:
        conditions += [
            "(t.entity_type <> 'time_log' OR t.person_id = %(me)s)",
            # One's own time logs stay one's own after leaving their project (as the
            # time log itself: api/routes/timelogs.py get_time_log).
            "(t.project_id IS NULL OR (t.entity_type = 'time_log' AND t.person_id = %(me)s) "
            "OR EXISTS (SELECT 1 FROM project.project_members pm "
            "WHERE pm.project_id = t.project_id AND pm.user_id = %(me)s))",
        ]
    if not can(role, Permission.MANAGE_CLIENTS):
        conditions.append(_CLIENT_WORK)
    if not can(role, Permission.MANAGE_ORGANIZATION):
        # The assistant's prompt templates are read by Organizers only.
        conditions.append("t.entity_type <> 'prompt_template'")
    return "(" + " AND ".join(conditions) + ")"


def _seen_by(role: Role, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` as ``role`` sees them: from the portal, without the changes to fields the
    portal does not show."""
    if role is not Role.CLIENT:
        return rows
    for row in rows:
        row["changes"] = [c for c in row["changes"]
                          if c["field"].split(".")[0] not in PORTAL_HIDDEN_FIELDS]
    return rows


def activity_page(conn: Connection[Any], organization_id: Any, role: Role, caller: Any, *,
                  filters: dict[str, Any], cursor: str | None, limit: int) -> dict[str, Any]:
    """A page of the organization's activity the caller sees now, newest first.
    ``filters``: actor_id, entity_type, entity_id, project_id, channel_id, action,
    correlation_id, since, until (any may be None; entity_types: a list)."""
    where = ["t.organization_id = %(organization)s", f"NOT ({_HIDDEN})", visible_sql(role)]
    params: dict[str, Any] = {"organization": organization_id, "me": caller}
    for column in ("actor_id", "entity_id", "project_id", "channel_id", "action",
                   "correlation_id", "entity_type"):
        if filters.get(column) is not None:
            where.append(f"t.{column} = %({column})s")
            params[column] = filters[column]
    if filters.get("entity_types"):
        where.append("t.entity_type = ANY(%(entity_types)s)")
        params["entity_types"] = list(filters["entity_types"])
    if filters.get("since") is not None:
        where.append("t.occurred_at >= %(since)s")
        params["since"] = filters["since"]
    if filters.get("until") is not None:
        where.append("t.occurred_at < %(until)s")
        params["until"] = filters["until"]
    by_time = filters.get("since") is not None or filters.get("until") is not None
    return _page(conn, where, params, role, cursor, limit, by_time=by_time)


def _page(conn: Connection[Any], where: list[str], params: dict[str, Any], role: Role | None,
          cursor: str | None, limit: int, *, by_time: bool = False) -> dict[str, Any]:
    """A page, newest first (by time when ``by_time``), as ``role`` sees it (None: as
    the caller sees their own actions, which ``my_activity_page`` finishes)."""
    order = LATEST_FIRST if by_time else NEWEST_FIRST
    after = order.decode(cursor)
    if after is not None:
        where = [*where, ("(t.occurred_at, t.position) < (%(after_time)s, %(after)s)"
                          if by_time else "t.position < %(after)s")]
        params = {**params, "after": after[-1], "after_time": after[0]}
    # Not prepared: a prepared statement gets PostgreSQL's generic plan after five runs,
    # which sizes an organization by the average one and, for the largest, intersects a
    # bitmap of all its rows (60-80 ms at a million rows) where the plan made for the
    # actual values walks one index newest first and stops at the page (2-5 ms); planning
    # each time costs under 1 ms (docs/benchmarks.md, timeline).
    records = conn.execute(
        f"{_row_select(role is Role.ORGANIZER)} WHERE {' AND '.join(where)} "
        f"ORDER BY {order.by('t')} LIMIT %(limit)s", {**params, "limit": limit + 1},
        prepare=False).fetchall()
    rows = _rows(records)
    return page_of(rows if role is None else _seen_by(role, rows), limit, order)


def my_activity_page(conn: Connection[Any], caller: Any, *, cursor: str | None,
                     limit: int) -> dict[str, Any]:
    """What the caller did, newest first, in every organization they are a member of now
    (by what their role there lets them see) and on their own account."""
    # A deleted organization has no members any more: its rows leave my activity with it.
    roles = {m["id"]: m["role"] for m in memberships(conn, caller)}
    seen = ["(t.entity_type = 'user' AND t.entity_id = %(me)s AND NOT t.internal)"]
    params: dict[str, Any] = {"me": caller}
    for index, (organization_id, role) in enumerate(roles.items()):
        params[f"o{index}"] = organization_id
        seen.append(f"(t.organization_id = %(o{index})s AND NOT ({_HIDDEN}) "
                    f"AND {visible_sql(Role(role))})")
    where = ["t.actor_id = %(me)s", "(" + " OR ".join(seen) + ")"]
    found = _page(conn, where, params, None, cursor, limit)
    for item in found["items"]:
        role = roles.get(item["organization_id"])
        if role is not None:
            _seen_by(Role(role), [item])
    return found


# The seed's CommunicationLog: a channel's lifecycle and membership, and the moderation
# of its messages (edits, deletions; posting is the conversation itself).
COMMUNICATION = ("(t.entity_type = 'channel' OR (t.entity_type = 'message' "
                 "AND t.action IN ('message.edited', 'message.deleted')))")


def communication_page(conn: Connection[Any], organization_id: Any, role: Role, caller: Any,
                       channel_id: Any, *, cursor: str | None, limit: int) -> dict[str, Any]:
    """A page of the channel's communication log, newest first."""
    where = ["t.organization_id = %(organization)s", f"NOT ({_HIDDEN})", visible_sql(role),
             "t.channel_id = %(channel)s", COMMUNICATION]
    return _page(conn, where, {"organization": organization_id, "me": caller,
                               "channel": channel_id}, role, cursor, limit)


def last_position(conn: Connection[Any]) -> int:
    """The position of the newest row (0 when empty): where a live feed starts."""
    row = conn.execute("SELECT coalesce(max(position), 0) FROM activity.timeline").fetchone()
    return int(row[0]) if row else 0


def since_position(conn: Connection[Any], organization_id: Any, role: Role, caller: Any,
                   position: int, limit: int) -> list[dict[str, Any]]:
    """The activity the caller sees after ``position``, oldest first (the live feed)."""
    where = ["t.organization_id = %(organization)s", f"NOT ({_HIDDEN})", visible_sql(role),
             "t.position > %(position)s"]
    records = conn.execute(
        f"{_row_select(role is Role.ORGANIZER)} WHERE {' AND '.join(where)} "
        "ORDER BY t.position LIMIT %(limit)s",
        {"organization": organization_id, "me": caller, "position": position,
         "limit": limit}).fetchall()
    return _seen_by(role, _rows(records))


def export_rows(conn: Connection[Any], organization_id: Any, caller: Any, *,
                since: datetime | None, until: datetime | None,
                batch: int = 1000) -> Iterator[dict[str, Any]]:
    """The organization's activity as an Organizer sees it (IPs included), oldest
    first, read in batches so the export is never held in memory."""
    position = 0
    while True:
        where = ["t.organization_id = %(organization)s", f"NOT ({_HIDDEN})",
                 visible_sql(Role.ORGANIZER), "t.position > %(position)s"]
        params: dict[str, Any] = {"organization": organization_id, "position": position,
                                  "me": caller}
        if since is not None:
            where.append("t.occurred_at >= %(since)s")
            params["since"] = since
        if until is not None:
            where.append("t.occurred_at < %(until)s")
            params["until"] = until
        records = conn.execute(
            f"{_row_select(True)} WHERE {' AND '.join(where)} ORDER BY t.position "
            "LIMIT %(limit)s", {**params, "limit": batch}).fetchall()
        rows = _rows(records)
        yield from rows
        if len(rows) < batch:
            return
        position = rows[-1]["position"]
