"""ClientFeedback: a client's rating (1 to 5) and comment, optionally on a project,
and the organization's response.

Who may do what (checked by the command handlers): the client's portal user, or staff
recording it on the client's behalf, gives feedback and becomes its ``author_id``; only
the author edits the rating or comment (NotYourFeedback); Organizers and Managers
respond.

Responding is one event type, ``Responded``: responding again replaces the response
(and its ``responder_id``); responding with the same text by the same person records
nothing.

Events carry what consumers need without looking back: ``Created`` carries the rating,
the client and the project, so a per-project (or per-client) average can be kept
incrementally; ``Edited`` carries ``previous_rating`` (and the client and project again)
so that average moves by the difference, as TimeLog's ``Edited`` carries
``previous_hours``.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.base import Forbidden, InvalidValue, optional_text, require_text

MIN_RATING, MAX_RATING = 1, 5
MAX_COMMENT = 5000
MAX_RESPONSE = 5000


class NotYourFeedback(Forbidden):
    code = "not-your-feedback"


def validate_rating(rating: Any) -> int:
    # bool is an int subclass: True would otherwise count as a rating of 1.
    if (not isinstance(rating, int) or isinstance(rating, bool)
            or not MIN_RATING <= rating <= MAX_RATING):
        raise InvalidValue(f"rating must be an integer from {MIN_RATING} to {MAX_RATING}",
                           field="rating")
    return rating


def validate_comment(comment: Any) -> str | None:
    return optional_text(comment, "comment", max_length=MAX_COMMENT)


def validate_response(response: Any) -> str:
    return require_text(response, "response", max_length=MAX_RESPONSE)


class ClientFeedback(Aggregate):
    PERSONAL_FIELDS = frozenset({"comment", "response"})

    @event("Created")
    def __init__(
        self,
        id: UUID,
        organization_id: UUID,
        client_id: UUID,
        project_id: UUID | None,
        author_id: UUID,
        rating: int,
        comment: str | None,
        meta: dict,
    ) -> None:
        self.organization_id = organization_id
        self.client_id = client_id
        self.project_id = project_id
        self.author_id = author_id
        self.rating = rating
        self.comment = comment
        self.response: str | None = None
        self.responder_id: UUID | None = None

    @classmethod
    def create(
        cls,
        id: UUID,
        organization_id: UUID,
        client_id: UUID,
        project_id: UUID | None,
        author_id: UUID,
        rating: int,
        meta: dict,
        comment: str | None = None,
    ) -> ClientFeedback:
        """``project_id`` must be passed: ``None`` for feedback on the client
        relationship as a whole."""
        return cls(
            id=id,
            organization_id=organization_id,
            client_id=client_id,
            project_id=project_id,
            author_id=author_id,
            rating=validate_rating(rating),
            comment=validate_comment(comment),
            meta=meta,
        )

    @property
    def has_response(self) -> bool:
        return self.response is not None

    def edit(self, actor_id: UUID, meta: dict, **changes: Any) -> None:
        """The author changes rating and/or comment (``None`` clears the comment);
        only the fields given change."""
        if actor_id != self.author_id:
            raise NotYourFeedback("only the author of the feedback may change it")
        unknown = set(changes) - {"rating", "comment"}
        if unknown:
            raise InvalidValue(f"unknown field(s): {', '.join(sorted(unknown))}",
                               field=sorted(unknown)[0])
        rating = validate_rating(changes["rating"]) if "rating" in changes else self.rating
        comment = (validate_comment(changes["comment"]) if "comment" in changes
                   else self.comment)
        if (rating, comment) == (self.rating, self.comment):
            return
        self._edited(rating=rating, comment=comment, previous_rating=self.rating,
                     client_id=self.client_id, project_id=self.project_id, meta=meta)

    @event("Edited")
    def _edited(self, rating: int, comment: str | None, previous_rating: int,
                client_id: UUID, project_id: UUID | None, meta: dict) -> None:
        self.rating = rating
        self.comment = comment

    def respond(self, text: str, responder_id: UUID, meta: dict) -> None:
        """Set or replace the organization's response (1 to 5000 characters, trimmed)."""
        response = validate_response(text)
        if (response, responder_id) == (self.response, self.responder_id):
            return
        self._responded(response=response, responder_id=responder_id, meta=meta)

    @event("Responded")
    def _responded(self, response: str, responder_id: UUID, meta: dict) -> None:
        self.response = response
        self.responder_id = responder_id
