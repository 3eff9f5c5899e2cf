"""Queries on shopping carts and their items."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    Integer,
    Select,
    bindparam,
    delete,
    func,
    literal_column,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import contains_eager, joinedload, selectinload

from orders.db import orders
from orders.db.tables import OPEN_CART, Cart, CartItem, ProductReplica
from shared.db import bound_insert

OPEN = "open"


def _with_lines(stmt: Select[Any]) -> Select[Any]:
    # Two statements for any number of carts: the carts, then all their lines with products.
    return stmt.options(selectinload(Cart.items).joinedload(CartItem.product, innerjoin=True))


async def open_cart(session: AsyncSession, user_id: int) -> tuple[Cart, bool]:
    """The user's open cart and whether this call created it.

    The partial unique index makes this safe under concurrency: a second insert waits for
    the first to commit, then does nothing, and the read after it (a statement of its
    own, so a snapshot taken after that wait) finds the cart the first one made.
    """
    inserted = await session.execute(_OPEN_CART, {"user_id": user_id})
    created_id = inserted.scalar_one_or_none()
    cart = (await session.execute(_OPEN_CART_READ, {"user_id": user_id})).unique().scalar_one()
    return cart, created_id is not None


# Built once, with bound parameters (docs/checkout.md, "Statements built once").
_OPEN_CART = (
    bound_insert(Cart, "user_id")
    .values(status=OPEN)
    # A literal predicate: with a bound parameter PostgreSQL cannot match the partial
    # index once the prepared statement switches to a generic plan.
    .on_conflict_do_nothing(index_elements=["user_id"], index_where=text(OPEN_CART))
    .returning(Cart.__table__.c.id)
)
# One cart: its lines and their products in the same statement (a list of carts loads
# the lines in a second one, `_with_lines`).
_OPEN_CART_READ = (
    select(Cart)
    .where(Cart.user_id == bindparam("user_id"), Cart.status == OPEN)
    .options(joinedload(Cart.items).joinedload(CartItem.product, innerjoin=True))
)


async def get(
    session: AsyncSession, cart_id: int, *, with_lines: bool = False, lock: str | None = None
) -> Cart | None:
    """A cart; `lock` is "update" (checkout) or "share" (editing its lines)."""
    stmt = select(Cart).where(Cart.id == cart_id).execution_options(populate_existing=True)
    if with_lines:
        stmt = _with_lines(stmt)
    if lock is not None:
        stmt = stmt.with_for_update(read=lock == "share")
    return (await session.execute(stmt)).scalar_one_or_none()


def list_stmt(*, owner_id: int | None) -> Select[Any]:
    """Carts with their lines; all of them when `owner_id` is None (staff)."""
    stmt = _with_lines(select(Cart))
    return stmt if owner_id is None else stmt.where(Cart.user_id == owner_id)


@dataclass(frozen=True, slots=True)
class LineProduct:
    """A product about to be put in a cart, and how many other products the cart holds."""

    name: str
    price: Decimal
    active: bool
    other_lines: int


_OTHER_LINES = (
    select(func.count())
    .where(
        CartItem.cart_id == bindparam("cart_id"),
        CartItem.product_id != bindparam("product_id"),
    )
    .scalar_subquery()
)
_LINE_PRODUCT = select(
    ProductReplica.name, ProductReplica.price, ProductReplica.active, _OTHER_LINES
).where(ProductReplica.product_id == bindparam("product_id"))


async def line_product(
    session: AsyncSession, *, cart_id: int, product_id: int
) -> LineProduct | None:
    """The product (None: not in the replica) and the cart's lines of other products, in
    one statement; run it after the cart's lock, so that the count sees every line."""
    params = {"cart_id": cart_id, "product_id": product_id}
    row = (await session.execute(_LINE_PRODUCT, params)).one_or_none()
    return None if row is None else LineProduct(*row)


@dataclass(frozen=True, slots=True)
class AddedLine:
    """A cart line as the upsert left it, and whether it is new."""

    id: int
    quantity: int
    created_at: datetime
    updated_at: datetime
    inserted: bool


async def add_item(
    session: AsyncSession, *, cart_id: int, product_id: int, quantity: int, max_quantity: int
) -> AddedLine | None:
    """Add units of a product: the line, or None if it would then hold more than
    `max_quantity`. One atomic statement: concurrent adds of the same product sum up
    instead of losing one."""
    params = {
        "cart_id": cart_id,
        "product_id": product_id,
        "quantity": quantity,
        "max_quantity": max_quantity,
    }
    row = (await session.execute(_ADD_ITEM, params)).one_or_none()
    return None if row is None else AddedLine(*row)


