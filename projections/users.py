"""auth.users: people as the API shows them (never the password hash)."""

from __future__ import annotations

from typing import Any

from psycopg import Connection, Cursor

from domain.user import User
from projections.base import ReadModel, handles
from projections.table import Table

USERS = Table("auth", "users", {
    "id": "uuid PRIMARY KEY",
    "email": "text NOT NULL",
    "name": "text NOT NULL",
    "phone": "text",
    "created_at": "timestamptz NOT NULL",
    "updated_at": "timestamptz NOT NULL",
    "version": "bigint NOT NULL",
})


class UsersReadModel(ReadModel):
    name = "users"
    schema = "auth"
    ddl = (USERS.ddl,)
    tables = ("users",)

    @handles(User.Registered)
    def _registered(self, cur: Cursor[Any], e: Any) -> None:
        USERS.insert(cur, {"id": e.originator_id, "email": e.email, "name": e.name,
                           "phone": e.phone, "created_at": e.timestamp,
                           "updated_at": e.timestamp, "version": e.originator_version})

    @handles(User.ProfileUpdated)
    def _profile_updated(self, cur: Cursor[Any], e: Any) -> None:
        USERS.touch(cur, e, {"name": e.name, "phone": e.phone})

    @handles(User.PasswordChanged)
    def _password_changed(self, cur: Cursor[Any], e: Any) -> None:
        USERS.touch(cur, e)


# --- queries ----------------------------------------------------------------


def user(conn: Connection[Any], user_id: Any) -> dict[str, Any] | None:
    return USERS.one(conn, "id = %s", (user_id,))
