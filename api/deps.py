"""What every route needs: the runtime, the caller, the command context, optimistic
concurrency headers, idempotency keys, read-your-writes and cursors."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Annotated, Any, ClassVar
from urllib.parse import parse_qsl
from uuid import UUID

import orjson
from fastapi import Depends, Query, Request
from psycopg import Connection
from pydantic import BaseModel, ConfigDict, model_validator
from starlette.responses import JSONResponse as StarletteJSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import ApiProblem, problem
from domain.base import CommandContext
from projections.paging import MAX_CURSOR_LENGTH
from projections.runner import wait_for_position
from vistone.app import Command as VistoneCommand
from vistone.app import CommandResult
from vistone.recorder import IdempotencyKey
from vistone.runtime import Runtime
from vistone.security import InvalidToken, TokenService

POSITION_HEADER = "X-Min-Position"
# A JSON \u0000 escape whose backslash is not itself escaped.
ESCAPED_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


class Strict(BaseModel):
    """A request body. Unknown fields are refused (a typo is a 422 naming it, not
    ignored), and values must already have the field's JSON type (pydantic's strict
    mode): no bool or string for an int, no number for a string. Values JSON carries as
    text use the strict types of ``api.values`` (``Uuid``, ``Day``, ``Amount``).

    PATCH bodies follow one rule: a field left out is unchanged, ``null`` clears a field
    whose type allows None, and ``null`` on any other field is a 422 naming it. Declare a
    field that may be left out but not cleared as ``name: str = Field(Strict.ABSENT)``
    (its type refuses null; the default is never validated) and read the body with
    ``changes()``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    # The default of a PATCH field whose type refuses null (see changes()).
    ABSENT: ClassVar[Any] = None

    @model_validator(mode="before")
    @classmethod
    def _a_json_object(cls, data: Any) -> Any:
        # FastAPI validates bodies with from_attributes: without this, a body that is a
        # number with a fraction (a Decimal object) would pass as an object with every
        # field left out.
        if not isinstance(data, dict | BaseModel):
            raise ValueError("the body must be a JSON object")
        return data

    def changes(self) -> dict[str, Any]:
        """The fields the client sent, by name; those left out are not in it."""
        return {name: getattr(self, name) for name in self.model_fields_set}


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def tokens_of(request: Request) -> TokenService:
    tokens: TokenService = request.app.state.tokens
    return tokens


# The dependencies that do no I/O are coroutines: FastAPI runs a plain function in its
# thread pool, a hop that costs more than the work itself.
async def current_user(request: Request) -> UUID:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ApiProblem(401, "unauthenticated", "Authentication required",
                         "send 'Authorization: Bearer <access token>'",
                         headers={"WWW-Authenticate": "Bearer"})
    try:
        return tokens_of(request).verify(token.strip())
    except InvalidToken as e:
        raise ApiProblem(401, "invalid-token", "Invalid or expired token", str(e),
                         headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}) from e


PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]+")

# The authenticated caller's user id, for route signatures.
Caller = Annotated[UUID, Depends(current_user)]


def context_of(request: Request, actor_id: UUID | None) -> CommandContext:
    """Who, from where, and in answer to what: stored on every event of the command."""
    request_id = request.state.request_id
    correlation = request.headers.get("x-correlation-id") or request_id
    if not PRINTABLE_ASCII.fullmatch(correlation):
        # HTTP headers arrive as Latin-1: anything else would be stored garbled, and
        # could then not be searched for (the activity filter takes what was sent).
        raise ApiProblem(400, "invalid-correlation-id", "Invalid X-Correlation-ID",
                         "X-Correlation-ID must be printable ASCII")
    return CommandContext(
        actor_id=actor_id,
        correlation_id=correlation[:200],
        causation_id=request_id,
        client_ip=request.client.host if request.client else None,
        user_agent=(request.headers.get("user-agent") or "")[:500] or None,
    )


