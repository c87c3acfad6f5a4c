from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from uuid import UUID, uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule

from domain.base import Forbidden, InvalidValue, NotFound
from domain.person_day import DailyLimitExceeded, PersonDay, person_day_id
from domain.timelog import TimeLog, TimeLogDeleted, validate_hours

META: dict = {"actor_id": None}
LIMIT = Decimal(24)

valid_hours = st.one_of(
    st.decimals(min_value=Decimal("0.01"), max_value=LIMIT, places=2),
    st.integers(min_value=1, max_value=24).map(Decimal),
)


class PersonDayLedger(RuleBasedStateMachine):
    """Random reserve/change/release sequences against a plain dict model: the ledger
    refuses exactly the operations that would take the day past 24 hours."""

    logs = Bundle("logs")

    def __init__(self) -> None:
        super().__init__()
        self.day = PersonDay.open(uuid4(), date(2024, 2, 29), META)
        self.model: dict[str, Decimal] = {}

    def _total(self) -> Decimal:
        return sum(self.model.values(), Decimal(0))

    @rule(target=logs, hours=valid_hours)
    def reserve(self, hours: Decimal) -> UUID:
        log_id = uuid4()
        if self._total() + hours > LIMIT:
            with pytest.raises(DailyLimitExceeded) as refused:
                self.day.reserve(log_id, hours, META)
            assert refused.value.hours_left == LIMIT - self._total()
            assert "2024-02-29" in refused.value.message
        else:
            self.day.reserve(log_id, hours, META)
            self.model[str(log_id)] = validate_hours(hours)
        return log_id

    @rule(log_id=logs, hours=valid_hours)
    def change(self, log_id: UUID, hours: Decimal) -> None:
        key = str(log_id)
        if key not in self.model:
            with pytest.raises(NotFound):
                self.day.change(log_id, hours, META)
        elif self._total() - self.model[key] + hours > LIMIT:
            with pytest.raises(DailyLimitExceeded):
                self.day.change(log_id, hours, META)
        else:
            self.day.change(log_id, hours, META)
            self.model[key] = validate_hours(hours)

    @rule(log_id=consumes(logs))
    def release(self, log_id: UUID) -> None:
        if str(log_id) in self.model:
            self.day.release(log_id, META)
            del self.model[str(log_id)]
        else:
            with pytest.raises(NotFound):
                self.day.release(log_id, META)

    @invariant()
    def never_over_the_limit(self) -> None:
        assert self.day.total == self._total()
        assert Decimal(0) <= self.day.total <= LIMIT
        assert self.day.entries == self.model

    @invariant()
    def replay_gives_the_same_ledger(self) -> None:
        # The rule must not live only in memory: the events alone rebuild the state.
        if self.day.pending_events and len(self.day.pending_events) % 7 == 0:
            replayed = None
            for e in self.day.pending_events:
                replayed = e.mutate(replayed)
            assert replayed is not None and replayed.entries == self.day.entries


TestPersonDayLedger = PersonDayLedger.TestCase


def test_ledger_id_is_derived_from_person_and_date() -> None:
    person = uuid4()
    day = PersonDay.open(person, date(2024, 5, 1), META)
    assert day.id == person_day_id(person, date(2024, 5, 1))
    assert day.id != person_day_id(person, date(2024, 5, 2))


def test_refusal_names_the_date_and_hours_left() -> None:
    day = PersonDay.open(uuid4(), date(2024, 5, 1), META)
    day.reserve(uuid4(), Decimal("20.5"), META)
    with pytest.raises(DailyLimitExceeded) as refused:
        day.reserve(uuid4(), Decimal(4), META)
    assert "2024-05-01" in refused.value.message and "3.50" in refused.value.message


@given(valid_hours)
def test_valid_hours_are_kept_to_the_cent(hours: Decimal) -> None:
    assert validate_hours(hours) == hours
    assert validate_hours(hours).as_tuple().exponent == -2


@given(st.one_of(
    st.decimals(max_value=Decimal(0), allow_nan=False, allow_infinity=False),
    st.decimals(min_value=Decimal("24.000001"), allow_nan=False, allow_infinity=False),
    st.decimals(min_value=Decimal("0.001"), max_value=LIMIT, places=3)
    .filter(lambda d: d != d.quantize(Decimal("0.01"))),
    st.sampled_from([Decimal("NaN"), Decimal("Infinity"), 1.5, "8", True, None]),
))
def test_invalid_hours_are_refused_naming_the_field(hours: object) -> None:
    with pytest.raises(InvalidValue) as refused:
        validate_hours(hours)
    assert refused.value.field == "hours"


def new_log(person: UUID, hours: str = "2") -> TimeLog:
    return TimeLog.create(id=uuid4(), organization_id=uuid4(), project_id=uuid4(),
                          task_id=uuid4(), person_id=person, work_date=date(2024, 5, 1),
                          hours=Decimal(hours), meta=META, description="review")


def test_edit_carries_previous_values_and_only_the_owner_may_edit() -> None:
    ann = uuid4()
    log = new_log(ann)
    with pytest.raises(Forbidden):
        log.edit(uuid4(), META, hours=Decimal(3))
    log.edit(ann, META, hours=Decimal(3), work_date=date(2024, 5, 2))
    edited = log.pending_events[-1]
    assert (edited.previous_hours, edited.previous_work_date) == (Decimal(2), date(2024, 5, 1))
    assert (log.hours, log.work_date) == (Decimal("3.00"), date(2024, 5, 2))
    version = log.version
    log.edit(ann, META, hours=Decimal("3.00"))
    assert log.version == version  # no change, no event


def test_delete_is_soft_and_final() -> None:
    ann = uuid4()
    log = new_log(ann)
    with pytest.raises(Forbidden):
        log.delete(uuid4(), META)
    log.delete(ann, META)
    assert log.deleted
    with pytest.raises(TimeLogDeleted):
        log.edit(ann, META, description="again")
    with pytest.raises(TimeLogDeleted):
        log.delete(ann, META)


@pytest.mark.parametrize("field,changes", [
    ("work_date", {"work_date": datetime(2024, 5, 1, 12)}),
    ("work_date", {"work_date": "2024-05-01"}),
    ("description", {"description": "x" * 2001}),
    ("hours", {"hours": Decimal(0)}),
    ("colour", {"colour": "red"}),
])
def test_bad_edits_name_the_field(field: str, changes: dict) -> None:
    ann = uuid4()
    log = new_log(ann)
    with pytest.raises(InvalidValue) as refused:
        log.edit(ann, META, **changes)
    assert refused.value.field == field
