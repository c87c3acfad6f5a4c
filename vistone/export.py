"""The log for auditors: ``vistone export`` writes one JSON object per line per event.

Each line holds the event's log position, its aggregate (id, type and version), its type
(``task.status_changed``), its time (RFC 3339, UTC), its metadata (who, for which
organization, correlation and causation ids, client IP, user agent) and its attributes
as the code reads them now (older event versions upcast). Password hashes are never
written; ``withhold_personal`` also withholds what is personal, as the Kafka relay does
(``domain.state.split_personal``: names, emails, phones, message bodies, a conversation's
questions and answers, also inside a dict of changes).

The log is read in pages of positions up to the head it had when the export started
(what is appended meanwhile is left for the next export) and each line is written as it
is made: memory does not grow with the log.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any
from uuid import UUID

import orjson
from eventsourcing.application import Application

from domain.state import WITHHELD, action_name, entity_type, json_value, split_personal

PAGE_SIZE = 500
# What every line's ``meta`` holds (null when the event did not record it).
META_KEYS = ("actor_id", "organization_id", "correlation_id", "causation_id", "client_ip",
             "user_agent")
# Credentials: never exported.
SECRET_FIELDS = frozenset({"password_hash"})
# The library's bookkeeping: on the line under their own names, or not at all (the
# aggregate's class is ``aggregate_type``).
_BOOKKEEPING = frozenset({"originator_id", "originator_version", "timestamp", "meta",
                          "originator_topic"})


@dataclass(frozen=True)
class ExportFilter:
    """Which events to export; every bound is inclusive. A bound is a log position (int)
    or a time (tz-aware: the events stamped in that range)."""

    organization: UUID | None = None
    since: int | datetime | None = None
    until: int | datetime | None = None
    aggregate: UUID | None = None
    withhold_personal: bool = False

    def keeps(self, position: int, event: Any) -> bool:
        if isinstance(self.since, datetime) and event.timestamp < self.since:
            return False
        if isinstance(self.until, datetime) and event.timestamp > self.until:
            return False
        if self.aggregate is not None and event.originator_id != self.aggregate:
            return False
        if self.organization is not None:
            meta = getattr(event, "meta", None) or {}
            own = getattr(event, "organization_id", None)
            # Its members' actions, what belongs to it, and the organization's own events.
            if str(self.organization) not in (str(meta.get("organization_id")), str(own),
                                              str(event.originator_id)):
                return False
        return True


def aggregate_class(event_class: type) -> type | None:
    """The aggregate an event class belongs to: the class it is nested in
    (``Task.StatusChanged`` → ``Task``)."""
    outer: Any = sys.modules.get(event_class.__module__)
    for part in event_class.__qualname__.split(".")[:-1]:
        outer = getattr(outer, part, None)
    return outer if isinstance(outer, type) and outer is not event_class else None


def rfc3339_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def event_record(position: int, event: Any, *, withhold_personal: bool = False
                 ) -> dict[str, Any]:
    """One event as the object of its export line."""
    event_class = type(event)
    aggregate = aggregate_class(event_class)
    meta = dict(getattr(event, "meta", None) or {})
    attributes = {name: value for name, value in sorted(vars(event).items())
                  if name not in _BOOKKEEPING}
    withheld = [name for name in attributes if name in SECRET_FIELDS]
    if withhold_personal and aggregate is not None:
        attributes, left_out = split_personal(aggregate, attributes)
        withheld += left_out
    attributes = json_value(attributes)
    for path in withheld:  # said to be there, without its value
        *outer, name = path.split(".")
        (attributes[outer[0]] if outer else attributes)[name] = WITHHELD
    return {
        "position": position,
        "aggregate_id": str(event.originator_id),
        "aggregate_type": entity_type(aggregate) if aggregate is not None else None,
        "version": event.originator_version,
        "event_type": action_name(aggregate, event_class) if aggregate is not None
        else entity_type(event_class),
        "timestamp": rfc3339_utc(event.timestamp),
        "meta": json_value({**{key: meta.get(key) for key in META_KEYS}, **meta}),
        "attributes": attributes,
    }


def export_lines(app: Application[Any], selection: ExportFilter = ExportFilter(), *,
                 page_size: int = PAGE_SIZE) -> Iterator[bytes]:
    """The selected events as JSON lines (UTF-8, each ending in a newline), made one
    page of the log at a time."""
    head = app.recorder.max_notification_id() or 0
    start = selection.since if isinstance(selection.since, int) else 1
    stop = min(head, selection.until) if isinstance(selection.until, int) else head
    position = max(1, start)
    while position <= stop:
        notifications = app.recorder.select_notifications(start=position, limit=page_size,
                                                          stop=stop)
        if not notifications:
            return
        for notification in notifications:
            event = app.mapper.to_domain_event(notification)
            if selection.keeps(notification.id, event):
                record = event_record(notification.id, event,
                                      withhold_personal=selection.withhold_personal)
                yield orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)
        position = notifications[-1].id + 1


def write_export(app: Application[Any], out: IO[bytes],
                 selection: ExportFilter = ExportFilter()) -> int:
    """Write the selected events to ``out`` line by line; how many were written."""
    written = 0
    for line in export_lines(app, selection):
        out.write(line)
        written += 1
    return written
