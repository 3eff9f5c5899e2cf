"""Creating orders: from a cart in one step, or as a draft filled line by line and then
placed. Prices always come from the product replica, never from the client."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from orders.db import carts, idempotency, orders, replicas
from orders.db.tables import Order, OrderItem, ProductReplica
from orders.domain import money
from orders.domain.carts import MAX_QUANTITY, orderable_product
from orders.domain.lifecycle import change_status
from orders.domain.limits import LimitReached, Limits
from orders.domain.status import Action, IllegalTransition, OrderStatus
from shared.auth import Principal
from shared.errors import Conflict, NotFound, Unprocessable


def request_hash(*, cart_id: int | None) -> str:
    """A fingerprint of the request body, to refuse one key reused for another request."""
    canonical = json.dumps({"cart_id": cart_id}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def create_order(
    session: AsyncSession,
    user: Principal,
    *,
    cart_id: int | None,
    idempotency_key: str | None,
    currency: str,
    payment_window: timedelta,
    limits: Limits,
) -> tuple[Order, bool]:
    """Place an order from a cart, or start a draft without one: the order, and False if
    it is the one an earlier request with the same idempotency key created."""
    if idempotency_key is not None:
        fingerprint = request_hash(cart_id=cart_id)
        # The key is claimed before anything else, so concurrent retries queue behind it.
        if not await idempotency.claim(
            session, user_id=user.id, key=idempotency_key, request_hash=fingerprint
        ):
            return await _replay(session, user, key=idempotency_key, fingerprint=fingerprint)
    if cart_id is None:
        order = await _new_draft(session, user, currency=currency)
    else:
        order = await _from_cart(
            session,
            user,
            cart_id=cart_id,
            currency=currency,
            payment_window=payment_window,
            limits=limits,
        )
    if idempotency_key is not None:
        await idempotency.record_order(
            session, user_id=user.id, key=idempotency_key, order_id=order.id
        )
    return order, True


async def _replay(
    session: AsyncSession, user: Principal, *, key: str, fingerprint: str
) -> tuple[Order, bool]:
    record = await idempotency.get(session, user_id=user.id, key=key)
    if record is None or record.order_id is None:
        # Only possible if the key was purged in between; the client may simply retry.
        raise Conflict("This Idempotency-Key is being processed; retry shortly.")
    if record.request_hash != fingerprint:
        raise Unprocessable(
            "This Idempotency-Key was already used for a different request.",
            loc=("header", "Idempotency-Key"),
            code="idempotency_key_reused",
        )
    order = await orders.get(session, record.order_id)
    assert order is not None  # the key's order is deleted with it, never alone
    return order, False


async def _new_draft(session: AsyncSession, user: Principal, *, currency: str) -> Order:
    order = Order(
        user_id=user.id,
        status=OrderStatus.DRAFT.value,
        total_amount=money.total([]),
        currency=currency,
    )
    session.add(order)
    await session.flush()
    set_committed_value(order, "items", [])
    return order


def _line(product: ProductReplica, quantity: int) -> OrderItem:
    return OrderItem(
        product_id=product.product_id,
        name=product.name,
        quantity=quantity,
        unit_price=product.price,
        line_total=money.line_total(product.price, quantity),
    )


def _check_total(order: Order) -> None:
    order.total_amount = money.total(line.line_total for line in order.items)
    if not money.fits(order.total_amount):
        raise Unprocessable(f"An order may total at most {money.MAX_AMOUNT}.")


async def _place(
    session: AsyncSession, order: Order, *, payment_window: timedelta, limits: Limits
) -> None:
    await orders.lock_customer(session, order.user_id)
    if await orders.count_unpaid(session, order.user_id) >= limits.unpaid_orders:
        raise LimitReached(
            f"At most {limits.unpaid_orders} orders may wait for payment at once; pay or"
            " cancel one first.",
            limit="max_unpaid_orders",
            maximum=limits.unpaid_orders,
        )
    # The payment window opens when the order is placed: stock is held from then on.
    order.expires_at = datetime.now(UTC) + payment_window
    await change_status(session, order, action=Action.PLACE)


async def _from_cart(
    session: AsyncSession,
    user: Principal,
    *,
    cart_id: int,
    currency: str,
    payment_window: timedelta,
    limits: Limits,
) -> Order:
    # Locked for update: two checkouts of one cart queue, and the second finds it empty.
    cart = await carts.get(session, cart_id, with_lines=True, lock="update")
    if cart is None or cart.user_id != user.id:
        raise NotFound("No such shopping cart.")
    if not cart.items:
        raise Unprocessable("The shopping cart is empty.", loc=("body", "cart_id"))
    unavailable = sorted(i.product_id for i in cart.items if not i.product.active)
    if unavailable:
        raise Unprocessable(
            f"No longer for sale: products {unavailable}; remove them from the cart.",
            loc=("body", "cart_id"),
            code="product_unavailable",
        )
    order = Order(
        user_id=user.id,
        status=OrderStatus.DRAFT.value,
        currency=currency,
        items=[_line(item.product, item.quantity) for item in cart.items],
    )
    _check_total(order)
    session.add(order)
    await session.flush()
    await carts.empty(session, cart.id)
    await _place(session, order, payment_window=payment_window, limits=limits)
    return order


async def _own_order_locked(session: AsyncSession, user: Principal, order_id: int) -> Order:
    order = await orders.get(session, order_id, for_update=True)
    if order is None or order.user_id != user.id:
        raise NotFound("No such order.")
    return order


async def add_item(
    session: AsyncSession,
    user: Principal,
    *,
    order_id: int,
    product_id: int,
    quantity: int,
    limits: Limits,
) -> tuple[OrderItem, bool]:
    """Add units of a product to a draft (adding to its line if there is one): the line,
    and whether it is new. Only drafts change, and up to `limits.order_lines` lines;
    anything else is 409."""
    order = await _own_order_locked(session, user, order_id)
    if order.status != OrderStatus.DRAFT:
        raise Conflict(
            "Only a draft order takes new lines.",
            current_status=order.status,
        )
    product = await orderable_product(session, product_id)
    line = next((i for i in order.items if i.product_id == product_id), None)
    created = line is None
    if line is None and len(order.items) >= limits.order_lines:
        raise LimitReached(
            f"An order holds at most {limits.order_lines} different products.",
            limit="max_order_lines",
            maximum=limits.order_lines,
        )
    if line is None:
        line = _line(product, quantity)
        order.items.append(line)
    elif line.quantity + quantity > MAX_QUANTITY:
        raise Unprocessable(
            f"An order line holds at most {MAX_QUANTITY} units.", loc=("body", "quantity")
        )
    else:
        line.quantity += quantity
        line.name, line.unit_price = product.name, product.price
        line.line_total = money.line_total(product.price, line.quantity)
    _check_total(order)
    await session.flush()
    return line, created


async def _own_draft_line(
    session: AsyncSession, user: Principal, item_id: int
) -> tuple[Order, OrderItem]:
    """One line of the caller's draft, with the order locked. Staff read every order but
    change nobody's draft: another user's line is 404, as if absent."""
    found = await orders.get_item(session, item_id)
    if found is None or found.order.user_id != user.id:
        raise NotFound("No such order item.")
    order = await _own_order_locked(session, user, found.order_id)
    line = next((i for i in order.items if i.id == item_id), None)
    if line is None:  # removed while we waited for the lock
        raise NotFound("No such order item.")
    if order.status != OrderStatus.DRAFT:
        raise Conflict("Only a draft order's lines change.", current_status=order.status)
    return order, line


async def set_line_quantity(
    session: AsyncSession, user: Principal, item_id: int, *, quantity: int
) -> OrderItem:
    """Set how many units a draft line holds (its price is settled when it is placed)."""
    order, line = await _own_draft_line(session, user, item_id)
    line.quantity = quantity
    line.line_total = money.line_total(line.unit_price, quantity)
    _check_total(order)
    await session.flush()
    return line


async def remove_line(session: AsyncSession, user: Principal, item_id: int) -> None:
    order, line = await _own_draft_line(session, user, item_id)
    order.items.remove(line)
    await session.delete(line)
    _check_total(order)
    await session.flush()


async def place(
    session: AsyncSession,
    user: Principal,
    order_id: int,
    *,
    payment_window: timedelta,
    limits: Limits,
) -> Order:
    """Submit a draft: lines are re-priced from the replica, and it becomes pending."""
    order = await _own_order_locked(session, user, order_id)
    if order.status != OrderStatus.DRAFT:
        raise IllegalTransition(OrderStatus(order.status), Action.PLACE)
    if not order.items:
        raise Unprocessable("The order has no lines; add some with /api/order-items/.")
    products = await replicas.get_products(session, {i.product_id for i in order.items})
    unavailable = sorted(
        i.product_id
        for i in order.items
        if i.product_id not in products or not products[i.product_id].active
    )
    if unavailable:
        raise Unprocessable(
            f"No longer for sale: products {unavailable}.", code="product_unavailable"
        )
    for line in order.items:
        product = products[line.product_id]
        line.name, line.unit_price = product.name, product.price
        line.line_total = money.line_total(product.price, line.quantity)
    _check_total(order)
    await _place(session, order, payment_window=payment_window, limits=limits)
    return order
