"""TimeLog: hours one person spent on one task on one calendar date.

The 24-hours-per-day rule is not checked here: it spans every log of a person on a
date, so it lives in the PersonDay ledger (domain/person_day.py), which a command saves
together with the TimeLog in one atomic append.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.base import Forbidden, InvalidValue, NotFound, optional_text
from domain.values import decimal_amount

MAX_HOURS_PER_DAY = Decimal(24)
HOURS_QUANTUM = Decimal("0.01")
MAX_DESCRIPTION = 2000


def validate_hours(hours: Any) -> Decimal:
    """0.01 to 24, at most two decimal places (the shared amount rule, domain/values.py);
    stored as e.g. ``Decimal('1.50')``."""
    value = decimal_amount(hours, "hours", places=2, minimum=HOURS_QUANTUM,
                           maximum=MAX_HOURS_PER_DAY)
    return value.quantize(HOURS_QUANTUM)


def validate_work_date(work_date: Any) -> date:
    # datetime is a date subclass; a timestamp is not a calendar date.
    if not isinstance(work_date, date) or isinstance(work_date, datetime):
        raise InvalidValue("work_date must be a calendar date (YYYY-MM-DD)", field="work_date")
    return work_date


def validate_description(description: Any) -> str | None:
    return optional_text(description, "description", max_length=MAX_DESCRIPTION)


class TimeLogDeleted(NotFound):
    code = "time-log-deleted"


class NotYourTimeLog(Forbidden):
    code = "not-your-time-log"


class TimeLog(Aggregate):
    @event("Logged")
    def __init__(
        self,
        id: UUID,
        organization_id: UUID,
        project_id: UUID,
        task_id: UUID,
        person_id: UUID,
        work_date: date,
        hours: Decimal,
        description: str | None,
        meta: dict,
    ) -> None:
        self.organization_id = organization_id
        self.project_id = project_id
        self.task_id = task_id
        self.person_id = person_id
        self.work_date = work_date
        self.hours = hours
        self.description = description
        self.deleted = False

    @classmethod
    def create(
        cls,
        id: UUID,
        organization_id: UUID,
        project_id: UUID,
        task_id: UUID,
        person_id: UUID,
        work_date: date,
        hours: Decimal,
        meta: dict,
        description: str | None = None,
    ) -> TimeLog:
        return cls(
            id=id,
            organization_id=organization_id,
            project_id=project_id,
            task_id=task_id,
            person_id=person_id,
            work_date=validate_work_date(work_date),
            hours=validate_hours(hours),
            description=validate_description(description),
            meta=meta,
        )

    def _require_owner_and_live(self, actor_id: UUID) -> None:
        if self.deleted:
            raise TimeLogDeleted(f"time log {self.id} has been deleted")
        if actor_id != self.person_id:
            raise NotYourTimeLog("only the person who logged the time may change it")

    def edit(self, actor_id: UUID, meta: dict, **changes: Any) -> None:
        """Change any of hours, work_date, description; only the fields given change."""
        self._require_owner_and_live(actor_id)
        unknown = set(changes) - {"hours", "work_date", "description"}
        if unknown:
            raise InvalidValue(f"unknown field(s): {', '.join(sorted(unknown))}",
                               field=sorted(unknown)[0])
        hours = validate_hours(changes["hours"]) if "hours" in changes else self.hours
        work_date = (validate_work_date(changes["work_date"]) if "work_date" in changes
                     else self.work_date)
        description = (validate_description(changes["description"])
                       if "description" in changes else self.description)
        if (hours, work_date, description) == (self.hours, self.work_date, self.description):
            return
        # The previous hours and date travel with the event so that totals can be
        # moved incrementally by anyone reading the log (projections, Kafka consumers).
        self._edited(hours=hours, work_date=work_date, description=description,
                     previous_hours=self.hours, previous_work_date=self.work_date, meta=meta)

    @event("Edited")
    def _edited(self, hours: Decimal, work_date: date, description: str | None,
                previous_hours: Decimal, previous_work_date: date, meta: dict) -> None:
        self.hours = hours
        self.work_date = work_date
        self.description = description

    def delete(self, actor_id: UUID, meta: dict) -> None:
        self._require_owner_and_live(actor_id)
        self._deleted(hours=self.hours, work_date=self.work_date, meta=meta)

    @event("Deleted")
    def _deleted(self, hours: Decimal, work_date: date, meta: dict) -> None:
        # A flag, not a time: during apply, modified_on still holds the previous
        # event's time. Read models take the deletion time from the event.
        self.deleted = True
