"""Static checks of the OpenAPI document: what a client generator relies on, checked in
milliseconds before schemathesis spends minutes on it (docs/api.md, "The contract")."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from enum import StrEnum
from typing import Any

import jsonschema_rs
import pytest

from api.contract import BEARER, PROBLEM_MEDIA_TYPE
from domain.assistant import AnswerMode, ContentType, SearchMode, TurnRole
from domain.base import InvalidValue
from domain.channel import ChannelKind, ChannelRole
from domain.project import ProjectRole, ProjectStatus
from domain.proposal import ProposalStatus
from domain.roles import Role
from domain.task import TaskPriority, TaskStatus
from domain.values import FLOAT_LIMIT, INT64_MAX, INT64_MIN, JSON_NUMBER_LIMIT, strict_json

METHODS = ("get", "put", "post", "patch", "delete", "head", "options")
# The only operations anyone may call without a token.
PUBLIC = {("post", "/v1/auth/register"), ("post", "/v1/auth/login"), ("get", "/health"),
          ("get", "/health/ready"), ("get", "/metrics")}
# Text fields by these names hold one of the domain's enums; the schema must say which.
ENUM_FIELDS = {"role", "my_role", "status", "priority", "kind", "mode", "content_type"}
DOMAIN_ENUMS: list[type[StrEnum]] = [Role, ProjectRole, ChannelRole, ProjectStatus, TaskStatus,
                                     TaskPriority, ChannelKind, ProposalStatus, TurnRole,
                                     AnswerMode, ContentType, SearchMode]


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield method, path, item[method]


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = document
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def without_null(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """The schema of the value when it is not null (``X | None`` is an anyOf with null)."""
    schema = resolve(document, schema)
    options = [s for s in schema.get("anyOf", []) if s.get("type") != "null"]
    return resolve(document, options[0]) if len(options) == 1 else schema


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def test_every_reference_resolves(openapi: dict[str, Any]) -> None:
    unresolved = []
    for ref in set(refs(openapi)):
        try:
            resolve(openapi, {"$ref": ref})
        except KeyError:
            unresolved.append(ref)
    assert not unresolved, "\n".join(unresolved)


def test_every_operation_answers_a_typed_success(openapi: dict[str, Any]) -> None:
    untyped = []
    for method, path, operation in operations(openapi):
        successes = [r for status, r in operation["responses"].items() if status[0] == "2"]
        schemas = [media.get("schema") or {} for r in successes
                   for media in r.get("content", {}).values()]
        if not schemas or not all(schemas):
            untyped.append(f"{method.upper()} {path}")
    assert not untyped, "no 2xx response schema:\n" + "\n".join(untyped)


def test_every_error_is_a_problem(openapi: dict[str, Any]) -> None:
    problem = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    wrong = [f"{method.upper()} {path} {status}"
             for method, path, operation in operations(openapi)
             for status, response in operation["responses"].items()
             if status[0] in "45" and response.get("content") != problem]
    assert not wrong, "errors not documented as a Problem:\n" + "\n".join(wrong)
    assert "Problem" in openapi["components"]["schemas"]


def test_fastapi_validation_errors_are_gone(openapi: dict[str, Any]) -> None:
    text = json.dumps(openapi)
    assert "HTTPValidationError" not in text
    assert "ValidationError" not in openapi["components"]["schemas"]


@pytest.mark.parametrize("status", ["401", "404", "422"])
def test_errors_every_operation_can_answer_are_documented(openapi: dict[str, Any],
                                                          status: str) -> None:
    """401 for every authenticated operation, 404 for every path naming something, 422
    for every body or parameter."""
    missing = []
    for method, path, operation in operations(openapi):
        needed = {"401": (method, path) not in PUBLIC,
                  "404": "{" in path,
                  "422": "requestBody" in operation or bool(operation.get("parameters"))}
        if needed[status] and status not in operation["responses"]:
            missing.append(f"{method.upper()} {path}")
    assert not missing, "\n".join(missing)


def test_the_bearer_scheme_is_declared_and_required(openapi: dict[str, Any]) -> None:
    scheme = openapi["components"]["securitySchemes"][BEARER]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    wrong = []
    for method, path, operation in operations(openapi):
        expected = None if (method, path) in PUBLIC else [{BEARER: []}]
        if operation.get("security") != expected:
            wrong.append(f"{method.upper()} {path}: {operation.get('security')}")
    assert not wrong, "\n".join(wrong)


def test_every_request_body_has_a_valid_example(openapi: dict[str, Any]) -> None:
    """One realistic example per body; schemathesis sends it first, so it must be valid."""
    problems = []
    for method, path, operation in operations(openapi):
        if "requestBody" not in operation:
            continue
        for media_type, media in operation["requestBody"]["content"].items():
            schema = media["schema"]
            examples = (resolve(openapi, schema).get("examples")
                        or [e["value"] for e in media.get("examples", {}).values()]
                        or ([media["example"]] if "example" in media else []))
            name = f"{method.upper()} {path} ({media_type})"
            if not examples:
                problems.append(f"{name}: no example")
                continue
            validator = jsonschema_rs.validator_for(
                {**schema, "components": openapi["components"]})
            problems += [f"{name}: example {example} is invalid: {error.message}"
                         for example in examples for error in validator.iter_errors(example)]
    assert not problems, "\n".join(problems)


def enum_holders(openapi: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, schema) of every property and parameter named like an enum field."""
    for name, component in openapi["components"]["schemas"].items():
        for field, schema in component.get("properties", {}).items():
            if field in ENUM_FIELDS:
                yield f"{name}.{field}", schema
    for method, path, operation in operations(openapi):
        for parameter in operation.get("parameters", []):
            if parameter["name"] in ENUM_FIELDS:
                yield f"{method.upper()} {path} ?{parameter['name']}", parameter["schema"]


