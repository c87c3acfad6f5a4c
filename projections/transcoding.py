"""How values are written as JSON in the log and wherever a consumer keeps an
aggregate's state: the library's transcodings (ids, decimals, times) plus dates. One
definition, so the event store and the timeline's kept states read the same values."""

from __future__ import annotations

from datetime import date

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
