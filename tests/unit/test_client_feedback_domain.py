"""ClientFeedback: rating and text rules, author-only edits, responses, events that let a
consumer keep averages incrementally, and replay (hypothesis)."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, Mapper, UUIDAsHex
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from domain.base import Forbidden, InvalidValue
from domain.client_feedback import ClientFeedback, NotYourFeedback, validate_rating

META: dict = {"actor_id": None}
AUTHOR = UUID("00000000-0000-4000-8000-000000000001")

good_text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"),
                    max_size=100)
bad_char = st.one_of(st.just("\x00"), st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF))


def new_feedback(rating: Any = 4, project_id: UUID | None = None, **kwargs: Any
                 ) -> ClientFeedback:
    return ClientFeedback.create(id=uuid4(), organization_id=uuid4(), client_id=uuid4(),
                                 project_id=project_id, author_id=AUTHOR, rating=rating,
                                 meta=META, **kwargs)


def transcoder() -> JSONTranscoder:
    t = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        t.register(transcoding)
    return t


def replay_through_store(events: list[Any]) -> Aggregate:
    """Encode the events as the event store does (strict JSON), decode them and rebuild
    the aggregate from the decoded events alone."""
    mapper: Mapper[UUID] = Mapper(transcoder=transcoder())
    replayed = None
    for domain_event in events:
        stored = mapper.to_stored_event(domain_event)
        json.loads(stored.state)
        replayed = mapper.to_domain_event(stored).mutate(replayed)
    assert replayed is not None
    return replayed


@given(rating=st.integers(min_value=-(2**70), max_value=2**70))
def test_rating_is_an_integer_from_1_to_5(rating: int) -> None:
    if 1 <= rating <= 5:
        assert new_feedback(rating).rating == rating
    else:
        with pytest.raises(InvalidValue) as raised:
            new_feedback(rating)
        assert raised.value.field == "rating"


@pytest.mark.parametrize("rating", [0, 6, -1, True, False, 3.0, 4.5, "3", None,
                                    float("nan")])
def test_bad_ratings(rating: Any) -> None:
    with pytest.raises(InvalidValue) as raised:
        new_feedback(rating)
    assert raised.value.field == "rating"
    with pytest.raises(InvalidValue):
        new_feedback(3).edit(AUTHOR, META, rating=rating)
    with pytest.raises(InvalidValue):
        validate_rating(rating)


@pytest.mark.parametrize("rating", [1, 5])
def test_rating_bounds_are_accepted(rating: int) -> None:
    assert new_feedback(rating).rating == rating


@given(comment=good_text, bad=bad_char)
def test_comment_and_response_refuse_nul_and_lone_surrogates(comment: str, bad: str) -> None:
    with pytest.raises(InvalidValue) as raised:
        new_feedback(comment=comment + bad)
    assert raised.value.field == "comment"
    feedback = new_feedback()
    with pytest.raises(InvalidValue) as response_error:
        feedback.respond("Thanks" + comment + bad, uuid4(), META)
    assert response_error.value.field == "response"
    assert feedback.response is None


def test_text_bounds() -> None:
    assert new_feedback(comment="x" * 5000).comment == "x" * 5000
    assert new_feedback().comment is None
    with pytest.raises(InvalidValue):
        new_feedback(comment="x" * 5001)
    with pytest.raises(InvalidValue):
        new_feedback(comment=5)
    feedback = new_feedback()
    for bad in ("", "   ", "x" * 5001, None, 5):
        with pytest.raises(InvalidValue) as raised:
            feedback.respond(bad, uuid4(), META)  # type: ignore[arg-type]
        assert raised.value.field == "response"
    feedback.respond(" " + "x" * 5000 + " ", uuid4(), META)
    assert feedback.response == "x" * 5000


def test_project_is_optional_but_explicit() -> None:
    assert new_feedback(project_id=None).project_id is None
    project = uuid4()
    assert new_feedback(project_id=project).project_id == project


def test_only_the_author_edits() -> None:
    feedback = new_feedback(3, comment="ok")
    version = feedback.version
    with pytest.raises(NotYourFeedback) as raised:
        feedback.edit(uuid4(), META, rating=5)
    assert raised.value.code == "not-your-feedback"
    assert isinstance(raised.value, Forbidden)
    assert (feedback.rating, feedback.version) == (3, version)
    feedback.edit(AUTHOR, META, rating=5, comment=None)
    assert (feedback.rating, feedback.comment) == (5, None)


def test_edit_refuses_unknown_fields() -> None:
    for changes in ({"response": "x"}, {"author_id": uuid4()}, {"project_id": uuid4()}):
        with pytest.raises(InvalidValue) as raised:
            new_feedback().edit(AUTHOR, META, **changes)
        assert raised.value.field == next(iter(changes))


def test_edit_without_change_records_nothing() -> None:
    feedback = new_feedback(4, comment="fine")
    feedback.collect_events()
    feedback.edit(AUTHOR, META, rating=4, comment="fine")
    feedback.edit(AUTHOR, META)
    assert feedback.collect_events() == []


def test_events_carry_what_an_incremental_average_needs() -> None:
    project = uuid4()
    feedback = new_feedback(2, project_id=project, comment="slow")
    feedback.edit(AUTHOR, META, rating=5)
    feedback.edit(AUTHOR, META, comment="fast now")
    events = feedback.collect_events()
    assert [type(e).__qualname__ for e in events] == [
        "ClientFeedback.Created", "ClientFeedback.Edited", "ClientFeedback.Edited"]
    created, first, second = events
    assert (created.rating, created.project_id, created.client_id, created.author_id,
            created.comment) == (2, project, feedback.client_id, AUTHOR, "slow")
    assert (first.rating, first.previous_rating, first.comment) == (5, 2, "slow")
    assert (second.rating, second.previous_rating, second.comment) == (5, 5, "fast now")
    assert all(e.project_id == project and e.client_id == feedback.client_id
               for e in (first, second))
    assert all(e.meta == META for e in events)


def test_responding_again_replaces_the_response() -> None:
    feedback = new_feedback()
    staff, other = uuid4(), uuid4()
    feedback.respond("  Thank you ", staff, META)
    assert (feedback.response, feedback.responder_id, feedback.has_response) == (
        "Thank you", staff, True)
    feedback.respond("Thank you", staff, META)  # same text, same person: nothing new
    feedback.respond("Fixed in v2", other, META)
    assert (feedback.response, feedback.responder_id) == ("Fixed in v2", other)
    events = feedback.collect_events()
    assert [type(e).__qualname__ for e in events] == [
        "ClientFeedback.Created", "ClientFeedback.Responded", "ClientFeedback.Responded"]
    assert (events[1].response, events[1].responder_id) == ("Thank you", staff)
    assert (events[2].response, events[2].responder_id) == ("Fixed in v2", other)


class FeedbackMachine(RuleBasedStateMachine):
    """Random edits and responses against a model; a consumer that keeps a sum of
    ratings from the events alone (Created adds, Edited moves by rating -
    previous_rating) always agrees with the aggregate."""

    def __init__(self) -> None:
        super().__init__()
        self.feedback = new_feedback(3, project_id=uuid4())
        self.model: dict[str, Any] = {"rating": 3, "comment": None, "response": None}

    @rule(actor=st.sampled_from([AUTHOR, UUID(int=2)]),
          rating=st.none() | st.integers(min_value=-1, max_value=7),
          comment=st.sampled_from([None, "good", "bad\x00", "x" * 5001, "keep"]))
    def edit(self, actor: UUID, rating: int | None, comment: str | None) -> None:
        changes: dict[str, Any] = {"comment": comment}
        if rating is not None:
            changes["rating"] = rating
        if actor != AUTHOR:
            with pytest.raises(NotYourFeedback):
                self.feedback.edit(actor, META, **changes)
            return
        valid_rating = rating is None or 1 <= rating <= 5
        valid_comment = comment is None or ("\x00" not in comment and len(comment) <= 5000)
        if valid_rating and valid_comment:
            self.feedback.edit(actor, META, **changes)
            if rating is not None:
                self.model["rating"] = rating
            self.model["comment"] = comment
        else:
            with pytest.raises(InvalidValue):
                self.feedback.edit(actor, META, **changes)

    @rule(text=st.sampled_from(["Thanks", " Thanks ", "", "We fixed it"]))
    def respond(self, text: str) -> None:
        if text.strip():
            self.feedback.respond(text, UUID(int=9), META)
            self.model["response"] = text.strip()
        else:
            with pytest.raises(InvalidValue):
                self.feedback.respond(text, UUID(int=9), META)

    @invariant()
    def matches_the_model(self) -> None:
        assert {"rating": self.feedback.rating, "comment": self.feedback.comment,
                "response": self.feedback.response} == self.model

    def teardown(self) -> None:
        events = list(self.feedback.collect_events())
        total = 0
        for e in events:
            if isinstance(e, ClientFeedback.Created):
                total += e.rating
            elif isinstance(e, ClientFeedback.Edited):
                total += e.rating - e.previous_rating
        assert total == self.feedback.rating
        replayed = replay_through_store(events)
        assert replayed.__dict__ == self.feedback.__dict__


TestFeedbackMachine = FeedbackMachine.TestCase
