"""The typed contract: the shapes every operation answers, and the OpenAPI document.

- Success bodies are pydantic models declared as each route's ``response_model``. Routes
  still return pre-rendered JSON (``api.deps.JSONResponse``: orjson, Decimals as strings),
  so the models document and test the shape without re-validating every page at run time;
  the tests validate every answer against them (tests/contract).
- Errors are RFC 9457 problems (``Problem``) under ``application/problem+json``. Which
  errors an operation can answer follows from what it takes, so they are derived here
  once rather than listed by hand on 60 routes: a body can be malformed (400), too large
  (413) or invalid (422); a caller can be unauthenticated (401) or not allowed (403); a
  path names something that may not exist (404); a command can conflict with a rule
  (409), with If-Match (412) or with contention (503); a query can wait on a stopped read
  model (503). A route adds its own with ``responses={status: {"description": ...}}``.
- The bearer scheme is declared, and required by every operation that needs a token.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar
from uuid import UUID

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")

PROBLEM_MEDIA_TYPE = "application/problem+json"
BEARER = "bearerAuth"


class FieldError(BaseModel):
    field: str = Field(description="dotted path of the field at fault")
    in_: str | None = Field(default=None, alias="in",
                            description="where the field is: body, query, path or header")
    message: str | None = None


class Problem(BaseModel):
    """An error (RFC 9457). ``type`` is stable per cause, e.g.
    ``https://vistone.dev/problems/not-found``; ``field`` names the request field at fault
    when there is one."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str | None = None
    field: str | None = None
    errors: list[FieldError] | None = None


class CommandAnswer(BaseModel):
    """What every command answers: the aggregate, its version (also the ETag) and a log
    position to send as ``X-Min-Position`` to read your write: that of the command's last
    event or, when the command changed nothing, the log's head then (a read that waits
    for it sees the state the command found)."""

    id: UUID
    version: int
    position: int | None = Field(description="null only when the log is empty")


class Page(BaseModel, Generic[T]):
    """One page of a list, in a stable order. Pass ``next_cursor`` as ``cursor`` to get
    the next page; null on the last page."""

    items: list[T]
    next_cursor: str | None


ERROR_DESCRIPTIONS = {
    400: "Malformed request: JSON, header (If-Match, Idempotency-Key, X-Min-Position, "
         "X-Correlation-ID) or cursor",
    401: "Missing, invalid or expired access token",
    403: "The caller's role does not allow this",
    404: "Not found, or not visible to the caller (another tenant's data answers the same)",
    409: "A domain rule refused the command (the problem's type names the rule)",
    412: "If-Match names a version that is no longer current, or a creating request "
         "sent If-Match",
    413: "The request body is too large",
    422: "A field is invalid (the problem names it)",
    503: "Busy (contention) or a read model this query waits for is stopped; retry after "
         "Retry-After",
}


def _uses(route: APIRoute, dependency: Callable[..., Any]) -> bool:
    todo = [route.dependant]
    while todo:
        dependant = todo.pop()
        if dependant.call is dependency:
            return True
        todo.extend(dependant.dependencies)
    return False


def errors_of(route: APIRoute, authenticated: bool) -> set[int]:
    """The error statuses an operation can answer, from what it takes."""
    statuses = {400, 503}  # malformed headers or cursor; contention or a stopped model
    if authenticated:
        statuses |= {401, 403, 404}
    if route.dependant.path_params:
        statuses.add(404)
    if route.dependant.body_params:
        statuses |= {413, 422}
    if route.dependant.query_params or route.dependant.path_params:
        statuses.add(422)
    if (route.methods or set()) - {"GET", "HEAD"}:
        statuses |= {409, 412}
    return statuses | {int(s) for s in route.responses if str(s)[0] in "45"}


def install_contract(app: FastAPI, authentication: Callable[..., Any]) -> None:
    """Build the OpenAPI document once, with problems and the bearer scheme (see the
    module docstring); ``authentication`` is the dependency that requires a token."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        document = get_openapi(title=app.title, version=app.version,
                               description=app.description, routes=app.routes)
        components = document.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        schemas.update(_component_schemas(Problem))
        components["securitySchemes"] = {BEARER: {
            "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
            "description": "the access_token of POST /v1/auth/login"}}
        # FastAPI keeps included routers whole in app.routes; their routes are reached
        # through the route contexts.
        for context in iter_route_contexts(app.routes):
            route = context.original_route
            if not isinstance(route, APIRoute) or not route.include_in_schema:
                continue
            authenticated = _uses(route, authentication)
            for method in route.methods or ():
                operation = document["paths"][context.path_format].get(method.lower())
                if operation is not None:
                    _document_errors(operation, errors_of(route, authenticated))
                    if authenticated:
                        operation["security"] = [{BEARER: []}]
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _component_schemas(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    definitions = schema.pop("$defs", {})
    return {**definitions, model.__name__: schema}


def _document_errors(operation: dict[str, Any], statuses: set[int]) -> None:
    responses = operation.setdefault("responses", {})
    for status in sorted(statuses):
        documented = responses.get(str(status), {})
        responses[str(status)] = {
            # FastAPI's own 422 ("Validation Error") is replaced by what the API answers.
            "description": (documented.get("description")
                            if documented.get("description") not in (None, "Validation Error")
                            else ERROR_DESCRIPTIONS.get(status, "Error")),
            "content": {PROBLEM_MEDIA_TYPE: {
                "schema": {"$ref": "#/components/schemas/Problem"}}},
            **({"headers": documented["headers"]} if "headers" in documented else {}),
        }
