"""Read models as tracked projections of the one event log.

A read model declares its tables and one handler per event class it cares about.
The runner (projections/runner.py) applies a batch of events and moves the read
model's position in the same transaction, so a crash never loses or doubles an update.

Handlers take every value from the event (times included, never ``now()``), so
dropping a read model and replaying the log rebuilds exactly the same rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from eventsourcing.utils import get_topic
from psycopg import Cursor

Handler = Callable[[Any, Cursor[Any], Any], None]

TRACKING_DDL = """
CREATE TABLE IF NOT EXISTS public.projection_tracking (
    name text PRIMARY KEY,
    position bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    last_error text
)
"""


def handles(*event_classes: type) -> Callable[[Handler], Handler]:
    """Mark a read-model method as the handler of the given event classes."""

    def mark(func: Handler) -> Handler:
        func.__handles__ = event_classes  # type: ignore[attr-defined]
        return func

    return mark


class ReadModel:
    name: ClassVar[str]
    # Statements that create the read model's schema and tables (idempotent).
    ddl: ClassVar[tuple[str, ...]]
    # Qualified table names, dropped by a rebuild.
    tables: ClassVar[tuple[str, ...]]
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
        return tuple(sorted(get_topic(cls) for cls in self._handlers))

    def apply(self, cursor: Cursor[Any], event: Any) -> None:
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(self, cursor, event)
