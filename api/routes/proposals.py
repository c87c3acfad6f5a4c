"""Proposals to clients: drafted, edited and sent by Organizers and Managers, decided by
the client (its portal user, or staff on its behalf). A portal user sees the proposals of
their client once sent; Contributors see none."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, TypeAlias
from uuid import UUID

from fastapi import APIRouter, Body
from pydantic import BaseModel, Field

from api.access import not_found
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
from api.routes.clients import client_reach
from api.values import ExactJSONRoute, Money, Uuid, optional_text, text
from domain.proposal import MAX_CONTENT, MAX_REASON, MAX_TITLE, ProposalStatus
from projections import clients
from vistone.commands import proposals as commands

router = APIRouter(prefix="/v1/organizations/{organization_id}", tags=["proposals"],
                   route_class=ExactJSONRoute)

Reads = Annotated[Reader, reading("organizations", "clients")]

if TYPE_CHECKING:
    Title: TypeAlias = str
    Content: TypeAlias = str
    Reason: TypeAlias = str
else:
    Title = text(MAX_TITLE)
    Content = optional_text(MAX_CONTENT)
    Reason = optional_text(MAX_REASON)


class CreateProposal(Strict):
    title: Title
    content: Content | None = None
    amount: Money | None = None
    project_id: Uuid | None = Field(default=None,
                                    description="a project linked to the client")

    model_config = {"json_schema_extra": {"examples": [
        {"title": "Website relaunch, phase 2", "content": "Scope: shop and blog.",
         "amount": "18500.00", "project_id": "5b0c2f1e-8d4a-4c7e-9f3b-1a2d3c4e5f60"}]}}


class UpdateProposal(Strict):
    """Only a DRAFT changes. Only the fields sent change; send null to clear content or
    amount (title may not be null)."""

    title: Title = Field(Strict.ABSENT)
    content: Content | None = None
    amount: Money | None = None

    model_config = {"json_schema_extra": {"examples": [{"amount": "19900"}]}}


class RejectProposal(Strict):
    reason: Reason | None = None

    model_config = {"json_schema_extra": {"examples": [{"reason": "Over our budget"}]}}


class ProposalView(BaseModel):
    id: UUID
    organization_id: UUID
    client_id: UUID
    project_id: UUID | None
    title: str
    content: str | None
    amount: Decimal | None = Field(description='exact, as a string such as "18500.00"')
    status: ProposalStatus
    rejection_reason: str | None
    sent_at: datetime | None = Field(description="when the client was sent it (it sees it "
                                     "from then on)")
    closed_at: datetime | None = Field(description="when it was accepted, rejected or "
                                       "withdrawn")
    created_at: datetime
    updated_at: datetime
    version: int


@router.post("/clients/{client_id}/proposals", status_code=201, dependencies=CREATES,
             response_model=CommandAnswer)
def create_proposal(organization_id: UUID, client_id: UUID, body: CreateProposal,
                    command: Command) -> JSONResponse:
    """Organizers and Managers: a DRAFT proposal to the client."""
    result = commands.create_proposal(
        command, organization_id, client_id, title=body.title, content=body.content,
        amount=body.amount, project_id=body.project_id)
    return command_response(result, 201)


@router.patch("/proposals/{proposal_id}", response_model=CommandAnswer)
def update_proposal(organization_id: UUID, proposal_id: UUID, body: UpdateProposal,
                    command: Command) -> JSONResponse:
    return command_response(commands.update_proposal(command, organization_id, proposal_id,
                                                     changes=body.changes()))


@router.post("/proposals/{proposal_id}/send", response_model=CommandAnswer)
def send_proposal(organization_id: UUID, proposal_id: UUID, command: Command) -> JSONResponse:
    """DRAFT → SENT: the client sees it from now on."""
    return command_response(commands.send_proposal(command, organization_id, proposal_id))


@router.post("/proposals/{proposal_id}/withdraw", response_model=CommandAnswer)
def withdraw_proposal(organization_id: UUID, proposal_id: UUID,
                      command: Command) -> JSONResponse:
    """DRAFT or SENT → WITHDRAWN (Organizers and Managers)."""
    return command_response(commands.withdraw_proposal(command, organization_id, proposal_id))


@router.post("/proposals/{proposal_id}/accept", response_model=CommandAnswer)
def accept_proposal(organization_id: UUID, proposal_id: UUID,
                    command: Command) -> JSONResponse:
    """SENT → ACCEPTED: the client's portal user, or staff on the client's behalf."""
    return command_response(commands.accept_proposal(command, organization_id, proposal_id))


@router.post("/proposals/{proposal_id}/reject", response_model=CommandAnswer)
def reject_proposal(
    organization_id: UUID, proposal_id: UUID, command: Command,
    body: Annotated[RejectProposal | None, Body(
        openapi_examples={"with a reason": {"value": {"reason": "Over our budget"}}})] = None,
) -> JSONResponse:
    """SENT → REJECTED, with an optional reason: the client's portal user, or staff on
    the client's behalf."""
    return command_response(commands.reject_proposal(
        command, organization_id, proposal_id, reason=body.reason if body else None))


@router.get("/clients/{client_id}/proposals", response_model=Page[ProposalView])
def list_proposals(
    organization_id: UUID, client_id: UUID, reader: Reads,
    status: ProposalStatus | None = None,
    limit: PageLimit = 50,
    cursor: PageCursor = None,
) -> JSONResponse:
    """A client's proposals, newest first (a portal user: those they were sent)."""
    reach = client_reach(reader.conn, organization_id, reader.caller)
    if not (reach.staff or reach.is_portal_of(client_id)) \
            or not clients.client_exists(reader.conn, organization_id, client_id):
        raise not_found("client", client_id)
    return reader.answer(clients.proposals_page(
        reader.conn, organization_id, client_id, status=status,
        sent_only=not reach.staff, cursor=cursor, limit=limit))


@router.get("/proposals/{proposal_id}", response_model=ProposalView)
def get_proposal(organization_id: UUID, proposal_id: UUID, reader: Reads) -> JSONResponse:
    reach = client_reach(reader.conn, organization_id, reader.caller)
    found = clients.proposal(reader.conn, organization_id, proposal_id)
    if found is None or not (reach.staff or (reach.is_portal_of(found["client_id"])
                                             and found["sent_at"] is not None)):
        raise not_found("proposal", proposal_id)
    return reader.answer(found, ETag=f'"{found["version"]}"')
