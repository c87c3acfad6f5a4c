"""The client context: client.clients, client.portal_users, client.proposals and
client.client_feedback, and the queries the API answers from them (who may see what is
decided by the caller, api/routes/clients.py; these only filter as told).

A portal user row exists while the user is linked; whether the link opens the portal
(the client's portal access is on and it is not archived, and the user still holds the
Client role) is asked at read time, so turning access off or changing a role takes effect
at once without rewriting links.
"""

from __future__ import annotations

from typing import Any

from psycopg import Connection, Cursor
from psycopg.types.json import Jsonb

from domain.client import Client
from domain.client_feedback import ClientFeedback
from domain.proposal import Proposal, ProposalStatus
from domain.roles import SEES_ALL_PROJECTS, Role
from projections.base import ReadModel, handles
from projections.paging import Order
from projections.projects import visible_projects_sql
from projections.table import Table

CLIENTS = Table("client", "clients", {
    "id": "uuid PRIMARY KEY",
    "organization_id": "uuid NOT NULL",
    "name": "text NOT NULL",
    "email": "text",
    "phone": "text",
    "address": "jsonb",
    "portal_access": "boolean NOT NULL",
    "archived": "boolean NOT NULL DEFAULT false",
    "created_at": "timestamptz NOT NULL",
    "updated_at": "timestamptz NOT NULL",
    "version": "bigint NOT NULL",
})

PORTAL_USERS = Table("client", "portal_users", {
    "organization_id": "uuid NOT NULL",
    "user_id": "uuid NOT NULL",
    "client_id": "uuid NOT NULL",
    "linked_at": "timestamptz NOT NULL",
}, constraints=("PRIMARY KEY (organization_id, user_id)",))

PROPOSALS = Table("client", "proposals", {
    "id": "uuid PRIMARY KEY",
    "organization_id": "uuid NOT NULL",
    "client_id": "uuid NOT NULL",
    "project_id": "uuid",
    "title": "text NOT NULL",
    "content": "text",
    "amount": "numeric(17,2)",
    "status": "text NOT NULL",
    "rejection_reason": "text",
    "sent_at": "timestamptz",
    "closed_at": "timestamptz",
    "created_at": "timestamptz NOT NULL",
    "updated_at": "timestamptz NOT NULL",
    "version": "bigint NOT NULL",
})

FEEDBACK = Table("client", "client_feedback", {
    "id": "uuid PRIMARY KEY",
    "organization_id": "uuid NOT NULL",
    "client_id": "uuid NOT NULL",
    "project_id": "uuid",
    "author_id": "uuid NOT NULL",
    "rating": "smallint NOT NULL",
    "comment": "text",
    "response": "text",
    "responder_id": "uuid",
    "responded_at": "timestamptz",
    "created_at": "timestamptz NOT NULL",
    "updated_at": "timestamptz NOT NULL",
    "version": "bigint NOT NULL",
})

# Fields of Client.Updated / Proposal.Updated and the columns they land in (same names).
CLIENT_FIELDS = frozenset({"name", "email", "phone", "address"})
PROPOSAL_FIELDS = frozenset({"title", "content", "amount"})

LINK_PORTAL_USER = ("INSERT INTO portal_users (organization_id, user_id, client_id, linked_at) "
                    "SELECT organization_id, %s, id, %s FROM clients WHERE id = %s")
UNLINK_PORTAL_USER = "DELETE FROM portal_users WHERE client_id = %s AND user_id = %s"

BY_NAME = Order((("name", "text"), ("id", "uuid")))
NEWEST_FIRST = Order((("created_at", "timestamptz"), ("id", "uuid")), descending=True)


def _client_values(values: dict[str, Any]) -> dict[str, Any]:
    if values.get("address") is not None:
        values["address"] = Jsonb(values["address"])
    return values


