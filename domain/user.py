"""User: a person with a system-wide unique email. The password arrives already
hashed (argon2id, see vistone/security.py); the domain never sees it in clear."""

from __future__ import annotations

import re
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.base import InvalidValue, optional_text, require_text, valid_text

MAX_NAME = 200
MAX_EMAIL = 254
MAX_PHONE = 20
# White space as Python's str.strip() and \s know it, spelled out: JavaScript's and Rust's
# \s differ from Python's, and the API's schema states these patterns to clients and to
# pydantic (Rust), which must read them exactly as the domain does.
SPACE = r"\x09-\x0d\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_ADDRESS = rf"[^@\x00-\x1f\x7f-\x9f{SPACE}]"
# A local part of 1 to 64 characters, "@", and a domain with a dot; no "@", white space or
# control character.
EMAIL = rf"{_ADDRESS}{{1,64}}@{_ADDRESS}+\.{_ADDRESS}+"
EMAIL_PATTERN = re.compile(EMAIL)
PHONE = r"\+?[0-9 ()-]{5,20}"
PHONE_PATTERN = re.compile(PHONE)


def normalize_email(email: str) -> str:
    """Emails are unique case-insensitively: the claim key is the lower-cased form."""
    if not isinstance(email, str):
        raise InvalidValue("email must be text", field="email")
    email = valid_text(email, "email").strip().lower()
    if len(email) > MAX_EMAIL or not EMAIL_PATTERN.fullmatch(email):
        raise InvalidValue("email is not a valid address", field="email")
    return email


def validate_phone(phone: str | None) -> str | None:
    phone = optional_text(phone, "phone", max_length=MAX_PHONE)
    if phone is not None and not PHONE_PATTERN.fullmatch(phone):
        raise InvalidValue("phone must be digits, spaces, ()- and an optional +", field="phone")
    return phone


class User(Aggregate):
    PERSONAL_FIELDS = frozenset({"email", "name", "phone", "password_hash"})

    @event("Registered")
    def __init__(
        self,
        id: UUID,
        email: str,
        name: str,
        phone: str | None,
        password_hash: str,
        meta: dict,
    ) -> None:
        self.email = email
        self.name = name
        self.phone = phone
        self.password_hash = password_hash

    @classmethod
    def register(
        cls, id: UUID, email: str, name: str, phone: str | None, password_hash: str, meta: dict
    ) -> User:
        return cls(
            id=id,
            email=normalize_email(email),
            name=require_text(name, "name", max_length=MAX_NAME),
            phone=validate_phone(phone),
            password_hash=password_hash,
            meta=meta,
        )

    def update_profile(self, name: str | None, phone: str | None, meta: dict) -> None:
        new_name = self.name if name is None else require_text(name, "name",
                                                               max_length=MAX_NAME)
        new_phone = self.phone if phone is None else validate_phone(phone or None)
        if (new_name, new_phone) != (self.name, self.phone):
            self._profile_updated(name=new_name, phone=new_phone, meta=meta)

    @event("ProfileUpdated")
    def _profile_updated(self, name: str, phone: str | None, meta: dict) -> None:
        self.name = name
        self.phone = phone

    def change_password(self, password_hash: str, meta: dict) -> None:
        self._password_changed(password_hash=password_hash, meta=meta)

    @event("PasswordChanged")
    def _password_changed(self, password_hash: str, meta: dict) -> None:
        self.password_hash = password_hash
