"""Shopping cart use cases: one open cart per user, lines priced from the product replica."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from orders.db import carts, replicas
from orders.db.tables import Cart, CartItem, ProductReplica
from orders.domain.access import can_read
from orders.domain.limits import LimitReached, Limits
from shared import shop_metrics
from shared.auth import Principal
from shared.errors import NotFound, Unprocessable

MAX_QUANTITY = 1000


async def open_cart(session: AsyncSession, user: Principal) -> tuple[Cart, bool]:
    """The user's open cart, and whether it was created just now."""
    return await carts.open_cart(session, user.id)


async def get(session: AsyncSession, user: Principal, cart_id: int) -> Cart:
    cart = await carts.get(session, cart_id, with_lines=True)
    if cart is None or not can_read(user, cart.user_id):
        raise NotFound("No such shopping cart.")
    return cart


async def orderable_product(session: AsyncSession, product_id: int) -> ProductReplica:
    """A product that can be bought now; 422 (naming `product_id`) otherwise."""
    product = await replicas.get_product(session, product_id)
    if product is None or not product.active:
        raise not_for_sale()
    return product


def not_for_sale() -> Unprocessable:
    return Unprocessable("No such product for sale.", loc=("body", "product_id"))


async def add_item(
    session: AsyncSession,
    user: Principal,
    *,
    cart_id: int,
    product_id: int,
    quantity: int,
    limits: Limits,
) -> tuple[CartItem, bool]:
    """Put units of a product in the cart (adding to a line already there): the line, and
    whether it is new; 409 if it would be a line more than the cart may hold."""
    # Adds lock the cart exclusively, so that two adds cannot both take the last line.
    if await carts.lock_owner(session, cart_id) != user.id:
        raise NotFound("No such shopping cart.")
    product = await carts.line_product(session, cart_id=cart_id, product_id=product_id)
    if product is None or not product.active:
        raise not_for_sale()
    if product.other_lines >= limits.cart_lines:
        raise LimitReached(
            f"A shopping cart holds at most {limits.cart_lines} different products.",
            limit="max_cart_lines",
            maximum=limits.cart_lines,
        )
    added = await carts.add_item(
        session,
        cart_id=cart_id,
        product_id=product_id,
        quantity=quantity,
        max_quantity=MAX_QUANTITY,
    )
    if added is None:
        raise Unprocessable(
            f"A cart line holds at most {MAX_QUANTITY} units.", loc=("body", "quantity")
        )
    shop_metrics.count(session, shop_metrics.CART_ADDS)
    # The answer from what the statements returned, not a read of the line again: a
    # line as a read would load it, held by no session.
    item = CartItem(
        id=added.id,
        cart_id=cart_id,
        product_id=product_id,
        quantity=added.quantity,
        created_at=added.created_at,
        updated_at=added.updated_at,
    )
    set_committed_value(
        item,
        "product",
        ProductReplica(
            product_id=product_id, name=product.name, price=product.price, active=product.active
        ),
    )
    return item, added.inserted


async def get_item(session: AsyncSession, user: Principal, item_id: int) -> CartItem:
    item = await carts.get_item(session, item_id)
    if item is None or not can_read(user, item.cart.user_id):
        raise NotFound("No such cart item.")
    return item


async def _own_item(session: AsyncSession, user: Principal, item_id: int) -> CartItem:
    item = await carts.get_item(session, item_id, lock=True)
    if item is None or item.cart.user_id != user.id:
        raise NotFound("No such cart item.")
    return item


async def set_quantity(
    session: AsyncSession, user: Principal, item_id: int, *, quantity: int
) -> CartItem:
    item = await _own_item(session, user, item_id)
    item.quantity = quantity
    await session.flush()
    return item


async def remove_item(session: AsyncSession, user: Principal, item_id: int) -> None:
    item = await _own_item(session, user, item_id)
    await session.delete(item)
    await session.flush()
