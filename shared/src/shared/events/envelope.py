"""The event envelope, typed payloads, and the per-service catalog of published events."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, TypeVar
from uuid import UUID, uuid4

from asgi_correlation_id import correlation_id
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


class EventPayload(BaseModel):
    """Base of the payload of every published event; `EventCatalog.declare` names it."""

    # In the published schema every field is required: a serialised event always has it.
    model_config = ConfigDict(frozen=True, json_schema_serialization_defaults_required=True)

    event_type: ClassVar[str] = ""
    event_version: ClassVar[int] = 0
    event_producer: ClassVar[str] = ""


PayloadT = TypeVar("PayloadT", bound=BaseModel)
EventPayloadT = TypeVar("EventPayloadT", bound=EventPayload)


def _now() -> datetime:
    return datetime.now(UTC)


def _current_request_id() -> str | None:
    # Set by CorrelationIdMiddleware in requests, and by the consumer while handling an event.
    request_id: str | None = correlation_id.get()
    return request_id


class Envelope(BaseModel, Generic[PayloadT]):
    """What travels on a stream: identity, provenance and a typed payload."""

    # In the published schema every field is required: a serialised event always has it.
    model_config = ConfigDict(frozen=True, json_schema_serialization_defaults_required=True)

    event_id: UUID = Field(default_factory=uuid4)
    type: str
    version: int = Field(ge=1)
    occurred_at: AwareDatetime = Field(default_factory=_now)
    producer: str
    correlation_id: str | None = Field(default_factory=_current_request_id)
    aggregate_id: str
    payload: PayloadT


@functools.cache
def envelope_type(kind: type[BaseModel]) -> type[Envelope[Any]]:
    """`Envelope[kind]`, built once per payload class and kept. pydantic keeps the
    classes it parametrizes only weakly: once an event was written and dropped, the next
    garbage collection took its class, and the next event of that kind built it again
    (about 2 ms of CPU, in every placement and every saga step: docs/events.md)."""
    return Envelope[kind]  # type: ignore[valid-type]


def new_event(
    payload: EventPayloadT,
    *,
    aggregate_id: str | int,
    correlation_id: str | None = None,
) -> Envelope[EventPayloadT]:
    """Wrap a declared payload; the request id of the current request is the default."""
    kind = type(payload)
    if not kind.event_type:
        raise TypeError(f"{kind.__name__} is not declared in an EventCatalog")
    extra: dict[str, Any] = {} if correlation_id is None else {"correlation_id": correlation_id}
    envelope: Envelope[EventPayloadT] = envelope_type(kind)(
        type=kind.event_type,
        version=kind.event_version,
        producer=kind.event_producer,
        aggregate_id=str(aggregate_id),
        payload=payload,
        **extra,
    )
    return envelope


class EventCatalog:
    """The events one service publishes, declared in one module (`<svc>/events/published.py`).

    catalog = EventCatalog("users")

    @catalog.declare(version=1)
    class UserRegistered(EventPayload):
        user_id: int
    """

    def __init__(self, producer: str) -> None:
        self.producer = producer
        self._events: dict[tuple[str, int], type[EventPayload]] = {}

    def declare(
        self, *, version: int = 1, name: str | None = None
    ) -> Callable[[type[EventPayloadT]], type[EventPayloadT]]:
        """Register a payload class as event `<producer>.<name or class name>` v`version`."""

        def register(cls: type[EventPayloadT]) -> type[EventPayloadT]:
            event_type = f"{self.producer}.{name or cls.__name__}"
            if (event_type, version) in self._events:
                raise ValueError(f"{event_type} v{version} is declared twice")
            cls.event_type, cls.event_version = event_type, version
            cls.event_producer = self.producer
            self._events[(event_type, version)] = cls
            return cls

        return register

    @property
    def events(self) -> list[type[EventPayload]]:
        return [self._events[key] for key in sorted(self._events)]

    def json_schemas(self) -> list[dict[str, Any]]:
        """One JSON Schema per declared event: the envelope with that payload."""
        return [_event_schema(cls) for cls in self.events]


def _event_schema(cls: type[EventPayload]) -> dict[str, Any]:
    # Serialization mode: what consumers receive, where defaulted fields are always present.
    schema = envelope_type(cls).model_json_schema(mode="serialization")
    schema["title"] = f"{cls.event_type} v{cls.event_version}"
    if cls.__doc__:
        schema["description"] = cls.__doc__.strip()
    # Pin the discriminating fields so a validator rejects a mislabelled event.
    schema["properties"]["type"]["const"] = cls.event_type
    schema["properties"]["version"]["const"] = cls.event_version
    return {
        "type": cls.event_type,
        "version": cls.event_version,
        "producer": cls.event_producer,
        "schema": schema,
    }


def export_json_schemas(catalogs: Iterable[EventCatalog]) -> dict[str, Any]:
    """Every declared event of the given services, as one document for integrators."""
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "events": [entry for catalog in catalogs for entry in catalog.json_schemas()],
    }