class ClientsReadModel(ReadModel):
    name = "clients"
    schema = "client"
    ddl = (
        CLIENTS.ddl,
        "CREATE INDEX clients_organization_name ON clients (organization_id, archived, name, id)",
        PORTAL_USERS.ddl,
        "CREATE INDEX portal_users_client ON portal_users (client_id)",
        PROPOSALS.ddl,
        "CREATE INDEX proposals_client_created ON proposals (client_id, created_at, id)",
        FEEDBACK.ddl,
        "CREATE INDEX client_feedback_client_created "
        "ON client_feedback (client_id, created_at, id)",
        "CREATE INDEX client_feedback_project_created "
        "ON client_feedback (project_id, created_at, id)",
    )
    tables = ("clients", "portal_users", "proposals", "client_feedback")

    # --- clients -----------------------------------------------------------
    @handles(Client.Created)
    def _client_created(self, cur: Cursor[Any], e: Any) -> None:
        CLIENTS.insert(cur, _client_values({
            "id": e.originator_id, "organization_id": e.organization_id, "name": e.name,
            "email": e.email, "phone": e.phone, "address": e.address,
            "portal_access": e.portal_access, "created_at": e.timestamp,
            "updated_at": e.timestamp, "version": e.originator_version}))

    @handles(Client.Updated)
    def _client_updated(self, cur: Cursor[Any], e: Any) -> None:
        CLIENTS.touch(cur, e, _client_values(
            {k: v for k, v in e.changes.items() if k in CLIENT_FIELDS}))

    @handles(Client.PortalAccessChanged)
    def _portal_access_changed(self, cur: Cursor[Any], e: Any) -> None:
        CLIENTS.touch(cur, e, {"portal_access": e.portal_access})

    @handles(Client.Archived)
    def _client_archived(self, cur: Cursor[Any], e: Any) -> None:
        CLIENTS.touch(cur, e, {"archived": True})

    @handles(Client.Restored)
    def _client_restored(self, cur: Cursor[Any], e: Any) -> None:
        CLIENTS.touch(cur, e, {"archived": False})

    @handles(Client.PortalUserLinked)
    def _portal_user_linked(self, cur: Cursor[Any], e: Any) -> None:
        CLIENTS.touch(cur, e, first=LINK_PORTAL_USER,
                      first_params=(e.user_id, e.timestamp, e.originator_id))

    @handles(Client.PortalUserUnlinked)
    def _portal_user_unlinked(self, cur: Cursor[Any], e: Any) -> None:
        CLIENTS.touch(cur, e, first=UNLINK_PORTAL_USER,
                      first_params=(e.originator_id, e.user_id))

    # What is attached to the client is stored by its own read model (project links by
    # projects, proposals and feedback below); the client's row follows its version, which
    # If-Match compares against.
    @handles(Client.ProjectLinked, Client.ProjectUnlinked, Client.ProposalOpened,
             Client.ProposalSent, Client.FeedbackReceived)
    def _attached_or_detached(self, cur: Cursor[Any], e: Any) -> None:
        CLIENTS.touch(cur, e)

    # --- proposals ---------------------------------------------------------
    @handles(Proposal.Created)
    def _proposal_created(self, cur: Cursor[Any], e: Any) -> None:
        PROPOSALS.insert(cur, {
            "id": e.originator_id, "organization_id": e.organization_id,
            "client_id": e.client_id, "project_id": e.project_id, "title": e.title,
            "content": e.content, "amount": e.amount, "status": e.status,
            "created_at": e.timestamp, "updated_at": e.timestamp,
            "version": e.originator_version})

    @handles(Proposal.Updated)
    def _proposal_updated(self, cur: Cursor[Any], e: Any) -> None:
        PROPOSALS.touch(cur, e, {k: v for k, v in e.changes.items() if k in PROPOSAL_FIELDS})

    @handles(Proposal.Sent)
    def _proposal_sent(self, cur: Cursor[Any], e: Any) -> None:
        PROPOSALS.touch(cur, e, {"status": ProposalStatus.SENT.value, "sent_at": e.timestamp})

    @handles(Proposal.Accepted)
    def _proposal_accepted(self, cur: Cursor[Any], e: Any) -> None:
        PROPOSALS.touch(cur, e, {"status": ProposalStatus.ACCEPTED.value,
                                 "closed_at": e.timestamp})

    @handles(Proposal.Rejected)
    def _proposal_rejected(self, cur: Cursor[Any], e: Any) -> None:
        PROPOSALS.touch(cur, e, {"status": ProposalStatus.REJECTED.value,
                                 "rejection_reason": e.reason, "closed_at": e.timestamp})

    @handles(Proposal.Withdrawn)
    def _proposal_withdrawn(self, cur: Cursor[Any], e: Any) -> None:
        PROPOSALS.touch(cur, e, {"status": ProposalStatus.WITHDRAWN.value,
                                 "closed_at": e.timestamp})

    # --- feedback ----------------------------------------------------------
    @handles(ClientFeedback.Created)
    def _feedback_created(self, cur: Cursor[Any], e: Any) -> None:
        FEEDBACK.insert(cur, {
            "id": e.originator_id, "organization_id": e.organization_id,
            "client_id": e.client_id, "project_id": e.project_id, "author_id": e.author_id,
            "rating": e.rating, "comment": e.comment, "created_at": e.timestamp,
            "updated_at": e.timestamp, "version": e.originator_version})

    @handles(ClientFeedback.Edited)
    def _feedback_edited(self, cur: Cursor[Any], e: Any) -> None:
        FEEDBACK.touch(cur, e, {"rating": e.rating, "comment": e.comment})

    @handles(ClientFeedback.Responded)
    def _feedback_responded(self, cur: Cursor[Any], e: Any) -> None:
        FEEDBACK.touch(cur, e, {"response": e.response, "responder_id": e.responder_id,
                                "responded_at": e.timestamp})


