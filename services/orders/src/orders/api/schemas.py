"""Request and response bodies of the orders API."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
)
from sqlalchemy import Row

from orders.db.tables import Cart, CartItem, Wishlist, WishlistItem
from orders.domain import money
from orders.domain.carts import MAX_QUANTITY
from orders.domain.status import OrderStatus
from shared.api.ids import BodyId

Quantity = Annotated[int, Field(ge=1, le=MAX_QUANTITY, strict=True)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
# Money leaves the service as a string with exactly two places: "0.90", never 0.9.
Money = Annotated[
    Decimal,
    PlainSerializer(lambda d: str(d.quantize(money.CENT)), return_type=str),
    WithJsonSchema({"type": "string", "format": "decimal", "examples": ["12000.99"]}),
]


class CartItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cart_id: BodyId
    product_id: BodyId
    quantity: Quantity


class QuantityPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    quantity: Quantity


class CartLineOut(BaseModel):
    """A cart line, priced at the product's current price."""

    id: int
    cart_id: int
    product_id: int
    name: str
    unit_price: Money
    quantity: int
    line_total: Money
    available: bool = Field(description="False once the product is withdrawn from sale.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, item: CartItem) -> CartLineOut:
        return cls(
            id=item.id,
            cart_id=item.cart_id,
            product_id=item.product_id,
            name=item.product.name,
            unit_price=item.product.price,
            quantity=item.quantity,
            line_total=money.line_total(item.product.price, item.quantity),
            available=item.product.active,
            created_at=item.created_at,
            updated_at=item.updated_at,
        )


class CartOut(BaseModel):
    id: int
    user_id: int
    status: str
    items: list[CartLineOut]
    total: Money
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, cart: Cart) -> CartOut:
        lines = [CartLineOut.of(i) for i in cart.items]
        return cls(
            id=cart.id,
            user_id=cart.user_id,
            status=cart.status,
            items=lines,
            total=money.total(line.line_total for line in lines),
            created_at=cart.created_at,
            updated_at=cart.updated_at,
        )


class WishlistIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name


class WishlistItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    wishlist_id: BodyId
    product_id: BodyId


class WishlistItemOut(BaseModel):
    id: int
    wishlist_id: int
    product_id: int
    name: str
    price: Money
    available: bool
    created_at: datetime

    @classmethod
    def of(cls, item: WishlistItem) -> WishlistItemOut:
        return cls(
            id=item.id,
            wishlist_id=item.wishlist_id,
            product_id=item.product_id,
            name=item.product.name,
            price=item.product.price,
            available=item.product.active,
            created_at=item.created_at,
        )


class WishlistOut(BaseModel):
    id: int
    user_id: int
    name: str
    items: list[WishlistItemOut]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, wishlist: Wishlist) -> WishlistOut:
        return cls(
            id=wishlist.id,
            user_id=wishlist.user_id,
            name=wishlist.name,
            items=[WishlistItemOut.of(i) for i in wishlist.items],
            created_at=wishlist.created_at,
            updated_at=wishlist.updated_at,
        )


class OrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cart_id: BodyId | None = Field(
        default=None, description="Order this cart's contents; without it, start a draft."
    )


class OrderItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    order_id: BodyId
    product_id: BodyId
    quantity: Quantity


class OrderLineOut(BaseModel):
    """An order line: the name and price the product had when it was ordered."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    order_id: int
    product_id: int
    name: str
    quantity: int
    unit_price: Money
    line_total: Money


class OrderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    user_id: int
    status: OrderStatus
    total_amount: Money
    currency: str
    cancel_reason: str | None
    expires_at: datetime | None = Field(description="Unpaid orders are cancelled after this.")
    items: list[OrderLineOut]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, order: Row[Any], lines: Sequence[Any]) -> OrderOut:
        """From a row of `orders` and its lines (rows of `orders.lines_of`, or lines)."""
        return cls(
            id=order.id,
            user_id=order.user_id,
            status=OrderStatus(order.status),
            total_amount=order.total_amount,
            currency=order.currency,
            cancel_reason=order.cancel_reason,
            expires_at=order.expires_at,
            items=[OrderLineOut.model_validate(line) for line in lines],
            created_at=order.created_at,
            updated_at=order.updated_at,
        )

    @classmethod
    def of_rows(cls, rows: Sequence[Row[Any]]) -> OrderOut:
        """From `orders.read`'s rows: the order's columns on each, a line's on each but
        the one of an order without lines."""
        order = rows[0]
        lines = [
            OrderLineOut(
                id=row.line_id,
                order_id=order.id,
                product_id=row.product_id,
                name=row.name,
                quantity=row.quantity,
                unit_price=row.unit_price,
                line_total=row.line_total,
            )
            for row in rows
            if row.line_id is not None
        ]
        return cls.of(order, lines)
