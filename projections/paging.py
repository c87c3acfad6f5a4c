"""Keyset pagination, the one way every list is paged.

A page is read in a stable order (``Order``: columns that end with a unique one, such as
``created_at, id``) starting strictly after the last row of the previous page. The
cursor handed out is that row's key, encoded; a cursor sent back is decoded and each
value checked with its parser, so a forged cursor is a 400 (``InvalidCursor``), never a
database error, and pages never skip or repeat a row when rows are added meanwhile.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from domain.base import DomainError, is_valid_text

# Long enough for any cursor the API hands out: the longest sort key is a 200-character
# name (up to 800 bytes of UTF-8) plus an id, base64-encoded.
MAX_CURSOR_LENGTH = 2048


class InvalidCursor(DomainError):
    code = "invalid-cursor"

    def __init__(self) -> None:
        super().__init__("cursor must be a value returned as next_cursor", field="cursor")


def text(value: Any) -> str:
    """A text value of a cursor: what the domain accepts as text (no NUL, no lone
    surrogate)."""
    if not isinstance(value, str) or not is_valid_text(value):
        raise ValueError("not valid text")
    return value


def uuid_value(value: Any) -> UUID:
    return UUID(str(value))


def datetime_value(value: Any) -> datetime:
    return datetime.fromisoformat(str(value))


def date_value(value: Any) -> date:
    return date.fromisoformat(str(value))


def bigint_value(value: Any) -> int:
    """A whole number a bigint holds: not a float, a bool or text."""
    if type(value) is not int or not -2**63 <= value < 2**63:
        raise ValueError("not a bigint")
    return value


# How each SQL type of a sort column is read back from a cursor.
PARSERS: dict[str, Callable[[Any], Any]] = {
    "uuid": uuid_value, "timestamptz": datetime_value, "date": date_value, "text": text,
    "bigint": bigint_value,
}


@dataclass(frozen=True)
class Order:
    """The sort of a list: ``columns`` (the last one unique) with the SQL type of each,
    ascending unless ``descending``."""

    columns: tuple[tuple[str, str], ...]
    descending: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    def after(self, alias: str = "") -> str:
        """The condition "strictly after the cursor's key" (its values as parameters)."""
        prefix = f"{alias}." if alias else ""
        key = ", ".join(prefix + name for name in self.names)
        marks = ", ".join(["%s"] * len(self.columns))
        return f"({key}) {'<' if self.descending else '>'} ({marks})"

    def by(self, alias: str = "") -> str:
        prefix = f"{alias}." if alias else ""
        direction = " DESC" if self.descending else ""
        return ", ".join(prefix + name + direction for name in self.names)

    def key_of(self, item: dict[str, Any]) -> list[Any]:
        return [item[name] for name in self.names]

    def decode(self, cursor: str | None) -> list[Any] | None:
        if cursor is None:
            return None
        try:
            values = json.loads(base64.urlsafe_b64decode(cursor.encode()))
            if not isinstance(values, list) or len(values) != len(self.columns):
                raise ValueError("wrong shape")
            return [PARSERS[kind](value)
                    for (_, kind), value in zip(self.columns, values, strict=True)]
        except (TypeError, ValueError, AttributeError, RecursionError, OverflowError):
            raise InvalidCursor() from None  # UnicodeDecodeError is a ValueError


def encode_cursor(values: Sequence[Any]) -> str:
    # UTF-8, not \\u escapes: a name in Cyrillic or CJK stays short enough.
    return base64.urlsafe_b64encode(
        json.dumps(list(values), default=str, ensure_ascii=False).encode()).decode()


def page_of(items: list[dict[str, Any]], limit: int, order: Order) -> dict[str, Any]:
    """A page of ``limit`` items; the query fetched ``limit + 1`` to know if more exist."""
    more = len(items) > limit
    items = items[:limit]
    cursor = encode_cursor(order.key_of(items[-1])) if more and items else None
    return {"items": items, "next_cursor": cursor}
