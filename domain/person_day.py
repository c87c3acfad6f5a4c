"""PersonDay: the ledger of one person's hours on one calendar date.

Consistency boundary of the rule "one person's total for one date never exceeds 24
hours". Its id is derived from (person, date), so every command that logs, changes,
moves or deletes time of that person on that date writes this one aggregate in the
same atomic append as the TimeLog. Two concurrent requests both try to write the
ledger's next version; the event store lets one in and the other re-decides on the
fresh total (vistone/app.py), so the rule holds under concurrency without a lock.
The ledger spans organizations: a person has 24 hours a day, wherever they log them.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.base import NotFound, RuleViolation, derived_id
from domain.timelog import MAX_HOURS_PER_DAY, validate_hours


def person_day_id(person_id: UUID, work_date: date) -> UUID:
    return derived_id("person-day", person_id, work_date.isoformat())


class DailyLimitExceeded(RuleViolation):
    code = "daily-limit-exceeded"

    def __init__(self, work_date: date, hours_left: Decimal) -> None:
        super().__init__(
            f"this would log more than {MAX_HOURS_PER_DAY} hours on {work_date.isoformat()}; "
            f"{hours_left} hours are left on that date",
            field="hours",
        )
        self.work_date = work_date
        self.hours_left = hours_left


class PersonDay(Aggregate):
    # The ledger behind the 24-hours rule; the time logs are the activity.
    INTERNAL = True

    @event("Opened")
    def __init__(self, id: UUID, person_id: UUID, work_date: date, meta: dict) -> None:
        self.person_id = person_id
        self.work_date = work_date
        # time log id (str, snapshot-safe) -> hours
        self.entries: dict[str, Decimal] = {}

    @classmethod
    def open(cls, person_id: UUID, work_date: date, meta: dict) -> PersonDay:
        return cls(id=person_day_id(person_id, work_date), person_id=person_id,
                   work_date=work_date, meta=meta)

    @property
    def total(self) -> Decimal:
        return sum(self.entries.values(), Decimal(0))

    @property
    def hours_left(self) -> Decimal:
        return MAX_HOURS_PER_DAY - self.total

    def _require_room(self, hours: Decimal, freed: Decimal = Decimal(0)) -> None:
        if self.total - freed + hours > MAX_HOURS_PER_DAY:
            raise DailyLimitExceeded(self.work_date, self.hours_left + freed)

    def reserve(self, time_log_id: UUID, hours: Decimal, meta: dict) -> None:
        hours = validate_hours(hours)
        if str(time_log_id) in self.entries:
            raise RuleViolation(f"time log {time_log_id} already holds hours on this date")
        self._require_room(hours)
        self._reserved(time_log_id=str(time_log_id), hours=hours, meta=meta)

    @event("Reserved")
    def _reserved(self, time_log_id: str, hours: Decimal, meta: dict) -> None:
        self.entries[time_log_id] = hours

    def change(self, time_log_id: UUID, hours: Decimal, meta: dict) -> None:
        hours = validate_hours(hours)
        current = self._entry(time_log_id)
        if hours == current:
            return
        self._require_room(hours, freed=current)
        self._changed(time_log_id=str(time_log_id), hours=hours, meta=meta)

    @event("Changed")
    def _changed(self, time_log_id: str, hours: Decimal, meta: dict) -> None:
        self.entries[time_log_id] = hours

    def release(self, time_log_id: UUID, meta: dict) -> None:
        self._entry(time_log_id)
        self._released(time_log_id=str(time_log_id), meta=meta)

    @event("Released")
    def _released(self, time_log_id: str, meta: dict) -> None:
        del self.entries[time_log_id]

    def _entry(self, time_log_id: UUID) -> Decimal:
        hours = self.entries.get(str(time_log_id))
        if hours is None:
            raise NotFound(f"time log {time_log_id} holds no hours on "
                           f"{self.work_date.isoformat()}")
        return hours
