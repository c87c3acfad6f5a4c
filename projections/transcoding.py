"""How values are written as JSON in the log and wherever a consumer keeps an
aggregate's state: the library's transcodings (ids, decimals, times) plus dates. One
definition, so the event store and the timeline's kept states read the same values."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.domain import Snapshot
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Transcoding,
    UUIDAsHex,
)


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


def state_transcoder() -> JSONTranscoder:
    """A transcoder for everything an aggregate holds (the application's, see
    vistone/app.py ``register_transcodings``)."""
    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO(), DateAsISO()):
        transcoder.register(transcoding)
    return transcoder


class KeptState:
    """An aggregate's state as a consumer keeps it between events (the timeline, the
    search index): (topic, encoded state) out, the aggregate back in, ready for its next
    event to mutate — the library's snapshot mechanism, stored in the consumer's table."""

    def __init__(self) -> None:
        self._transcoder = state_transcoder()

    def keep(self, aggregate: Any) -> tuple[str, bytes]:
        snapshot = Snapshot.take(aggregate)
        return snapshot.topic, self._transcoder.encode(snapshot.state)

    def restore(self, aggregate_id: UUID, topic: str, version: int, state: bytes) -> Any:
        return Snapshot(originator_id=aggregate_id, originator_version=version,  # type: ignore[call-arg]
                        timestamp=Snapshot.create_timestamp(), topic=topic,
                        state=self._transcoder.decode(state)).mutate(None)
