"""Time travel: any aggregate as it was at a version, or at a moment, read from the log.

The state at version N is the library's own reconstruction (``repository.get(id,
version=N)``: the latest snapshot at or before N, then the events up to N), so it is what
folding the first N events gives. A moment is turned into a version through the events'
own timestamps (timezone-aware, UTC, written by the process that recorded them and stored
inside the event), compared as instants: neither this process's time zone nor the
database's has any say in the answer.

Who may read an aggregate is not decided here: the API checks the caller's current
permissions on the read models first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate

from domain.base import InvalidValue, NotFound
from domain.organization import Organization
from domain.state import entity_type, public_state

# Events read per query while looking for the version recorded at a moment.
SCAN_PAGE = 500


class VersionNotRecorded(NotFound):
    """The aggregate has no such version (yet)."""


class NotCreatedYet(NotFound):
    """The moment asked for is before the aggregate's first event."""


@dataclass(frozen=True)
class AggregateAsOf:
    """An aggregate as it was at ``version``, recorded at ``recorded_at``; ``latest``
    is its version now."""

    aggregate: Any
    version: int
    recorded_at: datetime
    latest: int

    @property
    def entity_type(self) -> str:
        return entity_type(type(self.aggregate))

    def organization_id(self) -> UUID | None:
        return organization_of(self.aggregate)

    def answer(self) -> dict[str, Any]:
        """What the API answers: which record, which version, when it was recorded, and
        its fields as JSON."""
        return {
            "entity_type": self.entity_type,
            "id": str(self.aggregate.id),
            "version": self.version,
            "recorded_at": self.recorded_at,
            "state": public_state(self.aggregate),
        }


def organization_of(aggregate: Any) -> UUID | None:
    """The organization an aggregate belongs to: an organization's own id, else its
    ``organization_id`` (None for aggregates of no organization, such as users)."""
    if isinstance(aggregate, Organization):
        return UUID(str(aggregate.id))
    found = getattr(aggregate, "organization_id", None)
    return found if isinstance(found, UUID) else None


def at_version(app: Application[UUID], aggregate_id: UUID, version: int) -> AggregateAsOf:
    """The aggregate as it was at ``version`` (1 is its creation).

    NotFound when there is no such aggregate; VersionNotRecorded when it has not reached
    ``version``."""
    if version < 1:
        raise InvalidValue("the version must be 1 or more", field="as_of_version")
    latest = _latest_event(app, aggregate_id)
    if version > latest.originator_version:
        raise VersionNotRecorded(
            f"version {version} of {aggregate_id} was never recorded: its latest version "
            f"is {latest.originator_version}", field="as_of_version")
    return _load(app, aggregate_id, version, latest.originator_version)


def at_time(app: Application[UUID], aggregate_id: UUID, moment: datetime) -> AggregateAsOf:
    """The aggregate as it was at ``moment`` (timezone-aware): its last version whose
    event was recorded at or before that instant.

    NotFound when there is no such aggregate; NotCreatedYet when ``moment`` is before
    its creation."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        # A time without an offset names no instant: refuse rather than guess a zone.
        raise InvalidValue("the time must say its offset from UTC (Z or +hh:mm)",
                           field="as_of")
    latest = _latest_event(app, aggregate_id)
    version = version_at(app, aggregate_id, moment, latest)
    if version is None:
        raise NotCreatedYet(
            f"{aggregate_id} did not exist yet at {moment.isoformat()}: it was created "
            "later", field="as_of")
    return _load(app, aggregate_id, version, latest.originator_version)


def version_at(app: Application[UUID], aggregate_id: UUID, moment: datetime,
               latest: Any | None = None) -> int | None:
    """The last version of the aggregate whose event was recorded at or before
    ``moment``, or None if none was. Reads back from the newest event, a page at a time:
    a moment close to now (the usual question) costs one small query."""
    newest = latest if latest is not None else _latest_event(app, aggregate_id)
    if newest.timestamp <= moment:
        return int(newest.originator_version)
    upper = newest.originator_version - 1
    while upper >= 1:
        page: list[Any] = list(app.events.get(aggregate_id, lte=upper, desc=True,
                                              limit=SCAN_PAGE))
        for event in page:
            if event.timestamp <= moment:
                return int(event.originator_version)
        if len(page) < SCAN_PAGE:
            return None
        upper = page[-1].originator_version - 1
    return None


def _latest_event(app: Application[UUID], aggregate_id: UUID) -> Any:
    found = next(iter(app.events.get(aggregate_id, desc=True, limit=1)), None)
    if found is None:
        raise NotFound(f"{aggregate_id} not found")
    return found


def _load(app: Application[UUID], aggregate_id: UUID, version: int,
          latest: int) -> AggregateAsOf:
    try:
        aggregate: Aggregate = app.repository.get(aggregate_id, version=version)
    except AggregateNotFoundError:
        raise NotFound(f"{aggregate_id} not found") from None
    # The library answers its latest version for one beyond it: never let that pass as
    # the version asked for.
    assert aggregate.version == version, (aggregate.version, version)
    return AggregateAsOf(aggregate, version, aggregate.modified_on, latest)
