"""Every event the catalog publishes (stream `catalog.events`). The schemas are the docs."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, Field

from shared.events.envelope import EventCatalog, EventPayload

events = EventCatalog("catalog")


class ProductState(EventPayload):
    """The whole public state of a product, so a replica needs no earlier event."""

    product_id: int
    name: str
    price: Decimal = Field(description="Decimal string with two places.")
    stock_quantity: int
    category_id: int
    active: bool


@events.declare(version=1)
class ProductCreated(ProductState):
    """A product was added to the shop."""


@events.declare(version=1)
class ProductUpdated(ProductState):
    """A product's name, price, stock or category changed (by staff)."""


@events.declare(version=1)
class ProductDeleted(EventPayload):
    """A product left the shop; orders for it can no longer be placed."""

    product_id: int


class StockLine(BaseModel):
    product_id: int
    quantity: int


class ShortLine(BaseModel):
    product_id: int
    requested: int
    available: int = Field(description="0 for a product that does not exist (any more).")


@events.declare(version=1)
class StockReserved(EventPayload):
    """Every line of the order is held for it until it is paid or cancelled."""

    order_id: int
    lines: list[StockLine]


@events.declare(version=1)
class StockRejected(EventPayload):
    """Nothing was reserved: at least one line could not be served."""

    order_id: int
    reason: str
    short_lines: list[ShortLine]
