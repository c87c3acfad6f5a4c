"""Registration, login (JWT access token) and the current user."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import Field

from api.deps import (
    CREATES,
    Caller,
    JSONResponse,
    Strict,
    anonymous_command,
    command_of,
    command_response,
    read_consistency,
    runtime_of,
    tokens_of,
)
from api.problems import ApiProblem
from api.values import ExactJSONRoute
from vistone.commands import users

router = APIRouter(prefix="/v1", tags=["auth"], route_class=ExactJSONRoute)




class RegisterBody(Strict):
    email: str = Field(max_length=254)
    name: str = Field(max_length=200)
    password: str = Field(max_length=1024)
    phone: str | None = Field(default=None, max_length=20)


class LoginBody(Strict):
    email: str = Field(max_length=254)
    password: str = Field(max_length=1024)


class ProfileBody(Strict):
    """Only the fields sent change; send ``phone: null`` to clear it."""

    name: str = Field(Strict.ABSENT, max_length=200)
    phone: str | None = Field(default=None, max_length=20)


@router.post("/auth/register", status_code=201, dependencies=CREATES)
def register(body: RegisterBody, request: Request) -> JSONResponse:
    result = users.register_user(anonymous_command(request), email=body.email, name=body.name,
        password=body.password, phone=body.phone,
    )
    return command_response(result, 201)


@router.post("/auth/login")
def login(body: LoginBody, request: Request) -> JSONResponse:
    user_id = users.authenticate(runtime_of(request).app, body.email, body.password)
    if user_id is None:
        raise ApiProblem(401, "invalid-credentials", "Invalid credentials",
                         "the email or the password is wrong")
    token, ttl = tokens_of(request).issue(user_id)
    return JSONResponse({"access_token": token, "token_type": "bearer", "expires_in": ttl,
                         "user_id": str(user_id)})


@router.get("/me")
def me(request: Request, caller: Caller) -> JSONResponse:
    headers = read_consistency(request, ["users", "organizations"])
    with runtime_of(request).pool.connection() as conn:
        row = conn.execute(
            "SELECT id, email, name, phone, created_at, updated_at, version "
            "FROM auth.users WHERE id = %s", (caller,),
        ).fetchone()
        organizations = conn.execute(
            "SELECT o.id, o.name, o.slug, m.role FROM auth.organization_members m "
            "JOIN auth.organizations o ON o.id = m.organization_id "
            "WHERE m.user_id = %s AND o.deleted_at IS NULL ORDER BY o.name, o.id", (caller,),
        ).fetchall()
    if row is None:
        raise ApiProblem(404, "not-found", "Not found",
                         "your user is not in the read model yet; retry with X-Min-Position")
    keys = ("id", "email", "name", "phone", "created_at", "updated_at", "version")
    body = dict(zip(keys, row, strict=True))
    body["organizations"] = [
        {"id": o[0], "name": o[1], "slug": o[2], "role": o[3]} for o in organizations
    ]
    return JSONResponse(body, headers={**headers, "ETag": f'"{row[6]}"'})


@router.patch("/me")
def update_me(body: ProfileBody, request: Request, caller: Caller) -> JSONResponse:
    result = users.update_profile(command_of(request, caller), caller,
        changes=body.changes(),
    )
    return command_response(result)
