"""Errors as application/problem+json (RFC 9457) with a stable ``type`` per cause."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

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
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail or title)
        self.status, self.slug, self.title, self.detail = status, slug, title, detail
        self.headers = headers or {}


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
        response = problem(error.status, error.slug, error.title, error.detail)
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
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        slug = {404: "not-found", 405: "method-not-allowed"}.get(error.status_code, "http-error")
        response = problem(error.status_code, slug, str(error.detail), None)
        if error.headers:
            response.headers.update(error.headers)
        return response

    @app.exception_handler(json.JSONDecodeError)
    async def json_error(_: Request, error: json.JSONDecodeError) -> JSONResponse:
        return problem(400, "malformed-json", "Malformed JSON", str(error))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return problem(500, "internal-error", "Internal server error")
