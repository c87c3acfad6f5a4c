"""Errors as application/problem+json (RFC 9457) with a stable ``type`` per cause."""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from domain.base import DomainError, Forbidden, InvalidValue, NotFound, RuleViolation
from vistone.app import ContentionTimeout, IdempotencyKeyReused, PreconditionFailed

log = logging.getLogger(__name__)

TYPE_BASE = "https://vistone.dev/problems/"


def problem(status: int, slug: str, title: str, detail: str | None = None,
            **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": TYPE_BASE + slug, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


class ApiProblem(Exception):
    """An HTTP-level refusal raised by the API layer itself (auth, headers, limits)."""

    def __init__(self, status: int, slug: str, title: str, detail: str | None = None,
                 headers: dict[str, str] | None = None, field: str | None = None) -> None:
        super().__init__(detail or title)
        self.status, self.slug, self.title, self.detail = status, slug, title, detail
        self.headers = headers or {}
        self.field = field  # the request field at fault, when there is one


def _status_of(error: DomainError) -> int:
    if isinstance(error, ContentionTimeout):
        return 503  # no rule failed: the same request may succeed later (Retry-After)
    if isinstance(error, PreconditionFailed):
        return 412
    if isinstance(error, IdempotencyKeyReused):
        return 422
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, Forbidden):
        return 403
    if isinstance(error, InvalidValue):
        return 422
    if isinstance(error, RuleViolation):
        return 409
    return 400


HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "HTTP error"


def _allowed_methods(request: Request) -> list[str]:
    """Every method served at the request's path, asked of the app's routes themselves
    (a route whose path matches but whose methods do not is only a partial match): all
    the routes of that path count, in included routers too, and HEAD or OPTIONS only
    where a route really serves them."""
    allowed = []
    for method in HTTP_METHODS:
        probe = {"type": "http", "method": method, "path": request.scope["path"],
                 "root_path": request.scope.get("root_path", ""),
                 "headers": request.scope.get("headers", []), "query_string": b""}
        if any(route.matches(probe)[0] is Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return allowed


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(_: Request, error: DomainError) -> JSONResponse:
        status = _status_of(error)
        response = problem(status, error.code, type(error).__name__, error.message,
                           field=error.field)
        if isinstance(error, ContentionTimeout):
            response.headers["Retry-After"] = str(error.retry_after_seconds)
        return response

    @app.exception_handler(ApiProblem)
    async def api_problem(_: Request, error: ApiProblem) -> JSONResponse:
        response = problem(error.status, error.slug, error.title, error.detail,
                           field=error.field)
        response.headers.update(error.headers)
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, error: RequestValidationError) -> JSONResponse:
        errors = []
        for item in error.errors():
            location = [str(part) for part in item.get("loc", ())]
            errors.append({"field": ".".join(location[1:]) or ".".join(location),
                           "in": location[0] if location else None,
                           "message": item.get("msg")})
        if any(e["message"] and "JSON decode" in e["message"] for e in errors):
            return problem(400, "malformed-json", "Malformed JSON",
                           "the request body is not valid JSON", errors=errors)
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return problem(422, "validation-error", "Invalid request", detail, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        status = error.status_code
        slug = {404: "not-found", 405: "method-not-allowed"}.get(status, "http-error")
        title = _phrase(status)
        detail = str(error.detail) if error.detail and str(error.detail) != title else None
        headers = dict(error.headers or {})
        if status == 404 and detail is None:
            detail = f"no route matches {request.url.path} (the API's paths are in /docs)"
        elif status == 405:
            # Starlette names only the first route whose path matches; list them all.
            allowed = _allowed_methods(request)
            headers["Allow"] = ", ".join(allowed)
            detail = (f"{request.method} is not allowed on {request.url.path}; "
                      f"allowed: {', '.join(allowed) or 'none'}")
        response = problem(status, slug, title, detail or title)
        response.headers.update(headers)
        return response

    @app.exception_handler(PoolTimeout)
    async def busy(_: Request, error: PoolTimeout) -> JSONResponse:
        # Every database connection stayed busy for the pool's whole timeout: the server
        # is overloaded, the request did nothing; a retry later can succeed.
        response = problem(503, "overloaded", "Service overloaded",
                           "no database connection became free in time; retry later")
        response.headers["Retry-After"] = "5"
        return response

    @app.exception_handler(json.JSONDecodeError)
    async def json_error(_: Request, error: json.JSONDecodeError) -> JSONResponse:
        return problem(400, "malformed-json", "Malformed JSON", str(error))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return problem(500, "internal-error", "Internal server error")
