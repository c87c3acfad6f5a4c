"""Proposal: the status lifecycle over every (from, to) pair, editing only while DRAFT,
value rules and replay (hypothesis)."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, Mapper, UUIDAsHex
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from domain.base import InvalidValue, RuleViolation
from domain.proposal import (
    TRANSITIONS,
    IllegalProposalTransition,
    Proposal,
    ProposalNotEditable,
    ProposalStatus,
    require_transition,
)

META: dict = {"actor_id": None}
S = ProposalStatus

good_text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"),
                    max_size=250)
bad_char = st.one_of(st.just("\x00"), st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF))


def new_proposal(**kwargs: Any) -> Proposal:
    return Proposal.create(id=uuid4(), organization_id=uuid4(), client_id=uuid4(),
                           title="Website redesign", meta=META, **kwargs)


def transcoder() -> JSONTranscoder:
    t = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        t.register(transcoding)
    return t


def replay_through_store(aggregate: Aggregate) -> Aggregate:
    mapper: Mapper[UUID] = Mapper(transcoder=transcoder())
    replayed = None
    for domain_event in aggregate.collect_events():
        stored = mapper.to_stored_event(domain_event)
        json.loads(stored.state)
        replayed = mapper.to_domain_event(stored).mutate(replayed)
    assert replayed is not None
    return replayed


# How to reach each status from DRAFT, and the method that moves to each target.
PATHS: dict[ProposalStatus, list[ProposalStatus]] = {
    S.DRAFT: [],
    S.SENT: [S.SENT],
    S.ACCEPTED: [S.SENT, S.ACCEPTED],
    S.REJECTED: [S.SENT, S.REJECTED],
    S.WITHDRAWN: [S.WITHDRAWN],
}


def move(proposal: Proposal, target: ProposalStatus) -> None:
    methods: dict[ProposalStatus, Callable[[], None]] = {
        S.SENT: lambda: proposal.send(META),
        S.ACCEPTED: lambda: proposal.accept(META),
        S.REJECTED: lambda: proposal.reject(META, reason="too expensive"),
        S.WITHDRAWN: lambda: proposal.withdraw(META),
    }
    methods[target]()


def proposal_in(status: ProposalStatus) -> Proposal:
    proposal = new_proposal()
    for step in PATHS[status]:
        move(proposal, step)
    assert proposal.status == status.value
    return proposal


def test_transition_table_is_the_documented_lifecycle() -> None:
    documented = {
        S.DRAFT: {S.SENT, S.WITHDRAWN},
        S.SENT: {S.ACCEPTED, S.REJECTED, S.WITHDRAWN},
        S.ACCEPTED: set(),
        S.REJECTED: set(),
        S.WITHDRAWN: set(),
    }
    assert documented == TRANSITIONS
    assert set(TRANSITIONS) == set(ProposalStatus)


@given(current=st.sampled_from(ProposalStatus), target=st.sampled_from(ProposalStatus))
def test_require_transition_over_every_pair(current: ProposalStatus,
                                            target: ProposalStatus) -> None:
    if target in TRANSITIONS[current]:
        require_transition(current, target)
    else:
        with pytest.raises(IllegalProposalTransition) as raised:
            require_transition(current, target)
        assert raised.value.code == "illegal-proposal-transition"
        assert raised.value.field == "status"
        assert (raised.value.from_status, raised.value.to_status) == (current, target)
        assert current.value in raised.value.message and target.value in raised.value.message


@given(current=st.sampled_from(ProposalStatus),
       target=st.sampled_from([s for s in ProposalStatus if s is not S.DRAFT]))
def test_every_method_from_every_status(current: ProposalStatus,
                                        target: ProposalStatus) -> None:
    proposal = proposal_in(current)
    version = proposal.version
    if target in TRANSITIONS[current]:
        move(proposal, target)
        assert proposal.status == target.value
        assert proposal.version == version + 1
    else:
        with pytest.raises(IllegalProposalTransition) as raised:
            move(proposal, target)
        assert isinstance(raised.value, RuleViolation)
        assert raised.value.message == (
            f"a {current.value} proposal cannot become {target.value}")
        assert proposal.status == current.value
        assert proposal.version == version


def test_nothing_returns_to_draft() -> None:
    assert all(S.DRAFT not in targets for targets in TRANSITIONS.values())


@pytest.mark.parametrize("status", list(ProposalStatus))
def test_editing_only_while_draft(status: ProposalStatus) -> None:
    proposal = proposal_in(status)
    if status is S.DRAFT:
        proposal.update(META, title="New title", content="Scope", amount=Decimal("10.5"))
        assert (proposal.title, proposal.content, proposal.amount) == (
            "New title", "Scope", Decimal("10.5"))
        return
    version = proposal.version
    for field, value in (("title", "New"), ("content", "x"), ("amount", Decimal(1))):
        with pytest.raises(ProposalNotEditable) as raised:
            proposal.update(META, **{field: value})
        assert raised.value.code == "proposal-not-editable"
        assert status.value in raised.value.message
    assert proposal.version == version


def test_update_records_only_changed_fields() -> None:
    proposal = new_proposal(content="Scope", amount=Decimal("100"))
    proposal.collect_events()
    proposal.update(META, title=" Website redesign ", content="Scope",
                    amount=Decimal("100.00"))
    assert proposal.collect_events() == []
    proposal.update(META, title="Redesign", amount=None)
    (updated,) = proposal.collect_events()
    assert isinstance(updated, Proposal.Updated)
    assert updated.changes == {"title": "Redesign", "amount": None}


@pytest.mark.parametrize("changes", [{"status": "SENT"}, {"client_id": uuid4()},
                                     {"project_id": uuid4()}, {"price": Decimal(1)}])
def test_update_refuses_unknown_fields(changes: dict[str, Any]) -> None:
    with pytest.raises(InvalidValue) as raised:
        new_proposal().update(META, **changes)
    assert raised.value.field == next(iter(changes))


@given(title=good_text)
def test_title_is_trimmed_and_bounded(title: str) -> None:
    if 1 <= len(title.strip()) <= 200:
        proposal = Proposal.create(id=uuid4(), organization_id=uuid4(), client_id=uuid4(),
                                   title=title, meta=META)
        assert proposal.title == title.strip()
    else:
        with pytest.raises(InvalidValue) as raised:
            Proposal.create(id=uuid4(), organization_id=uuid4(), client_id=uuid4(),
                            title=title, meta=META)
        assert raised.value.field == "title"


@given(text=good_text, bad=bad_char)
def test_text_fields_refuse_nul_and_lone_surrogates(text: str, bad: str) -> None:
    for field in ("title", "content"):
        with pytest.raises(InvalidValue) as raised:
            new_proposal().update(META, **{field: "A" + text + bad})
        assert raised.value.field == field
    proposal = proposal_in(S.SENT)
    with pytest.raises(InvalidValue) as reason_error:
        proposal.reject(META, reason=text + bad)
    assert reason_error.value.field == "reason"
    assert proposal.status == S.SENT.value


@pytest.mark.parametrize(("field", "value"), [
    ("title", ""), ("title", "   "), ("title", "x" * 201), ("title", None), ("title", 7),
    ("content", "x" * 20_001), ("content", 7),
])
def test_text_field_edges(field: str, value: Any) -> None:
    with pytest.raises(InvalidValue) as raised:
        new_proposal(**{field: value}) if field != "title" else Proposal.create(
            id=uuid4(), organization_id=uuid4(), client_id=uuid4(), title=value, meta=META)
    assert raised.value.field == field


def test_content_bounds() -> None:
    assert new_proposal(content="x" * 20_000).content == "x" * 20_000
    assert new_proposal().content is None


def test_rejection_reason() -> None:
    proposal = proposal_in(S.SENT)
    with pytest.raises(InvalidValue):
        proposal.reject(META, reason="x" * 2001)
    proposal.reject(META, reason="x" * 2000)
    assert proposal.rejection_reason == "x" * 2000
    other = proposal_in(S.SENT)
    other.reject(META)
    assert other.rejection_reason is None
    assert other.collect_events()[-1].reason is None


@given(amount=st.decimals(min_value=Decimal("-10"), max_value=Decimal("1e16"),
                          allow_nan=False, allow_infinity=False, places=3))
def test_amount_is_money(amount: Decimal) -> None:
    if 0 <= amount <= Decimal("999999999999999.99") and amount == amount.quantize(
            Decimal("0.01")):
        assert new_proposal(amount=amount).amount == amount
    else:
        with pytest.raises(InvalidValue) as raised:
            new_proposal(amount=amount)
        assert raised.value.field == "amount"


@pytest.mark.parametrize("amount", [True, False, 1.5, "10", Decimal("NaN"), Decimal("Infinity"),
                                    Decimal("-0.01"), Decimal("1000000000000000"),
                                    Decimal("0.001")])
def test_bad_amounts(amount: Any) -> None:
    with pytest.raises(InvalidValue) as raised:
        new_proposal(amount=amount)
    assert raised.value.field == "amount"


def test_amount_is_stored_in_plain_notation() -> None:
    assert str(new_proposal(amount=Decimal("1.500")).amount) == "1.50"
    assert str(new_proposal(amount=Decimal("1E+2")).amount) == "100"
    assert new_proposal(amount=12).amount == Decimal(12)


def test_client_sees_a_proposal_only_once_sent() -> None:
    draft = new_proposal()
    assert not draft.visible_to_client
    draft.withdraw(META)
    assert not draft.visible_to_client
    assert draft.collect_events()[-1].previous_status == "DRAFT"
    sent = proposal_in(S.SENT)
    assert sent.visible_to_client
    sent.withdraw(META)
    assert sent.visible_to_client
    assert sent.collect_events()[-1].previous_status == "SENT"
    for status in (S.ACCEPTED, S.REJECTED):
        assert proposal_in(status).visible_to_client


def test_event_names_and_fields() -> None:
    project = uuid4()
    proposal = new_proposal(project_id=project, content="Scope", amount=Decimal("5"))
    proposal.update(META, title="T2")
    proposal.send(META)
    proposal.reject(META, reason="no")
    events = proposal.collect_events()
    assert [type(e).__qualname__ for e in events] == [
        "Proposal.Created", "Proposal.Updated", "Proposal.Sent", "Proposal.Rejected"]
    created = events[0]
    assert (created.client_id, created.project_id, created.title, created.content,
            created.amount) == (proposal.client_id, project, "Website redesign", "Scope",
                                Decimal(5))
    assert events[3].reason == "no"
    assert all(e.meta == META for e in events)
    other = proposal_in(S.ACCEPTED)
    assert [type(e).__qualname__ for e in other.collect_events()] == [
        "Proposal.Created", "Proposal.Sent", "Proposal.Accepted"]


class ProposalMachine(RuleBasedStateMachine):
    """Random sequences of every command: the status only follows TRANSITIONS, edits
    happen only in DRAFT, and the events replay to the same state."""

    def __init__(self) -> None:
        super().__init__()
        self.proposal = new_proposal()
        self.history = [self.proposal.status]

    @rule(status=st.sampled_from([s for s in ProposalStatus if s is not S.DRAFT]))
    def transition(self, status: ProposalStatus) -> None:
        current = self.proposal.current_status
        if status in TRANSITIONS[current]:
            move(self.proposal, status)
            self.history.append(self.proposal.status)
        else:
            with pytest.raises(IllegalProposalTransition):
                move(self.proposal, status)

    @rule(title=st.sampled_from(["A", " B ", "", "x" * 201]),
          content=st.none() | st.sampled_from(["c", "\x00"]),
          amount=st.none() | st.sampled_from([Decimal("1.25"), Decimal("-1"), Decimal("0")]))
    def edit(self, title: str, content: str | None, amount: Decimal | None) -> None:
        before = dict(self.proposal.__dict__)
        try:
            self.proposal.update(META, title=title, content=content, amount=amount)
        except ProposalNotEditable:
            assert self.proposal.status != S.DRAFT.value
            assert self.proposal.__dict__ == before
        except InvalidValue:
            assert self.proposal.__dict__ == before
        else:
            assert self.proposal.status == S.DRAFT.value
            assert (self.proposal.title, self.proposal.content, self.proposal.amount) == (
                title.strip(), content, amount)

    @invariant()
    def status_only_follows_transitions(self) -> None:
        for before, after in zip(self.history, self.history[1:], strict=False):
            assert S(after) in TRANSITIONS[S(before)]

    @invariant()
    def visible_once_sent(self) -> None:
        assert self.proposal.visible_to_client == (S.SENT.value in self.history)

    def teardown(self) -> None:
        replayed = replay_through_store(self.proposal)
        assert replayed.__dict__ == self.proposal.__dict__


TestProposalMachine = ProposalMachine.TestCase
