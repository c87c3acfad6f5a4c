"""A read-model table from one column list: its DDL, the writes of its handlers, and the
reads of its queries, so a column is named once.

Writes use the unqualified table name (the runner's ``search_path`` points at the
version being built); reads use the view ``<schema>.<table>`` that queries see. Every
piece of SQL is built from the names given here (constants of the read-model module),
never from values: values always travel as parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

from psycopg import Connection, Cursor

from projections.base import with_first
from projections.paging import Order, page_of


class Table:
    def __init__(self, schema: str, name: str, columns: dict[str, str], *,
                 constraints: Sequence[str] = (), hidden: Sequence[str] = (),
                 key: str = "id") -> None:
        """``columns``: name → SQL type and constraints; ``constraints``: table-level ones
        (e.g. a composite primary key); ``hidden``: columns queries do not return;
        ``key``: the column ``update``/``touch`` find a row by."""
        self.schema, self.name, self.columns = schema, name, columns
        self.constraints, self.key = tuple(constraints), key
        self.shown = tuple(c for c in columns if c not in hidden)

    @property
    def ddl(self) -> str:
        parts = [f"{name} {kind}" for name, kind in self.columns.items()]
        return f"CREATE TABLE {self.name} ({', '.join([*parts, *self.constraints])})"

    @property
    def view(self) -> str:
        return f"{self.schema}.{self.name}"

    # --- writes (handlers) -------------------------------------------------
    def insert_sql(self, names: Sequence[str]) -> str:
        self._check(names)
        return (f"INSERT INTO {self.name} ({', '.join(names)}) "
                f"VALUES ({', '.join(['%s'] * len(names))})")

    def insert(self, cur: Cursor[Any], values: dict[str, Any], *, first: str | None = None,
               first_params: Sequence[Any] = ()) -> None:
        cur.execute(with_first(first, self.insert_sql(tuple(values))),
                    (*first_params, *values.values()))

    def update_sql(self, names: Sequence[str]) -> str:
        self._check(names)
        assignments = ", ".join(f"{name} = %s" for name in names)
        return f"UPDATE {self.name} SET {assignments} WHERE {self.key} = %s"

    def update(self, cur: Cursor[Any], key: Any, values: dict[str, Any], *,
               first: str | None = None, first_params: Sequence[Any] = ()) -> None:
        cur.execute(with_first(first, self.update_sql(tuple(values))),
                    (*first_params, *values.values(), key))

    def touch(self, cur: Cursor[Any], event: Any, values: dict[str, Any] | None = None, *,
              first: str | None = None, first_params: Sequence[Any] = ()) -> None:
        """Update the event's aggregate row: ``values``, plus ``updated_at`` and ``version``
        from the event; ``first`` (a write to another table) runs in the same statement."""
        self.update(cur, event.originator_id,
                    {**(values or {}), "updated_at": event.timestamp,
                     "version": event.originator_version},
                    first=first, first_params=first_params)

    def _check(self, names: Sequence[str]) -> None:
        unknown = set(names) - set(self.columns)
        if unknown:
            raise ValueError(f"{self.name} has no column(s) {sorted(unknown)}")

    # --- reads (queries) ---------------------------------------------------
    @cached_property
    def select(self) -> str:
        return f"SELECT {', '.join(self.shown)} FROM {self.view}"

    def rows(self, records: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
        return [dict(zip(self.shown, record, strict=True)) for record in records]

    def one(self, conn: Connection[Any], where: str, params: Sequence[Any]) -> \
            dict[str, Any] | None:
        record = conn.execute(f"{self.select} WHERE {where}", params).fetchone()
        return None if record is None else dict(zip(self.shown, record, strict=True))

    def page(self, conn: Connection[Any], where: Sequence[str], params: Sequence[Any],
             order: Order, cursor: str | None, limit: int) -> dict[str, Any]:
        """One page of the rows matching every condition of ``where``, in ``order``,
        after ``cursor``. Conditions are added only when used, so each filter combination
        gets a plan that walks its own index."""
        conditions, values = list(where), list(params)
        after = order.decode(cursor)
        if after is not None:
            conditions.append(order.after())
            values.extend(after)
        query = (f"{self.select} WHERE {' AND '.join(conditions) or 'TRUE'} "
                 f"ORDER BY {order.by()} LIMIT %s")
        records = conn.execute(query, (*values, limit + 1)).fetchall()  # type: ignore[arg-type]
        return page_of(self.rows(records), limit, order)
