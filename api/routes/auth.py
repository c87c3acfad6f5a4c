"""Registration, login (JWT access token) and the current user."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Literal, TypeAlias
from uuid import UUID

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from api.contract import CommandAnswer
from api.deps import (
    CREATES,
    Command,
    JSONResponse,
    Reader,
    Strict,
    anonymous_command,
    command_response,
    reading,
    runtime_of,
    tokens_of,
)
from api.problems import ApiProblem
from api.values import NO_NUL, ExactJSONRoute, text
from domain.roles import Role
from domain.user import EMAIL, MAX_EMAIL, MAX_NAME, MAX_PHONE, PHONE, SPACE
from projections import users as users_read_model
from projections.organizations import memberships
from vistone.app import Command as VistoneCommand
from vistone.commands import users
from vistone.commands.access import require_actor
from vistone.commands.users import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from vistone.runtime import Runtime
from vistone.security import TokenService

router = APIRouter(prefix="/v1", tags=["auth"], route_class=ExactJSONRoute)

# Registration: a command without a token.
AnonymousCommand = Annotated[VistoneCommand, Depends(anonymous_command)]
Reads = Annotated[Reader, reading("users", "organizations")]

# An email address as the domain takes it (domain/user.py): surrounding white space is
# ignored and the case does not matter (two addresses differing only in case are one).
Email = Annotated[str, Field(
    max_length=MAX_EMAIL, pattern=rf"^[{SPACE}]*{EMAIL}[{SPACE}]*$",
    description="an email address; its case does not matter")]
# A phone number: digits, spaces, ()- and an optional leading +.
Phone = Annotated[str, Field(max_length=MAX_PHONE, pattern=f"^{PHONE}$")]
# ... or, in a profile change, "" for no phone.
PhoneOrEmpty = Annotated[str, Field(max_length=MAX_PHONE, pattern=f"^(?:{PHONE})?$")]
# Text as the domain takes it (api.values.text); mypy sees plain text.
if TYPE_CHECKING:
    Name: TypeAlias = str
else:
    Name = text(MAX_NAME)


class RegisterBody(Strict):
    email: Email
    name: Name
    password: str = Field(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH,
                          pattern=NO_NUL)
    phone: Phone | None = None

    model_config = {"json_schema_extra": {"examples": [
        {"email": "ada@example.com", "name": "Ada Lovelace",
         "password": "correct horse battery staple", "phone": "+44 20 7946 0018"}]}}


class LoginBody(Strict):
    """Any email and password may be tried: a wrong pair is a 401."""

    email: str = Field(max_length=MAX_EMAIL)
    password: str = Field(max_length=MAX_PASSWORD_LENGTH)

    model_config = {"json_schema_extra": {"examples": [
        {"email": "ada@example.com", "password": "correct horse battery staple"}]}}


class ProfileBody(Strict):
    """Only the fields sent change; send ``phone: null`` (or ``""``) to clear the phone
    (the name may not be null)."""

    name: Name = Field(Strict.ABSENT)
    phone: PhoneOrEmpty | None = None

    model_config = {"json_schema_extra": {"examples": [{"name": "Ada King"}]}}


class Token(BaseModel):
    access_token: str = Field(description="send it as 'Authorization: Bearer <token>'")
    token_type: Literal["bearer"]
    expires_in: int = Field(description="seconds the token stays valid")
    user_id: UUID


class Membership(BaseModel):
    id: UUID
    name: str
    slug: str
    role: Role


class Me(BaseModel):
    id: UUID
    email: str = Field(description="lower-cased")
    name: str
    phone: str | None
    created_at: datetime
    updated_at: datetime
    version: int
    organizations: list[Membership] = Field(description="by name")


@router.post("/auth/register", status_code=201, dependencies=CREATES,
             response_model=CommandAnswer)
def register(body: RegisterBody, command: AnonymousCommand) -> JSONResponse:
    result = users.register_user(command, email=body.email, name=body.name,
                                 password=body.password, phone=body.phone)
    return command_response(result, 201)


@router.post("/auth/login", response_model=Token,
             responses={401: {"description": "The email or the password is wrong"}})
def login(body: LoginBody, runtime: Annotated[Runtime, Depends(runtime_of)],
          tokens: Annotated[TokenService, Depends(tokens_of)]) -> JSONResponse:
    user_id = users.authenticate(runtime.app, body.email, body.password)
    if user_id is None:
        raise ApiProblem(401, "invalid-credentials", "Invalid credentials",
                         "the email or the password is wrong")
    token, ttl = tokens.issue(user_id)
    return JSONResponse({"access_token": token, "token_type": "bearer", "expires_in": ttl,
                         "user_id": user_id})


@router.get("/me", response_model=Me)
def me(reader: Reads) -> JSONResponse:
    """The caller's profile and organizations."""
    found = users_read_model.user(reader.conn, reader.caller)
    if found is None:
        raise ApiProblem(404, "not-found", "Not found",
                         "your user is not in the read model yet; retry with X-Min-Position")
    body = {**found, "organizations": memberships(reader.conn, reader.caller)}
    return reader.answer(body, ETag=f'"{found["version"]}"')


@router.patch("/me", response_model=CommandAnswer)
def update_me(body: ProfileBody, command: Command) -> JSONResponse:
    result = users.update_profile(command, require_actor(command.ctx), changes=body.changes())
    return command_response(result)
