"""Read models as tracked projections of the one event log.

A read model declares its tables and one handler per event class it cares about.
The runner (projections/runner.py) applies a batch of events and moves the read
model's position in the same transaction, so a crash never loses or doubles an update.

Handlers take every value from the event (times included, never ``now()``), so
dropping a read model and replaying the log rebuilds exactly the same rows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any, ClassVar

from eventsourcing.utils import get_topic
from psycopg import Cursor

Handler = Callable[[Any, Cursor[Any], Any], None]


def with_first(first: str | None, statement: str) -> str:
    """``statement`` preceded by ``first``, a write to another table, as a data-modifying
    CTE: both run in one statement, so a handler costs one round trip. (PostgreSQL runs a
    data-modifying CTE exactly once, whether or not the main statement reads it; both see
    the same snapshot, so they must not touch the same rows.) Plain text: handlers only
    put constants of their own module in statements, values always go as parameters."""
    return statement if first is None else f"WITH first AS ({first}) {statement}"


def handles(*event_classes: type) -> Callable[[Handler], Handler]:
    """Mark a read-model method as the handler of the given event classes."""

    def mark(func: Handler) -> Handler:
        func.__handles__ = event_classes  # type: ignore[attr-defined]
        return func

    return mark


class ReadModel:
    """A read model: its tables, its handlers, and the version they make together.

    The DDL and the handlers use unqualified table names: each version is built in a
    PostgreSQL schema of its own (``search_path`` points there while it is applied), and
    queries read it through views named ``<schema>.<table>`` that are switched over in one
    transaction when a new version is complete (see projections/versions.py).
    """

    name: ClassVar[str]
    # The PostgreSQL schema where queries see the tables (auth, project, ...).
    schema: ClassVar[str]
    # Statements that create the version's tables and indexes (unqualified names).
    ddl: ClassVar[tuple[str, ...]]
    # The tables queries may read (unqualified), each shown as the view schema.table.
    tables: ClassVar[tuple[str, ...]]
    # Bump when the handlers change what they write with the same DDL: a new version is
    # then built beside the current one. (A DDL change does that by itself.)
    revision: ClassVar[int] = 1
    _handlers: ClassVar[dict[type, Handler]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._handlers = {}
        for klass in reversed(cls.__mro__):
            for attr in vars(klass).values():
                for event_class in getattr(attr, "__handles__", ()):
                    cls._handlers[event_class] = attr

    @property
    def topics(self) -> tuple[str, ...]:
        """The event topics this read model reads; empty means every event (the log's
        reader then filters nothing: eventsourcing's ``select_notifications``)."""
        return tuple(sorted(get_topic(cls) for cls in self._handlers))

    @property
    def digest(self) -> str:
        """The version of this read model: a digest of everything that decides its rows."""
        material = json.dumps([self.name, self.schema, self.revision, list(self.ddl),
                               list(self.tables), list(self.topics)])
        return hashlib.sha256(material.encode()).hexdigest()[:16]

    def complete(self, conn: Any) -> bool:
        """Whether a building version caught up with the log may be swapped in; a read
        model with work outside the log's path (the search index's embeddings) says no
        until that work is done. Runs with ``search_path`` at the building tables."""
        return True

    def apply(self, cursor: Cursor[Any], event: Any) -> None:
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(self, cursor, event)

    def apply_events(self, cursor: Cursor[Any], events: list[tuple[int, Any]]) -> None:
        """Apply a batch of (log position, event) in order, in the caller's transaction.
        A read model may do a batch in fewer round trips than one event at a time."""
        for _, event in events:
            self.apply(cursor, event)
