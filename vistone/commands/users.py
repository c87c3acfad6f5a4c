"""Registering users and updating profiles; emails are unique via a claim."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from domain.base import (
    AlreadyExists,
    InvalidValue,
    NotFound,
    is_valid_text,
    valid_text,
)
from domain.uniqueness import UniqueClaim, claim_id
from domain.user import User, normalize_email
from vistone.app import Command, CommandResult, UnitOfWork, Vistone
from vistone.security import hash_password, verify_password

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024


def validate_password(password: str) -> str:
    if not isinstance(password, str) or not (
        MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH
    ):
        raise InvalidValue(
            f"password must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters",
            field="password",
        )
    # Hashed, never stored, but it must be encodable (UTF-8) to be hashed at all.
    return valid_text(password, "password")


def email_claim_id(email: str) -> UUID:
    return claim_id("email", normalize_email(email))


def register_user(
    command: Command,
    *,
    email: str,
    name: str,
    password: str,
    phone: str | None = None,
) -> CommandResult:
    email = normalize_email(email)
    # Hash once, outside the retry loop: argon2 is deliberately slow.
    password_hash = hash_password(validate_password(password))
    user_id = uuid4()
    ctx = command.ctx

    # Someone signing up is the actor of their own registration (so it is in their own
    # activity); an account made by a signed-in person keeps that person as its actor.
    meta = ctx.meta if ctx.actor_id is not None else {**ctx.meta, "actor_id": str(user_id)}

    def decide(uow: UnitOfWork) -> User:
        user = uow.add(User.register(user_id, email, name, phone, password_hash, meta))
        claim = uow.find(UniqueClaim, email_claim_id(email))
        if claim is None:
            uow.add(UniqueClaim(id=email_claim_id(email), scope="email", key=email,
                                owner_id=user_id, meta=ctx.meta))
        else:
            claim.reclaim(user_id, ctx.meta)  # raises AlreadyExists while held
        return user

    try:
        return command.execute(decide)
    except AlreadyExists:
        raise AlreadyExists("a user with this email already exists", field="email") from None


def authenticate(app: Vistone, email: str, password: str) -> UUID | None:
    """The user id for a correct email and password, else None. Reads the command
    side (claim, then user), so a login works before the read models catch up."""
    if not isinstance(password, str) or not is_valid_text(password):
        return None  # no password anyone could have registered (and it cannot be hashed)
    try:
        claim_key = email_claim_id(email)
    except InvalidValue:
        verify_password(None, password)
        return None
    uow = UnitOfWork(app)
    claim = uow.find(UniqueClaim, claim_key)
    user = uow.find(User, claim.owner_id) if claim and claim.owner_id else None
    if not verify_password(user.password_hash if user else None, password) or user is None:
        return None
    return user.id


def update_profile(
    command: Command, user_id: UUID, *, changes: dict[str, Any],
) -> CommandResult:
    """Apply the fields present in ``changes`` (name, phone): absent fields stay as they
    are, ``phone: None`` clears the phone, a name cannot be cleared."""
    unknown = set(changes) - {"name", "phone"}
    if unknown:
        raise InvalidValue(f"unknown field(s): {', '.join(sorted(unknown))}",
                           field=sorted(unknown)[0])
    if "name" in changes and changes["name"] is None:
        raise InvalidValue("name must not be null", field="name")
    name = changes.get("name")
    # The domain reads None as "unchanged" and an empty phone as "no phone".
    phone = "" if "phone" in changes and changes["phone"] is None else changes.get("phone")
    ctx = command.ctx

    def decide(uow: UnitOfWork) -> User:
        if ctx.actor_id != user_id:
            raise NotFound(f"user {user_id} not found")
        user = uow.get(User, user_id, "user")
        user.update_profile(name, phone, ctx.meta)
        return user

    return command.execute(decide)
