"""Clients of an organization and the portal users linked to them.

Who reads what (``ClientReach``): Organizers, Managers and Contributors see every client;
a member with the Client role sees only the client whose portal they use (nothing while
they have none); only Organizers and Managers change clients.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias
from uuid import UUID

from fastapi import APIRouter
from psycopg import Connection
from pydantic import AfterValidator, BaseModel, Field, WithJsonSchema

from api.access import not_found, organization_role
from api.contract import CommandAnswer, Page
from api.deps import (
    CREATES,
    Command,
    JSONResponse,
    PageCursor,
    PageLimit,
    Reader,
    Strict,
    command_response,
    reading,
)
from api.values import ExactJSONRoute, Uuid, optional_text, text
from domain.client import COUNTRY_CODES, MAX_ADDRESS_FIELD, MAX_NAME, PHONE_MAX, PHONE_MIN
from domain.roles import Permission, Role, can
from projections import clients
from vistone.commands import clients as commands

router = APIRouter(prefix="/v1/organizations/{organization_id}", tags=["clients"],
                   route_class=ExactJSONRoute)

Reads = Annotated[Reader, reading("organizations", "users", "projects", "clients")]


@dataclass(frozen=True)
class ClientReach:
    """The caller's organization role and, for a Client, the client whose portal they
    use now (None: no portal, they see no client)."""

    role: Role
    portal_client: UUID | None

    @property
    def staff(self) -> bool:
        return can(self.role, Permission.MANAGE_CLIENTS)

    def sees_client(self, client_id: UUID) -> bool:
        return self.role is not Role.CLIENT or self.portal_client == client_id

    def is_portal_of(self, client_id: UUID) -> bool:
        return self.role is Role.CLIENT and self.portal_client == client_id


def client_reach(conn: Connection[Any], organization_id: UUID, caller: UUID) -> ClientReach:
    """404 for a non-member (tenant rule), else what the caller reaches."""
    role = organization_role(conn, organization_id, caller)
    portal = (clients.portal_client(conn, organization_id, caller) if role is Role.CLIENT
              else None)
    return ClientReach(role, portal)


# --- contact values: the schema states the rule the API enforces -------------------------

def _matching(pattern: str, description: str, **schema: Any) -> Any:
    """Text matching ``pattern`` entirely; the OpenAPI schema carries the same pattern
    (ECMA regex with lookaheads, which pydantic's own ``pattern`` cannot run)."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"must be {description}")
        return value

    return Annotated[str, Field(description=description, json_schema_extra={
        "pattern": f"^{pattern}$", **schema}), AfterValidator(check)]


def _any_case(word: str) -> str:
    return "".join(f"[{c.upper()}{c}]" for c in word)


# Names email_validator refuses as the last label (special-use domains, RFC 6761).
SPECIAL_USE_TLDS = ("arpa", "invalid", "local", "localhost", "onion", "test")
ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
# An ASCII address every part of which the domain's validator (email_validator, strict,
# no DNS) accepts: dot-atom local part of at most 64 characters; labels of letters and
# digits joined by single hyphens, at most 63 characters; a top-level domain of letters
# that is not a special-use name. Internationalized addresses are not taken here.
EMAIL = (rf"(?=[^@]{{1,64}}@){ATEXT}+(?:\.{ATEXT}+)*"
         r"@(?:(?=[A-Za-z0-9-]{1,63}\.)[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*\.)+"
         rf"(?!(?:{'|'.join(_any_case(t) for t in SPECIAL_USE_TLDS)})$)[A-Za-z]{{2,63}}")
# The domain's phone rule, without surrounding spaces: an optional + then digits, spaces
# and -(). with at least 5 digits.
PHONE = r"(?=(?:[^0-9]*[0-9]){5})\+?[0-9().\-](?:[0-9 ().\-]*[0-9().\-])?"
COUNTRIES = sorted(COUNTRY_CODES)


def _country(value: str) -> str:
    if value not in COUNTRY_CODES:
        raise ValueError("must be an ISO 3166-1 alpha-2 code in capitals, such as FR")
    return value


if TYPE_CHECKING:
    Name: TypeAlias = str
    Email: TypeAlias = str
    Phone: TypeAlias = str
    Line: TypeAlias = str
    OptionalLine: TypeAlias = str
    Country: TypeAlias = str
else:
    Name = text(MAX_NAME)
    Email = Annotated[_matching(EMAIL, "an email address such as ana@example.com",
                               format="email"), Field(max_length=254)]
    Phone = Annotated[_matching(PHONE, "a phone number: an optional + then digits, spaces "
                                "and -(). with at least 5 digits"),
                      Field(min_length=PHONE_MIN, max_length=PHONE_MAX)]
    Line = text(MAX_ADDRESS_FIELD)
    OptionalLine = optional_text(MAX_ADDRESS_FIELD, "blank is the same as null")
    Country = Annotated[str, AfterValidator(_country), WithJsonSchema({
        "type": "string", "enum": COUNTRIES,
        "description": "ISO 3166-1 alpha-2 code"})]


class Address(Strict):
    line1: Line
    line2: OptionalLine | None = None
    city: OptionalLine | None = None
    postal_code: OptionalLine | None = None
    region: OptionalLine | None = None
    country: Country | None = None


class CreateClient(Strict):
    name: Name
    email: Email | None = None
    phone: Phone | None = None
    address: Address | None = None
    portal_access: bool = Field(default=False,
                                description="whether linked portal users may use the portal")

    model_config = {"json_schema_extra": {"examples": [
        {"name": "Northwind Coffee", "email": "hello@northwind.example.com",
         "phone": "+33 1 23 45 67 89",
         "address": {"line1": "12 rue des Lilas", "city": "Paris", "postal_code": "75011",
                     "country": "FR"},
         "portal_access": True}]}}


class UpdateClient(Strict):
    """Only the fields sent change; send null to remove the email, phone or address
    (name and portal_access may not be null)."""

    name: Name = Field(Strict.ABSENT)
    email: Email | None = None
    phone: Phone | None = None
    address: Address | None = None
    portal_access: bool = Field(Strict.ABSENT)

    model_config = {"json_schema_extra": {"examples": [
        {"phone": None, "portal_access": False}]}}


class LinkPortalUser(Strict):
    user_id: Uuid = Field(description="a member of the organization holding the Client role")

    model_config = {"json_schema_extra": {"examples": [
        {"user_id": "9d7e6f5a-4b3c-4d2e-8f1a-0b9c8d7e6f5a"}]}}


class AddressView(BaseModel):
    line1: str
    line2: str | None
    city: str | None
    postal_code: str | None
    region: str | None
    country: str | None


class ClientView(BaseModel):
    id: UUID
    organization_id: UUID
    name: str
    email: str | None = Field(description="normalized (domain in lower case)")
    phone: str | None
    address: AddressView | None
    portal_access: bool
    archived: bool
    created_at: datetime
    updated_at: datetime
    version: int


class PortalUserView(BaseModel):
    user_id: UUID
    name: str | None
    email: str | None
    linked_at: datetime


class ClientDetail(ClientView):
    project_ids: list[UUID] = Field(description="the projects linked to the client")
    portal_users: list[PortalUserView] = Field(description="in the order they were linked")


def _address(body: Address | None) -> dict[str, Any] | None:
    return None if body is None else body.model_dump()


@router.post("/clients", status_code=201, dependencies=CREATES, response_model=CommandAnswer)
def create_client(organization_id: UUID, body: CreateClient, command: Command) -> JSONResponse:
    """Organizers and Managers: a new client (its name is unique in the organization)."""
    result = commands.create_client(
        command, organization_id, name=body.name, email=body.email, phone=body.phone,
        address=_address(body.address), portal_access=body.portal_access)
    return command_response(result, 201)


@router.patch("/clients/{client_id}", response_model=CommandAnswer)
def update_client(organization_id: UUID, client_id: UUID, body: UpdateClient,
                  command: Command) -> JSONResponse:
    changes = body.changes()
    if "address" in changes:
        changes["address"] = _address(body.address)
    return command_response(commands.update_client(command, organization_id, client_id,
                                                   changes=changes))


@router.post("/clients/{client_id}/archive", response_model=CommandAnswer)
def archive_client(organization_id: UUID, client_id: UUID, command: Command) -> JSONResponse:
    """An archived client is read-only and its portal closed until it is restored."""
    return command_response(commands.archive_client(command, organization_id, client_id))


@router.post("/clients/{client_id}/restore", response_model=CommandAnswer)
def restore_client(organization_id: UUID, client_id: UUID, command: Command) -> JSONResponse:
    return command_response(commands.restore_client(command, organization_id, client_id))


@router.post("/clients/{client_id}/portal-users", status_code=201,
             response_model=CommandAnswer)
def link_portal_user(organization_id: UUID, client_id: UUID, body: LinkPortalUser,
                     command: Command) -> JSONResponse:
    """Link a member with the Client role to the client (its portal access must be on; a
    user is linked to at most one client of the organization). The answer is the
    client's new version."""
    result = commands.link_portal_user(command, organization_id, client_id,
                                       user_id=body.user_id)
    return command_response(result, 201)


@router.delete("/clients/{client_id}/portal-users/{user_id}", response_model=CommandAnswer)
def unlink_portal_user(organization_id: UUID, client_id: UUID, user_id: UUID,
                       command: Command) -> JSONResponse:
    return command_response(commands.unlink_portal_user(command, organization_id, client_id,
                                                        user_id))


@router.get("/clients", response_model=Page[ClientView])
def list_clients(
    organization_id: UUID, reader: Reads,
    archived: bool = False,
    limit: PageLimit = 50,
    cursor: PageCursor = None,
) -> JSONResponse:
    """The organization's clients by name (a portal user: only their own client)."""
    reach = client_reach(reader.conn, organization_id, reader.caller)
    if reach.role is Role.CLIENT and reach.portal_client is None:
        return reader.answer({"items": [], "next_cursor": None})
    return reader.answer(clients.clients_page(
        reader.conn, organization_id, archived=archived, only=reach.portal_client,
        cursor=cursor, limit=limit))


@router.get("/clients/{client_id}", response_model=ClientDetail)
def get_client(organization_id: UUID, client_id: UUID, reader: Reads) -> JSONResponse:
    reach = client_reach(reader.conn, organization_id, reader.caller)
    found = (clients.client_detail(reader.conn, organization_id, client_id)
             if reach.sees_client(client_id) else None)
    if found is None:
        raise not_found("client", client_id)
    return reader.answer(found, ETag=f'"{found["version"]}"')