def if_match_of(request: Request) -> int | None:
    """``If-Match: "7"`` makes a command conditional on version 7. If-Match compares
    strongly (RFC 9110 13.1.1): a weak tag (``W/"7"``) never matches, so it is a 412."""
    raw = request.headers.get("if-match")
    if raw is None:
        return None
    if raw.strip().startswith("W/"):
        raise ApiProblem(412, "precondition-failed", "Precondition failed",
                         "If-Match compares strongly: a weak entity tag never matches")
    value = raw.strip().strip('"')
    if not (value.isascii() and value.isdigit()):
        raise ApiProblem(400, "invalid-if-match", "Invalid If-Match",
                         'If-Match must be an ETag this API issued, such as "3"')
    return int(value)


def no_if_match(request: Request) -> None:
    """For commands that create a record: ``If-Match`` names a current version, and a
    record not created yet has none, so the condition is false (RFC 9110): 412."""
    if request.headers.get("if-match") is not None:
        raise ApiProblem(412, "precondition-failed", "Precondition failed",
                         "this request creates a new record: there is no current version "
                         "for If-Match to match")


# Dependencies of a route whose command creates a record.
CREATES = [Depends(no_if_match)]


def idempotency_of(request: Request, actor_id: UUID | None) -> IdempotencyKey | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not 1 <= len(key) <= 200:
        raise ApiProblem(400, "invalid-idempotency-key", "Invalid Idempotency-Key",
                         "Idempotency-Key must be 1 to 200 characters")
    # Anonymous commands (registration) scope the key to the nil UUID.
    return IdempotencyKey(actor_id or UUID(int=0), key, request.state.fingerprint)


async def command_of(request: Request, caller: Caller) -> VistoneCommand:
    """The command a route issues for the authenticated caller: the application, the
    context stored on its events, and its If-Match and Idempotency-Key conditions."""
    return VistoneCommand(runtime_of(request).app, context_of(request, caller),
                          if_match_of(request), idempotency_of(request, caller))


async def anonymous_command(request: Request) -> VistoneCommand:
    """A command issued without a token (registration)."""
    return VistoneCommand(runtime_of(request).app, context_of(request, None),
                          if_match_of(request), idempotency_of(request, None))


# A route's command, for its signature: `def rename(..., command: Command)`.
Command = Annotated[VistoneCommand, Depends(command_of)]


# The query parameters of every list: how many items, and where the page starts (the
# previous page's next_cursor: URL-safe base64, which the schema states).
PageLimit = Annotated[int, Query(ge=1, le=200, description="items per page")]
PageCursor = Annotated[str | None, Query(
    max_length=MAX_CURSOR_LENGTH, pattern=r"^[A-Za-z0-9_-]+={0,2}$",
    description="the next_cursor of the previous page")]


