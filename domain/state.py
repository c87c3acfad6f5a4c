"""An aggregate's state as plain data: what the activity timeline compares before and
after each event, and what time travel answers.

Pure functions over any aggregate, present or future: a new aggregate shows up in the
timeline and in time travel without code here. Two class attributes tune it:

- ``PERSONAL_FIELDS``: attributes holding personal data (names, emails, phones, bodies
  people wrote). The timeline says such a field changed, never its values, so a person's
  later change or erasure is not contradicted by copies in history rows.
- ``INTERNAL = True``: an aggregate that only guards a rule (a uniqueness claim, a
  person-day ledger); its events are recorded but not shown as anyone's activity.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

# A value shown as changed without saying what it was or became.
WITHHELD = {"withheld": True}


def entity_type(aggregate_class: type) -> str:
    """The stable, snake-case name of an aggregate class: ``TimeLog`` → ``time_log``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", aggregate_class.__name__).lower()


def action_name(aggregate_class: type, event_class: type) -> str:
    """``task.status_changed`` for ``Task.StatusChanged``."""
    return f"{entity_type(aggregate_class)}.{entity_type(event_class)}"


def personal_fields(aggregate_class: type) -> frozenset[str]:
    return frozenset(getattr(aggregate_class, "PERSONAL_FIELDS", ()))


def personal_event_fields(aggregate_class: type) -> frozenset[str]:
    """What an event of ``aggregate_class`` may carry that is personal: the aggregate's
    personal fields, and what only its events carry (``PERSONAL_EVENT_FIELDS``: a
    question asked, an answer read)."""
    return personal_fields(aggregate_class) | frozenset(
        getattr(aggregate_class, "PERSONAL_EVENT_FIELDS", ()))


def split_personal(aggregate_class: type, attributes: Mapping[str, Any]
                   ) -> tuple[dict[str, Any], list[str]]:
    """An event's attributes without their personal values, and the names of what was
    left out (``changes.email`` for a field inside a dict of changes, as
    ``Client.Updated(changes=...)`` carries them). The one rule for every copy of the log
    that leaves the store: the Kafka relay and the auditors' export."""
    personal = personal_event_fields(aggregate_class)
    kept: dict[str, Any] = {}
    left_out: list[str] = []
    for name, value in attributes.items():
        if name in personal:
            left_out.append(name)
        elif isinstance(value, Mapping):
            kept[name] = {k: v for k, v in value.items() if k not in personal}
            left_out += [f"{name}.{k}" for k in value if k in personal]
        else:
            kept[name] = value
    return kept, left_out


def is_internal(aggregate_class: type) -> bool:
    return bool(getattr(aggregate_class, "INTERNAL", False))


def fields_of(aggregate: Any) -> dict[str, Any]:
    """The aggregate's own attributes (the library's bookkeeping — id, version, times —
    starts with an underscore and is left out)."""
    return {k: v for k, v in vars(aggregate).items() if not k.startswith("_")}


def json_value(value: Any) -> Any:
    """``value`` as JSON can hold it, exactly: ids and times as text, decimals as text
    (no float rounding), sets sorted."""
    if isinstance(value, Enum):
        return json_value(value.value)
    if isinstance(value, (UUID, Decimal)):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted((json_value(v) for v in value), key=str)
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    return value


def public_state(aggregate: Any) -> dict[str, Any]:
    """The aggregate's fields as JSON, personal data included (time travel shows it to
    those who may read the record now)."""
    return json_value(fields_of(aggregate))  # type: ignore[no-any-return]


_ABSENT = object()


def changes(before: Mapping[str, Any], after: Mapping[str, Any],
            personal: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """Field-level differences as ``{"field", "old", "new"}``, nested mappings by dotted
    path (``checklist.<item>.done``); a personal field that changed is listed with
    ``withheld`` instead of its values. Values are compared as JSON."""
    found: list[dict[str, Any]] = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key, _ABSENT), after.get(key, _ABSENT)
        if key in personal:
            if json_value(old) != json_value(new):
                found.append({"field": key, **WITHHELD})
            continue
        _diff(key, old, new, found)
    return found


def _diff(path: str, old: Any, new: Any, found: list[dict[str, Any]]) -> None:
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in sorted(set(old) | set(new), key=str):
            _diff(f"{path}.{key}", old.get(key, _ABSENT), new.get(key, _ABSENT), found)
        return
    old_json = None if old is _ABSENT else json_value(old)
    new_json = None if new is _ABSENT else json_value(new)
    if old_json != new_json:
        found.append({"field": path, "old": old_json, "new": new_json})
