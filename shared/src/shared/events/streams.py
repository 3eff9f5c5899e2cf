"""Stream names, the fields of a stream entry, and stream id arithmetic."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def events_stream(service: str) -> str:
    """The stream a service publishes to."""
    return f"{service}.events"


def dead_letter_stream(service: str) -> str:
    """Where a consuming service parks entries that keep failing."""
    return f"{service}.dead-letter"


def entry_fields(*, event_id: str, event_type: str, envelope_json: str) -> dict[str, str]:
    """Fields of a stream entry: the envelope, plus id and type for inspection with redis-cli."""
    return {"event_id": event_id, "type": event_type, "envelope": envelope_json}


@dataclass(frozen=True)
class StreamEntry:
    """One entry read from a stream; `fields` is None when it was trimmed while pending."""

    id: str
    fields: dict[str, str] | None

    @property
    def event_id(self) -> str:
        return (self.fields or {}).get("event_id", "")

    @property
    def event_type(self) -> str:
        return (self.fields or {}).get("type", "")

    @property
    def envelope_json(self) -> str:
        return (self.fields or {}).get("envelope", "")


def parse_entries(raw: Any) -> list[StreamEntry]:
    """Entries from redis-py's `[(id, fields), ...]` (XRANGE, one stream of XREADGROUP)."""
    return [StreamEntry(id=entry_id, fields=fields or None) for entry_id, fields in raw or []]


def parse_id(stream_id: str) -> tuple[int, int]:
    millis, _, sequence = stream_id.partition("-")
    return int(millis), int(sequence or 0)


def format_id(parsed: tuple[int, int]) -> str:
    return f"{parsed[0]}-{parsed[1]}"
