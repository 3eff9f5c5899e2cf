"""The events a consuming service handles, each with the payload model it expects."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from shared.events.envelope import Envelope

P = TypeVar("P", bound=BaseModel)
Handler = Callable[[AsyncSession, Envelope[P]], Awaitable[None]]
# Runs its own transactions (around a slow external call) and is idempotent by itself.
TaskHandler = Callable[[Envelope[P]], Awaitable[None]]


@dataclass(frozen=True)
class Route(Generic[P]):
    envelope: type[Envelope[P]]
    handler: Handler[P] | None = None
    task: TaskHandler[P] | None = None

    def parse(self, envelope_json: str) -> Envelope[P]:
        return self.envelope.model_validate_json(envelope_json)


class EventHandlers:
    """Handler registry; a consumer acknowledges event types nobody registered.

    handlers = EventHandlers()

    @handlers.on("catalog.StockReserved", StockReserved)
    async def on_stock_reserved(session: AsyncSession, event: Envelope[StockReserved]): ...

    The payload model is the consumer's own (a service never imports another), so it
    declares only the fields it reads and ignores the rest.
    """

    def __init__(self) -> None:
        self._routes: dict[str, Route[Any]] = {}

    def on(self, event_type: str, payload: type[P]) -> Callable[[Handler[P]], Handler[P]]:
        def register(handler: Handler[P]) -> Handler[P]:
            if event_type in self._routes:
                raise ValueError(f"{event_type} already has a handler")
            self._routes[event_type] = Route(Envelope[payload], handler=handler)  # type: ignore[valid-type]
            return handler

        return register

    def task(self, event_type: str, payload: type[P]) -> Callable[[TaskHandler[P]], TaskHandler[P]]:
        """Register a handler that owns its transactions: the consumer opens none and
        writes no inbox row for it, so it must be idempotent on its own (a state machine
        row it locks), and the entry is acknowledged only once it returns. For work
        around a slow call (a payment provider) that must hold no connection meanwhile."""

        def register(handler: TaskHandler[P]) -> TaskHandler[P]:
            if event_type in self._routes:
                raise ValueError(f"{event_type} already has a handler")
            self._routes[event_type] = Route(Envelope[payload], task=handler)  # type: ignore[valid-type]
            return handler

        return register

    def route(self, event_type: str) -> Route[Any] | None:
        return self._routes.get(event_type)

    @property
    def event_types(self) -> list[str]:
        return sorted(self._routes)