def test_enum_fields_are_enums(openapi: dict[str, Any]) -> None:
    domain_values = [{member.value for member in enum} for enum in DOMAIN_ENUMS]
    plain = []
    for where, schema in enum_holders(openapi):
        value = without_null(openapi, schema)
        if value.get("type") not in ("string", None):
            continue  # a Problem's status is its HTTP status code
        allowed = set(value.get("enum", [])) | ({value["const"]} if "const" in value else set())
        if not allowed:
            plain.append(where)
        elif "const" not in value and allowed not in domain_values:
            plain.append(f"{where}: {sorted(allowed)} is none of the domain's enums")
    assert not plain, "enum fields documented as plain strings:\n" + "\n".join(plain)


@pytest.mark.parametrize(("method", "path", "field", "enum"), [
    ("post", "/v1/organizations/{organization_id}/tasks/{task_id}/status", "status", TaskStatus),
    ("post", "/v1/organizations/{organization_id}/members", "role", Role),
    ("patch", "/v1/organizations/{organization_id}/members/{user_id}", "role", Role),
    ("post", "/v1/organizations/{organization_id}/projects/{project_id}/members", "role",
     ProjectRole),
    ("post", "/v1/organizations/{organization_id}/projects/{project_id}/status", "status",
     ProjectStatus),
    ("post", "/v1/organizations/{organization_id}/channels", "kind", ChannelKind),
])
def test_bodies_take_the_domain_enums(openapi: dict[str, Any], method: str, path: str,
                                      field: str, enum: type[StrEnum]) -> None:
    body = openapi["paths"][path][method]["requestBody"]["content"]["application/json"]
    root = resolve(openapi, body["schema"])
    # A body may be a union of shapes (e.g. one per channel kind): the field across them.
    variants = [root, *(resolve(openapi, v) for v in root.get("oneOf", root.get("anyOf", [])))]
    values: set[str] = set()
    for variant in variants:
        if field not in variant.get("properties", {}):
            continue
        schema = without_null(openapi, variant["properties"][field])
        values |= set(schema.get("enum", [])) | ({schema["const"]} if "const" in schema else set())
    assert values == {member.value for member in enum}


@pytest.mark.parametrize("number", [
    FLOAT_LIMIT, -FLOAT_LIMIT, math.nextafter(FLOAT_LIMIT, 0.0), 2.0**63, -(2.0**63),
    math.nextafter(-(2.0**63), -math.inf), INT64_MAX, INT64_MIN, INT64_MIN + 1,
    JSON_NUMBER_LIMIT, -JSON_NUMBER_LIMIT, 1.5, -0.0, 5e-324])
def test_the_settings_schema_takes_exactly_the_numbers_the_domain_takes(
    openapi: dict[str, Any], number: float,
) -> None:
    """Near 2**63 doubles and integers meet: the long schemathesis run sent -2.0**63,
    which the schema took as the integer INT64_MIN (a validator compares as doubles), and
    the domain refused. (Not here: integers a double cannot hold exactly near the bound,
    which such a validator rounds.)"""
    body = resolve(openapi, openapi["paths"]["/v1/organizations/{organization_id}"]["patch"]
                   ["requestBody"]["content"]["application/json"]["schema"])
    settings = {**body["properties"]["settings"], "components": openapi["components"]}
    try:
        strict_json({"n": number}, "settings")
        domain_takes = True
    except InvalidValue:
        domain_takes = False
    assert jsonschema_rs.validator_for(settings).is_valid({"n": number}) is domain_takes
