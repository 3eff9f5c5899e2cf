"""Creating orders: from a cart in one step, or as a draft filled line by line and then
placed. Prices always come from the product replica, never from the client."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from orders.db import carts, idempotency, orders, replicas
from orders.db.tables import Order, OrderItem
from orders.domain import money
from orders.domain.carts import MAX_QUANTITY, orderable_product
from orders.domain.lifecycle import change_status, place_new
from orders.domain.limits import LimitReached, Limits
from orders.domain.status import Action, IllegalTransition, OrderStatus
from shared import idempotency as idempotent
from shared.auth import Principal
from shared.errors import Conflict, NotFound, Unprocessable
from shared.idempotency import Answer, fingerprint

Render = Callable[[Order], dict[str, Any]]
CREATED, OK = 201, 200
# A retry whose key is still being served (a double click, a client's quick retry)
# waits this long for the first request and gets its answer; 409 after that.
IN_FLIGHT_WAIT_SECONDS = 5.0


async def _idempotent(
    session: AsyncSession,
    user: Principal,
    *,
    key: str | None,
    fields: dict[str, Any],
    key_ttl: timedelta,
    handle: Callable[[], Awaitable[tuple[int, dict[str, Any]]]],
) -> Answer:
    """Run `handle` once per `Idempotency-Key` (`shared.idempotency`), or plainly without
    one. The fingerprint is a plain SHA-256: the fields are ids, no personal data."""
    if key is None:
        status, body = await handle()
        return Answer(status, body, replayed=False)
    return await idempotent.run(
        session,
        idempotency.RECORDS,
        scope=idempotency.SCOPE,
        user_id=user.id,
        key=key,
        request_hash=fingerprint(fields),
        ttl=key_ttl,
        wait_seconds=IN_FLIGHT_WAIT_SECONDS,
        handle=handle,
    )


async def create_order(
    session: AsyncSession,
    user: Principal,
    *,
    cart_id: int | None,
    idempotency_key: str | None,
    key_ttl: timedelta,
    currency: str,
    payment_window: timedelta,
    limits: Limits,
    render: Render,
) -> Answer:
    """Place an order from a cart, or start a draft without one: the answer (201 and the
    order), replayed if an earlier request with the same idempotency key gave it."""

    async def handle() -> tuple[int, dict[str, Any]]:
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
        return CREATED, render(order)

    # The body's fingerprint is what it was before keys stored their answers.
    return await _idempotent(
        session,
        user,
        key=idempotency_key,
        fields={"cart_id": cart_id},
        key_ttl=key_ttl,
        handle=handle,
    )


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


def _line(*, product_id: int, name: str, price: Decimal, quantity: int) -> OrderItem:
    return OrderItem(
        product_id=product_id,
        name=name,
        quantity=quantity,
        unit_price=price,
        line_total=money.line_total(price, quantity),
    )


def _check_total(order: Order) -> None:
    order.total_amount = money.total(line.line_total for line in order.items)
    if not money.fits(order.total_amount):
        raise Unprocessable(f"An order may total at most {money.MAX_AMOUNT}.")


async def _check_unpaid(session: AsyncSession, user_id: int, limits: Limits) -> None:
    """Refuse a placement beyond the customer's unpaid orders; the customer's placements
    queue on a lock until the transaction ends, so the count cannot race another one."""
    await orders.lock_customer(session, user_id)
    _refuse_beyond(await orders.count_unpaid(session, user_id), limits)


def _refuse_beyond(unpaid: int, limits: Limits) -> None:
    if unpaid >= limits.unpaid_orders:
        raise LimitReached(
            f"At most {limits.unpaid_orders} orders may wait for payment at once; pay or"
            " cancel one first.",
            limit="max_unpaid_orders",
            maximum=limits.unpaid_orders,
        )


def _open_payment_window(order: Order, payment_window: timedelta) -> None:
    # The payment window opens when the order is placed: stock is held from then on.
    order.expires_at = datetime.now(UTC) + payment_window


async def _from_cart(
    session: AsyncSession,
    user: Principal,
    *,
    cart_id: int,
    currency: str,
    payment_window: timedelta,
    limits: Limits,
) -> Order:
    """The hot path of a checkout, in few round trips: lock the cart and the customer's
    placements, take the cart's lines with their products and the count of the unpaid
    orders, insert the order already placed."""
    if await carts.lock_for_checkout(session, cart_id, user_id=user.id) != user.id:
        raise NotFound("No such shopping cart.")
    lines, unpaid = await carts.take_lines(session, cart_id, user_id=user.id)
    if not lines:
        raise Unprocessable("The shopping cart is empty.", loc=("body", "cart_id"))
    unavailable = sorted(line.product_id for line in lines if not line.active)
    if unavailable:
        raise Unprocessable(
            f"No longer for sale: products {unavailable}; remove them from the cart.",
            loc=("body", "cart_id"),
            code="product_unavailable",
        )
    order = Order(
        user_id=user.id,
        currency=currency,
        items=[
            _line(
                product_id=line.product_id, name=line.name, price=line.price, quantity=line.quantity
            )
            for line in lines
        ],
    )
    _check_total(order)
    _refuse_beyond(unpaid, limits)
    _open_payment_window(order, payment_window)
    return (await place_new(session, order)).order


async def _own_order_locked(session: AsyncSession, user: Principal, order_id: int) -> Order:
    order = await orders.lock(session, order_id)
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
        line = _line(
            product_id=product.product_id, name=product.name, price=product.price, quantity=quantity
        )
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
    idempotency_key: str | None,
    key_ttl: timedelta,
    payment_window: timedelta,
    limits: Limits,
    render: Render,
) -> Answer:
    """Submit a draft: lines are re-priced from the replica, and it becomes pending. The
    answer is 200 and the order, replayed for a retry with the same idempotency key."""

    async def handle() -> tuple[int, dict[str, Any]]:
        order = await _place_draft(
            session, user, order_id, payment_window=payment_window, limits=limits
        )
        return OK, render(order)

    return await _idempotent(
        session,
        user,
        key=idempotency_key,
        fields={"operation": "place", "order_id": order_id},
        key_ttl=key_ttl,
        handle=handle,
    )


async def _place_draft(
    session: AsyncSession,
    user: Principal,
    order_id: int,
    *,
    payment_window: timedelta,
    limits: Limits,
) -> Order:
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
    await _check_unpaid(session, user.id, limits)
    _open_payment_window(order, payment_window)
    await change_status(session, order, action=Action.PLACE)
    return order
