"""Organizations and their members."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias
from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel, Field, TypeAdapter, WithJsonSchema, model_validator
from pydantic.json_schema import GetJsonSchemaHandler, JsonSchemaValue
from pydantic_core import CoreSchema
from typing_extensions import TypeAliasType

from api.access import internal_role, not_found, organization_role
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
from api.routes.auth import Email
from api.values import NO_NUL, ExactJSONRoute, JsonObject, Uuid, text
from domain.organization import MAX_NAME, MAX_SETTINGS_BYTES, MAX_SLUG, MIN_SLUG, SLUG
from domain.roles import Role
from domain.values import (
    FLOAT_LIMIT,
    JSON_NUMBER_LIMIT,
    MAX_JSON_DEPTH,
    RESERVED_JSON_KEYS,
)
from projections import organizations as read_model
from vistone.commands import organizations as commands

router = APIRouter(prefix="/v1/organizations", tags=["organizations"],
                   route_class=ExactJSONRoute)

Reads = Annotated[Reader, reading("organizations")]
ReadsMembers = Annotated[Reader, reading("organizations", "users")]

# A role as a body field: exactly one of the enum's values (a JSON string).
RoleField = Annotated[Role, Field(strict=False)]

# Strict JSON as the domain takes it (domain/values.py), for the schema: text without NUL,
# numbers within +-JSON_NUMBER_LIMIT (a double, so that validators comparing numbers as
# doubles agree with the domain), no reserved key. (Depth and
# size are stated in the description: JSON Schema cannot bound them.)
_JsonKey = Annotated[str, WithJsonSchema({"type": "string", "not": {"anyOf": [
    {"enum": sorted(RESERVED_JSON_KEYS)}, {"pattern": "\\x00"}]}})]
if TYPE_CHECKING:  # mypy sees plain text, and resolves no recursive alias
    Name: TypeAlias = str
    JsonValue: TypeAlias = Any
else:
    Name = text(MAX_NAME)
    JsonValue = TypeAliasType("JsonValue", (
        None | bool | Annotated[int, Field(ge=-JSON_NUMBER_LIMIT, le=JSON_NUMBER_LIMIT)]
        | Annotated[float, Field(ge=-FLOAT_LIMIT, le=FLOAT_LIMIT)]  # (the same, as a double)
        | Annotated[str, Field(pattern=NO_NUL)] | list["JsonValue"]
        | dict[_JsonKey, "JsonValue"]))
_SETTINGS_SCHEMA = TypeAdapter(dict[_JsonKey, JsonValue]).core_schema
SETTINGS_RULE = (f"a JSON object of at most {MAX_SETTINGS_BYTES} bytes (compact UTF-8) "
                 f"nested at most {MAX_JSON_DEPTH} levels; a fraction must be one a double "
                 "holds exactly")


class _Settings:
    """Organization settings: read as ``JsonObject``, documented as strict JSON."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> CoreSchema:
        core: CoreSchema = handler(JsonObject)
        return core

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return {**handler(_SETTINGS_SCHEMA), "description": SETTINGS_RULE}


Settings = Annotated[dict[str, Any], _Settings]
Slug = Annotated[str, Field(min_length=MIN_SLUG, max_length=MAX_SLUG, pattern=f"^{SLUG}$")]


class CreateOrganization(Strict):
    name: Name
    slug: Slug

    model_config = {"json_schema_extra": {"examples": [
        {"name": "Northwind Studio", "slug": "northwind-studio"}]}}


class UpdateOrganization(Strict):
    """Only the fields sent change; none of them may be null (send ``settings: {}`` to
    empty the settings)."""

    name: Name = Field(Strict.ABSENT)
    slug: Slug = Field(Strict.ABSENT)
    settings: Settings = Field(Strict.ABSENT)

    model_config = {"json_schema_extra": {"examples": [
        {"name": "Northwind", "settings": {"week_starts_on": "monday", "hours_per_day": 7.5}}]}}


class AddMember(Strict):
    """Name the person by ``user_id`` or by ``email``, not both."""

    user_id: Uuid = Field(Strict.ABSENT)
    email: Email = Field(Strict.ABSENT)
    role: RoleField

    model_config = {"json_schema_extra": {
        "oneOf": [{"required": ["user_id"]}, {"required": ["email"]}],
        "examples": [{"email": "grace@example.com", "role": "Contributor"}]}}

    @model_validator(mode="after")
    def _one_person(self) -> AddMember:
        if len({"user_id", "email"} & self.model_fields_set) != 1:
            raise ValueError("send either user_id or email")
        return self


