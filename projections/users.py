"""auth.users: people as the API shows them (never the password hash)."""

from __future__ import annotations

from typing import Any

from psycopg import Cursor

from domain.user import User
from projections.base import ReadModel, handles


class UsersReadModel(ReadModel):
    name = "users"
    schema = "auth"
    ddl = (
        """CREATE TABLE users (
            id uuid PRIMARY KEY,
            email text NOT NULL,
            name text NOT NULL,
            phone text,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            version bigint NOT NULL
        )""",
        "CREATE INDEX users_email ON users (email)",
    )
    tables = ("users",)

    @handles(User.Registered)
    def _registered(self, cur: Cursor[Any], e: Any) -> None:
        cur.execute(
            "INSERT INTO users (id, email, name, phone, created_at, updated_at, version) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (e.originator_id, e.email, e.name, e.phone, e.timestamp, e.timestamp,
             e.originator_version),
        )

    @handles(User.ProfileUpdated)
    def _profile_updated(self, cur: Cursor[Any], e: Any) -> None:
        cur.execute(
            "UPDATE users SET name = %s, phone = %s, updated_at = %s, version = %s "
            "WHERE id = %s",
            (e.name, e.phone, e.timestamp, e.originator_version, e.originator_id),
        )

    @handles(User.PasswordChanged)
    def _password_changed(self, cur: Cursor[Any], e: Any) -> None:
        cur.execute(
            "UPDATE users SET updated_at = %s, version = %s WHERE id = %s",
            (e.timestamp, e.originator_version, e.originator_id),
        )
