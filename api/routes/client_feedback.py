"""Client feedback: a rating (1 to 5) and comment by the client (its portal user, or
staff on its behalf) on a project linked to it or on the relationship as a whole, and
the organization's response.

Who reads it: Organizers and Managers all of it; a portal user their client's;
Contributors the feedback on the projects they see."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias
from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.access import not_found, project_role
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
from api.problems import ApiProblem
from api.routes.clients import ClientReach, client_reach
from api.values import ExactJSONRoute, Uuid, optional_text, text, whole_number
from domain.client_feedback import MAX_COMMENT, MAX_RATING, MAX_RESPONSE, MIN_RATING
from domain.roles import Role
from projections import clients
from vistone.commands import client_feedback as commands

router = APIRouter(prefix="/v1/organizations/{organization_id}", tags=["client feedback"],
                   route_class=ExactJSONRoute)

Reads = Annotated[Reader, reading("organizations", "projects", "clients")]

if TYPE_CHECKING:
    Comment: TypeAlias = str
    Response: TypeAlias = str
    Rating: TypeAlias = int
else:
    Comment = optional_text(MAX_COMMENT)
    Response = text(MAX_RESPONSE)
    Rating = whole_number(MIN_RATING, MAX_RATING, "1 (poor) to 5")


class GiveFeedback(Strict):
    rating: Rating
    comment: Comment | None = None
    project_id: Uuid | None = Field(
        default=None, description="a project linked to the client; null: the relationship "
        "as a whole")

    model_config = {"json_schema_extra": {"examples": [
        {"rating": 5, "comment": "Great launch, on time.",
         "project_id": "5b0c2f1e-8d4a-4c7e-9f3b-1a2d3c4e5f60"}]}}


class EditFeedback(Strict):
    """The author only. Only the fields sent change; send ``comment: null`` to clear it
    (rating may not be null)."""

    rating: Rating = Field(Strict.ABSENT)
    comment: Comment | None = None

    model_config = {"json_schema_extra": {"examples": [{"rating": 4}]}}


class Respond(Strict):
    response: Response

    model_config = {"json_schema_extra": {"examples": [
        {"response": "Thank you! Phase 2 starts next week."}]}}


class FeedbackView(BaseModel):
    id: UUID
    organization_id: UUID
    client_id: UUID
    project_id: UUID | None
    author_id: UUID
    rating: int
    comment: str | None
    response: str | None = Field(description="the organization's response, if any")
    responder_id: UUID | None
    responded_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int


@router.post("/clients/{client_id}/feedback", status_code=201, dependencies=CREATES,
             response_model=CommandAnswer)
def give_feedback(organization_id: UUID, client_id: UUID, body: GiveFeedback,
                  command: Command) -> JSONResponse:
    """The client's portal user, or an Organizer or Manager on the client's behalf (who
    becomes its author)."""
    result = commands.give_feedback(command, organization_id, client_id, rating=body.rating,
                                    comment=body.comment, project_id=body.project_id)
    return command_response(result, 201)


@router.patch("/feedback/{feedback_id}", response_model=CommandAnswer)
def edit_feedback(organization_id: UUID, feedback_id: UUID, body: EditFeedback,
                  command: Command) -> JSONResponse:
    return command_response(commands.edit_feedback(command, organization_id, feedback_id,
                                                   changes=body.changes()))


@router.put("/feedback/{feedback_id}/response", response_model=CommandAnswer)
def respond_to_feedback(organization_id: UUID, feedback_id: UUID, body: Respond,
                        command: Command) -> JSONResponse:
    """Organizers and Managers: set or replace the organization's response."""
    return command_response(commands.respond_to_feedback(
        command, organization_id, feedback_id, response=body.response))


@router.get("/clients/{client_id}/feedback", response_model=Page[FeedbackView])
def client_feedback(
    organization_id: UUID, client_id: UUID, reader: Reads,
    limit: PageLimit = 50,
    cursor: PageCursor = None,
) -> JSONResponse:
    """A client's feedback, newest first."""
    reach = client_reach(reader.conn, organization_id, reader.caller)
    if not reach.sees_client(client_id) \
            or not clients.client_exists(reader.conn, organization_id, client_id):
        raise not_found("client", client_id)
    return reader.answer(clients.feedback_page(
        reader.conn, organization_id, caller=reader.caller, role=reach.role,
        client_id=client_id, cursor=cursor, limit=limit))


@router.get("/projects/{project_id}/feedback", response_model=Page[FeedbackView])
def project_feedback(
    organization_id: UUID, project_id: UUID, reader: Reads,
    limit: PageLimit = 50,
    cursor: PageCursor = None,
) -> JSONResponse:
    """The feedback on a project, newest first (a portal user: their client's)."""
    role = project_role(reader.conn, organization_id, project_id, reader.caller)
    client_id = None
    if role is Role.CLIENT:
        client_id = clients.portal_client(reader.conn, organization_id, reader.caller)
        if client_id is None:
            raise not_found("project", project_id)
    return reader.answer(clients.feedback_page(
        reader.conn, organization_id, caller=reader.caller, role=role,
        client_id=client_id, project_id=project_id, cursor=cursor, limit=limit))


@router.get("/feedback/{feedback_id}", response_model=FeedbackView)
def get_feedback(organization_id: UUID, feedback_id: UUID, reader: Reads) -> JSONResponse:
    reach = client_reach(reader.conn, organization_id, reader.caller)
    found = clients.feedback(reader.conn, organization_id, feedback_id)
    if found is None or not _may_see(reader, organization_id, reach, found):
        raise not_found("feedback", feedback_id)
    return reader.answer(found, ETag=f'"{found["version"]}"')


def _may_see(reader: Reader, organization_id: UUID, reach: ClientReach,
             found: dict[str, Any]) -> bool:
    if reach.staff:
        return True
    if reach.role is Role.CLIENT:
        return reach.is_portal_of(found["client_id"])
    # Anyone else: the feedback on a project they see.
    if found["project_id"] is None:
        return False
    try:
        project_role(reader.conn, organization_id, found["project_id"], reader.caller)
    except ApiProblem:
        return False
    return True