class ChangeRole(Strict):
    role: RoleField

    model_config = {"json_schema_extra": {"examples": [{"role": "Manager"}]}}


class MyOrganization(BaseModel):
    id: UUID
    name: str
    slug: str
    role: Role = Field(description="the caller's role")
    version: int


class OrganizationView(BaseModel):
    id: UUID
    name: str
    slug: str
    settings: dict[str, Any] | None = Field(
        description="null for the Client role: a client's portal shows the organization's "
        "name, not its settings")
    created_at: datetime
    updated_at: datetime
    version: int
    my_role: Role


class Member(BaseModel):
    user_id: UUID
    name: str | None = Field(description="null until the users read model has the user")
    email: str | None = Field(description="null until the users read model has the user")
    role: Role
    since: datetime


@router.post("", status_code=201, dependencies=CREATES, response_model=CommandAnswer)
def create_organization(body: CreateOrganization, command: Command) -> JSONResponse:
    """Create an organization; the caller is its first Organizer."""
    return command_response(
        commands.create_organization(command, name=body.name, slug=body.slug), 201)


@router.get("", response_model=Page[MyOrganization])
def list_my_organizations(
    reader: Reads,
    limit: PageLimit = 50,
    cursor: PageCursor = None,
) -> JSONResponse:
    """The organizations the caller belongs to, by name."""
    return reader.answer(read_model.my_organizations(reader.conn, reader.caller,
                                                     cursor=cursor, limit=limit))


@router.get("/{organization_id}", response_model=OrganizationView)
def get_organization(organization_id: UUID, reader: Reads) -> JSONResponse:
    """The organization and the caller's role in it (any member; without its settings
    for a client's portal)."""
    role = organization_role(reader.conn, organization_id, reader.caller)
    found = read_model.organization(reader.conn, organization_id)
    if found is None:
        raise not_found("organization", organization_id)
    if role is Role.CLIENT:
        found["settings"] = None
    return reader.answer({**found, "my_role": role}, ETag=f'"{found["version"]}"')


@router.patch("/{organization_id}", response_model=CommandAnswer)
def update_organization(organization_id: UUID, body: UpdateOrganization,
                        command: Command) -> JSONResponse:
    """Rename, change the slug or replace the settings (Organizers)."""
    changes = body.changes()  # never None: the body's types refuse null
    return command_response(commands.update_organization(
        command, organization_id, name=changes.get("name"), slug=changes.get("slug"),
        settings=changes.get("settings")))


@router.delete("/{organization_id}", response_model=CommandAnswer)
def delete_organization(organization_id: UUID, command: Command) -> JSONResponse:
    """Delete the organization (Organizers); its slug becomes free."""
    return command_response(commands.delete_organization(command, organization_id))


@router.get("/{organization_id}/members", response_model=Page[Member])
def list_members(
    organization_id: UUID, reader: ReadsMembers,
    role: Role | None = None,
    limit: PageLimit = 50,
    cursor: PageCursor = None,
) -> JSONResponse:
    """The members (with ``role``, if given), by name (not for a client's portal)."""
    internal_role(reader.conn, organization_id, reader.caller)
    return reader.answer(read_model.members(reader.conn, organization_id, role=role,
                                            cursor=cursor, limit=limit))


@router.post("/{organization_id}/members", status_code=201, response_model=CommandAnswer)
def add_member(organization_id: UUID, body: AddMember, command: Command) -> JSONResponse:
    """Add a registered person (Organizers and Managers; only an Organizer makes
    someone an Organizer). The answer is the organization's new version."""
    return command_response(commands.add_member(
        command, organization_id, role=body.role, user_id=body.user_id, email=body.email), 201)


@router.patch("/{organization_id}/members/{user_id}", response_model=CommandAnswer)
def change_member_role(organization_id: UUID, user_id: UUID, body: ChangeRole,
                       command: Command) -> JSONResponse:
    """Change a member's role (only an Organizer changes an Organizer's role or makes
    someone an Organizer; the last Organizer stays one)."""
    return command_response(commands.change_member_role(command, organization_id, user_id,
                                                        role=body.role))


@router.delete("/{organization_id}/members/{user_id}", response_model=CommandAnswer)
def remove_member(organization_id: UUID, user_id: UUID, command: Command) -> JSONResponse:
    """Remove a member (only an Organizer removes an Organizer; never the last one)."""
    return command_response(commands.remove_member(command, organization_id, user_id))