class Reader:
    """What a query needs: a connection to the read models, the caller, and the
    headers that say whether the read reflects the position the caller asked for.

    The connection is taken on first use, in the route's own thread, and given back as
    soon as the route returns: held across FastAPI's thread hops and the sending of the
    answer, eight concurrent readers kept twelve or more connections busy, and spreading
    the same queries over more PostgreSQL backends doubled their CPU per query."""

    def __init__(self, request: Request, caller: UUID, read_models: list[str]) -> None:
        self.caller = caller
        self.headers: dict[str, str] = {}
        self._request = request
        self._read_models = read_models
        self._conn: Connection[Any] | None = None

    @property
    def conn(self) -> Connection[Any]:
        if self._conn is None:
            self.headers = read_consistency(self._request, self._read_models)
            self._conn = runtime_of(self._request).pool.getconn()
        return self._conn

    def release(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            runtime_of(self._request).pool.putconn(conn)

    def answer(self, body: Any, **headers: str) -> JSONResponse:
        return JSONResponse(body, headers={**self.headers, **headers})


def reading(*read_models: str) -> Any:
    """A dependency giving a route its ``Reader``, whose connection reflects the
    caller's ``X-Min-Position`` (if any) in ``read_models``:
    ``reader: Annotated[Reader, reading("tasks")]``."""
    names = list(read_models)

    # A coroutine (no thread hop to make the Reader), released when the route returns
    # rather than after the answer is sent (scope="function").
    async def reader_of(request: Request, caller: Caller) -> AsyncIterator[Reader]:
        reader = Reader(request, caller, names)
        try:
            yield reader
        finally:
            reader.release()

    return Depends(reader_of, scope="function")


def command_response(result: CommandResult, status: int = 200) -> JSONResponse:
    body = {"id": str(result.id), "version": result.version, "position": result.position}
    headers = {"ETag": f'"{result.version}"'}
    if result.position is not None:
        headers["X-Log-Position"] = str(result.position)
    return JSONResponse(body, status_code=status, headers=headers)


def read_consistency(request: Request, read_models: list[str]) -> dict[str, str]:
    """Read-your-writes: if the caller names a log position (``X-Min-Position`` header
    or ``min_position`` parameter), wait, bounded, until the read models reflect it.
    The answer says whether they did (``X-Consistent``)."""
    raw = request.headers.get(POSITION_HEADER) or request.query_params.get("min_position")
    if raw is None:
        return {}
    if not (raw.isascii() and raw.isdigit()):
        raise ApiProblem(400, "invalid-position", "Invalid log position",
                         f"{POSITION_HEADER} must be a non-negative integer")
    runtime = runtime_of(request)
    consistency = wait_for_position(runtime.pool, read_models, int(raw),
                                    runtime.settings.read_wait_seconds)
    if consistency.stopped:
        # A stopped read model will not reach the position by waiting: say which one,
        # rather than answer stale data or a 404 for what the caller just created.
        detail = "; ".join(
            f"read model {s.name} is stopped at log position {s.position} "
            f"(event {s.failed_position} cannot be applied)" for s in consistency.stopped)
        raise ApiProblem(503, "read-model-stopped", "Read model stopped", detail,
                         headers={"Retry-After": "30"})
    return {"X-Consistent": "true" if consistency.caught_up else "false"}


class JSONResponse(StarletteJSONResponse):
    """JSON through orjson: read-model rows (UUIDs, datetimes, dates) serialize natively,
    several times faster than FastAPI's generic encoder; Decimals become strings so no
    digit of a budget or an hour count is lost."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=_encode_other)


def _encode_other(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


class RequestGuard:
    """Pure ASGI middleware: gives each request an id, refuses oversized bodies with
    413, and fingerprints the body for Idempotency-Key (method, path and body)."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["request_id"] = str(uuid.uuid4())
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_body_bytes:
                await self._too_large(scope, receive, send)
                return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await self._too_large(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if b"%00" in scope.get("query_string", b"") or b"\x00" in body \
                or ESCAPED_NUL.search(body):
            # PostgreSQL text cannot hold NUL: refuse it at the door, whatever the field.
            field = _where_nul(scope.get("query_string", b""), body)
            response = problem(422, "nul-character", "NUL character",
                               f"{field or 'text'} must not contain NUL (\\u0000) characters",
                               field=field)
            await response(scope, receive, send)
            return
        digest = hashlib.sha256()
        digest.update(scope["method"].encode() + b" " + scope["path"].encode() + b"\n" + body)
        state["fingerprint"] = digest.hexdigest()
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", state["request_id"].encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, replay, send_with_id)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(413, "payload-too-large", "Payload too large",
                           f"the request body exceeds {self.max_body_bytes} bytes")
        await response(scope, receive, send)


def _where_nul(query_string: bytes, body: bytes) -> str | None:
    """The name of the query parameter or the dotted path of the JSON body field that
    holds a NUL character, when it can be told."""
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            return name.replace("\x00", "")
    try:
        document = json.loads(body)
    except ValueError:
        return None
    todo: list[tuple[str, Any]] = [("", document)]
    while todo:  # iterative: a body may be nested deeper than Python recurses
        path, value = todo.pop()
        if isinstance(value, str) and "\x00" in value:
            return path or None
        if isinstance(value, dict):
            for key, item in value.items():
                if "\x00" in key:
                    return path or None
                todo.append((f"{path}.{key}" if path else key, item))
        elif isinstance(value, list):
            todo.extend((f"{path}[{i}]", item) for i, item in enumerate(value))
    return None