# Built once, with bound parameters (docs/checkout.md, "Statements built once").
_line = bound_insert(CartItem, "cart_id", "product_id", "quantity")
_summed = CartItem.quantity + _line.excluded.quantity
_ADD_ITEM = _line.on_conflict_do_update(
    constraint="uq_cart_items_cart_product",
    set_={"quantity": _summed, "updated_at": func.now()},
    where=_summed <= bindparam("max_quantity", type_=Integer),
).returning(
    CartItem.id,
    CartItem.quantity,
    CartItem.created_at,
    CartItem.updated_at,
    literal_column("xmax = 0", Boolean).label("inserted"),
)


def _item_stmt() -> Select[CartItem]:
    return (
        select(CartItem)
        .join(CartItem.cart)
        .options(contains_eager(CartItem.cart), joinedload(CartItem.product, innerjoin=True))
        .execution_options(populate_existing=True)
    )


async def get_item(session: AsyncSession, item_id: int, *, lock: bool = False) -> CartItem | None:
    """A cart line with its cart and product; `lock` shares the cart's lock (edits)."""
    stmt = _item_stmt().where(CartItem.id == item_id)
    if lock:
        stmt = stmt.with_for_update(read=True, of=Cart)
    return (await session.execute(stmt)).scalar_one_or_none()


def items_stmt(*, owner_id: int | None, cart_id: int | None = None) -> Select[Any]:
    """Cart lines, with cart and product, in one statement."""
    stmt = _item_stmt()
    if owner_id is not None:
        stmt = stmt.where(Cart.user_id == owner_id)
    if cart_id is not None:
        stmt = stmt.where(CartItem.cart_id == cart_id)
    return stmt


# The checkout's statements are built once, with bound parameters: built per call, each
# is built and given a cache key again every time (docs/checkout.md, "Statements built
# once").
_LOCK_OWNER = select(Cart.user_id).where(Cart.id == bindparam("cart_id")).with_for_update()


async def lock_owner(session: AsyncSession, cart_id: int) -> int | None:
    """Lock a cart for an edit of its lines and answer its owner (None: no such cart)."""
    return (await session.execute(_LOCK_OWNER, {"cart_id": cart_id})).scalar_one_or_none()


_LOCK_FOR_CHECKOUT = (
    select(Cart.user_id, orders.CUSTOMER_LOCK)
    .where(Cart.id == bindparam("cart_id"))
    .with_for_update(of=Cart)
)


async def lock_for_checkout(session: AsyncSession, cart_id: int, *, user_id: int) -> int | None:
    """Lock a cart for checkout, and the placements of `user_id` (`orders.lock_customer`),
    in one round trip; answer the cart's owner (None: no such cart). Two checkouts of one
    cart queue here, and the second finds it empty."""
    params = {"cart_id": cart_id, "customer_lock": orders.customer_lock_name(user_id)}
    return (await session.execute(_LOCK_FOR_CHECKOUT, params)).scalar_one_or_none()


@dataclass(frozen=True, slots=True)
class TakenLine:
    """A cart line taken for an order, with its product as the replica has it now."""

    product_id: int
    quantity: int
    name: str
    price: Decimal
    active: bool


_taken = (
    delete(CartItem)
    .where(CartItem.cart_id == bindparam("cart_id"))
    .returning(CartItem.id, CartItem.product_id, CartItem.quantity)
    .cte("taken")
)
_TAKE_LINES = (
    select(
        _taken.c.product_id,
        _taken.c.quantity,
        ProductReplica.name,
        ProductReplica.price,
        ProductReplica.active,
        orders.UNPAID_COUNT.scalar_subquery(),
    )
    # The lines' foreign key keeps every product they name in the replica.
    .join(ProductReplica, ProductReplica.product_id == _taken.c.product_id)
    .order_by(_taken.c.id)
)


async def take_lines(
    session: AsyncSession, cart_id: int, *, user_id: int
) -> tuple[list[TakenLine], int]:
    """Empty a cart locked by `lock_for_checkout`: its lines in the order they were
    added, and how many orders of `user_id` wait for payment (0 for an empty cart).

    One statement, whose snapshot begins after both locks: it holds every line
    committed before, even one whose edit the lock waited for, and every order of the
    customer's that a placement before it committed. A refused checkout rolls the
    emptying back with everything else."""
    rows = (await session.execute(_TAKE_LINES, {"cart_id": cart_id, "user_id": user_id})).all()
    unpaid = int(rows[0][-1]) if rows else 0
    return [TakenLine(*row[:-1]) for row in rows], unpaid
