"""The events a consuming service handles, each with the payload model it expects."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from shared.events.envelope import Envelope, envelope_type

P = TypeVar("P", bound=BaseModel)
Handler = Callable[[AsyncSession, Envelope[P]], Awaitable[None]]
# Runs its own transactions (around a slow external call) and is idempotent by itself.
TaskHandler = Callable[[Envelope[P]], Awaitable[None]]


@dataclass(frozen=True)
class Route(Generic[P]):
    envelope: type[Envelope[P]]
    handler: Handler[P] | None = None
    task: TaskHandler[P] | None = None
    # The handler's one statement runs in autocommit, with no inbox row (`autocommit`).
    autocommit: bool = False
    # The version of the producer's declared event this handler is written against.
    version: int = 1

    def parse(self, envelope_json: str) -> Envelope[P]:
        return self.envelope.model_validate_json(envelope_json)


class EventHandlers:
    """Handler registry of a consumer group, and the event types it knows it does not need.

    A type that is neither handled nor `ignore`d is unknown: the consumer counts it in
    `shop_events_unknown_total{stream, type}`, logs it at warning and acknowledges it
    (docs/events.md, "Event contracts"). tests/test_event_contracts.py checks every
    registry against the producers' declared catalogs.

    handlers = EventHandlers()

    @handlers.on("catalog.StockReserved", StockReserved)
    async def on_stock_reserved(session: AsyncSession, event: Envelope[StockReserved]): ...

    The payload model is the consumer's own (a service never imports another), so it
    declares only the fields it reads and ignores the rest.
    """

    def __init__(self) -> None:
        self._routes: dict[str, Route[Any]] = {}
        self._ignored: set[str] = set()

    def on(
        self, event_type: str, payload: type[P], *, version: int = 1
    ) -> Callable[[Handler[P]], Handler[P]]:
        def register(handler: Handler[P]) -> Handler[P]:
            self._add(event_type, Route(envelope_type(payload), handler=handler, version=version))
            return handler

        return register

    def ignore(self, *event_types: str) -> None:
        """Types the producer publishes on the stream that this group does not need: acked
        as `ignored`, not counted as unknown."""
        for event_type in event_types:
            if event_type in self._routes:
                raise ValueError(f"{event_type} has a handler")
            self._ignored.add(event_type)

    def task(
        self, event_type: str, payload: type[P], *, version: int = 1
    ) -> Callable[[TaskHandler[P]], TaskHandler[P]]:
        """Register a handler that owns its transactions: the consumer opens none and
        writes no inbox row for it, so it must be idempotent on its own (a state machine
        row it locks), and the entry is acknowledged only once it returns. For work
        around a slow call (a payment provider) that must hold no connection meanwhile."""

        def register(handler: TaskHandler[P]) -> TaskHandler[P]:
            self._add(event_type, Route(envelope_type(payload), task=handler, version=version))
            return handler

        return register

    def autocommit(
        self, event_type: str, payload: type[P], *, version: int = 1
    ) -> Callable[[Handler[P]], Handler[P]]:
        """Register a handler of one statement that is idempotent by itself (an upsert
        that keeps the newest version, an insert that ignores a repeat): the consumer runs
        it on a session in autocommit and writes no inbox row, so an event costs one round
        trip instead of four (BEGIN, the inbox row, the statement, COMMIT). Like a task,
        it runs as it comes, before its batch's transaction: its effect must not depend on
        the order of events. A second statement would commit apart from the first."""

        def register(handler: Handler[P]) -> Handler[P]:
            route = Route(envelope_type(payload), handler=handler, autocommit=True, version=version)
            self._add(event_type, route)
            return handler

        return register

    def _add(self, event_type: str, route: Route[Any]) -> None:
        if event_type in self._routes:
            raise ValueError(f"{event_type} already has a handler")
        if event_type in self._ignored:
            raise ValueError(f"{event_type} is ignored")
        self._routes[event_type] = route

    def route(self, event_type: str) -> Route[Any] | None:
        return self._routes.get(event_type)

    def ignores(self, event_type: str) -> bool:
        return event_type in self._ignored

    @property
    def event_types(self) -> list[str]:
        return sorted(self._routes)

    @property
    def subscriptions(self) -> dict[str, int]:
        """Each handled event type and the version its handler expects."""
        return {event_type: self._routes[event_type].version for event_type in self.event_types}

    @property
    def ignored(self) -> list[str]:
        return sorted(self._ignored)