# --- queries ----------------------------------------------------------------

# The client whose portal a user may use now: linked, the client's portal access on and
# not archived, and the user still a Client of the live organization.
PORTAL_CLIENT = (
    "SELECT pu.client_id FROM client.portal_users pu "
    "JOIN client.clients c ON c.id = pu.client_id "
    "JOIN auth.organization_members m "
    "  ON m.organization_id = pu.organization_id AND m.user_id = pu.user_id "
    "WHERE pu.organization_id = %s AND pu.user_id = %s AND c.portal_access "
    "AND NOT c.archived AND m.role = %s"
)


def portal_client(conn: Connection[Any], organization_id: Any, user_id: Any) -> Any:
    """The id of the client whose portal the user may use in the organization, or None."""
    row = conn.execute(PORTAL_CLIENT, (organization_id, user_id, Role.CLIENT.value)).fetchone()
    return None if row is None else row[0]


def clients_page(conn: Connection[Any], organization_id: Any, *, archived: bool,
                 only: Any = None, cursor: str | None, limit: int) -> dict[str, Any]:
    """A page of the organization's clients by name (``only``: just that client)."""
    where = ["organization_id = %s", "archived = %s"]
    params: list[Any] = [organization_id, archived]
    if only is not None:
        where.append("id = %s")
        params.append(only)
    return CLIENTS.page(conn, where, params, BY_NAME, cursor, limit)


def client_detail(conn: Connection[Any], organization_id: Any,
                  client_id: Any) -> dict[str, Any] | None:
    """One client with the ids of its linked projects and its portal users."""
    found = CLIENTS.one(conn, "id = %s AND organization_id = %s", (client_id, organization_id))
    if found is None:
        return None
    projects = conn.execute(
        "SELECT project_id FROM project.project_clients WHERE client_id = %s "
        "ORDER BY project_id", (client_id,),
    ).fetchall()
    users = conn.execute(
        "SELECT pu.user_id, u.name, u.email, pu.linked_at FROM client.portal_users pu "
        "LEFT JOIN auth.users u ON u.id = pu.user_id WHERE pu.client_id = %s "
        "ORDER BY pu.linked_at, pu.user_id", (client_id,),
    ).fetchall()
    found["project_ids"] = [r[0] for r in projects]
    found["portal_users"] = [{"user_id": r[0], "name": r[1], "email": r[2], "linked_at": r[3]}
                             for r in users]
    return found


def client_exists(conn: Connection[Any], organization_id: Any, client_id: Any) -> bool:
    return conn.execute(
        "SELECT 1 FROM client.clients WHERE id = %s AND organization_id = %s",
        (client_id, organization_id),
    ).fetchone() is not None


def proposals_page(conn: Connection[Any], organization_id: Any, client_id: Any, *,
                   status: ProposalStatus | None, sent_only: bool, cursor: str | None,
                   limit: int) -> dict[str, Any]:
    """A page of a client's proposals, newest first (``sent_only``: those the client has
    been sent, whatever became of them since)."""
    where = ["organization_id = %s", "client_id = %s"]
    params: list[Any] = [organization_id, client_id]
    if status is not None:
        where.append("status = %s")
        params.append(status.value)
    if sent_only:
        where.append("sent_at IS NOT NULL")
    return PROPOSALS.page(conn, where, params, NEWEST_FIRST, cursor, limit)


def proposal(conn: Connection[Any], organization_id: Any, proposal_id: Any) -> \
        dict[str, Any] | None:
    return PROPOSALS.one(conn, "id = %s AND organization_id = %s",
                         (proposal_id, organization_id))


def feedback_page(conn: Connection[Any], organization_id: Any, *, caller: Any,
                  role: Role, client_id: Any = None, project_id: Any = None,
                  cursor: str | None, limit: int) -> dict[str, Any]:
    """A page of feedback, newest first, of one client and/or one project. Internal roles
    that do not see every project (Contributors) get only the feedback on projects they
    see; a portal user is asked for with their own ``client_id``."""
    where = ["organization_id = %s"]
    params: list[Any] = [organization_id]
    for column, value in (("client_id", client_id), ("project_id", project_id)):
        if value is not None:
            where.append(f"{column} = %s")
            params.append(value)
    if role is not Role.CLIENT and role not in SEES_ALL_PROJECTS:
        where.append(visible_projects_sql(role).format(alias="client_feedback"))
        params.append(caller)
    return FEEDBACK.page(conn, where, params, NEWEST_FIRST, cursor, limit)


def feedback(conn: Connection[Any], organization_id: Any, feedback_id: Any) -> \
        dict[str, Any] | None:
    return FEEDBACK.one(conn, "id = %s AND organization_id = %s", (feedback_id, organization_id))
