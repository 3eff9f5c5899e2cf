"""What the fold writes (one `Fold` per event) and what the stores read back."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal
from uuid import UUID


@dataclass(frozen=True, slots=True)
class Line:
    product_id: int
    name: str
    quantity: int
    unit_price: Decimal


@dataclass(frozen=True, slots=True)
class Placement:
    """Written once, by `OrderPlaced`: the order's place in its user's list."""

    placed_at: datetime
    lines: tuple[Line, ...]


@dataclass(frozen=True, slots=True)
class OrderCells:
    """The order's state after an orders event; the newest event's cells win."""

    status: str
    total: Decimal
    currency: str


@dataclass(frozen=True, slots=True)
class PaymentCells:
    """The latest payment's summary after a payments event; the newest event's cells win."""

    outcome: Literal["succeeded", "failed", "refunded"]
    method: str
    card_brand: str | None
    card_last4: str | None


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    occurred_at: datetime
    event_id: UUID
    event_type: str
    status: str | None
    detail: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Fold:
    """Every write one event causes; applying it twice, or in any order, ends the same.

    `written_at` (the event's full-precision time) with `event_id` is the version of the
    cells the fold writes: a store keeps, per group of cells, those of the greatest version.
    """

    order_id: int
    user_id: int
    event_id: UUID
    written_at: datetime
    entry: TimelineEntry
    placement: Placement | None = None
    order: OrderCells | None = None
    payment: PaymentCells | None = None


@dataclass(frozen=True, slots=True)
class PaymentSummary:
    outcome: str
    method: str
    card_brand: str | None
    card_last4: str | None


@dataclass(frozen=True, slots=True)
class OrderSummary:
    """One order of a user's history list."""

    order_id: int
    user_id: int
    placed_at: datetime
    status: str | None
    total: Decimal | None
    currency: str | None
    lines: tuple[Line, ...]
    payment: PaymentSummary | None
    last_event_at: datetime


@dataclass(frozen=True, slots=True)
class Timeline:
    order_id: int
    user_id: int
    entries: tuple[TimelineEntry, ...]


@dataclass(frozen=True, slots=True)
class PageKey:
    """Where a page of a user's list starts: the edge row's clustering key."""

    placed_at: datetime
    order_id: int


@dataclass(frozen=True, slots=True)
class OrdersPage:
    """Rows newest first; `has_more` tells whether rows lie beyond them in the walk's direction."""

    orders: list[OrderSummary]
    has_more: bool


@dataclass(frozen=True, slots=True)
class ProjectedState:
    """The projection's view of one order, for the drift check."""

    order_id: int
    placed: bool
    status: str | None
    total: Decimal | None
