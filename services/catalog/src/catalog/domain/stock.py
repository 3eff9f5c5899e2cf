"""Stock reservation, the catalog's part of the checkout saga.

An order's lines are reserved all together or not at all. Rows are locked in product id
order, so concurrent orders over the same products queue instead of deadlocking, and
each decrement is conditional (`stock_quantity >= q`), so stock never goes below zero.
Every step is idempotent by order id: redelivered or reordered events change nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from catalog.db import stock
from catalog.db.cache import ProductCache
from catalog.db.tables import outbox
from catalog.events.published import ShortLine, StockLine, StockRejected, StockReserved
from shared import shop_metrics
from shared.db import after_commit

OUT_OF_STOCK = "out_of_stock"


async def reserve(
    session: AsyncSession,
    cache: ProductCache,
    *,
    order_id: int,
    lines: Iterable[tuple[int, int]],
) -> bool | None:
    """Reserve every (product id, quantity) line for the order; True if reserved, False
    if rejected, None if this order was already decided (nothing done)."""
    wanted: Counter[int] = Counter()
    for product_id, quantity in lines:
        wanted[product_id] += quantity
    if not await stock.claim_order(session, order_id):
        return None
    available = await stock.lock_stock(session, sorted(wanted))
    short = [
        ShortLine(product_id=pid, requested=qty, available=available.get(pid, 0))
        for pid, qty in sorted(wanted.items())
        if qty <= 0 or available.get(pid, 0) < qty
    ]
    if short or not wanted:
        await stock.set_status(session, order_id, "rejected", OUT_OF_STOCK)
        await outbox.publish(
            session,
            StockRejected(order_id=order_id, reason=OUT_OF_STOCK, short_lines=short),
            aggregate_id=order_id,
        )
        shop_metrics.count(session, shop_metrics.STOCK_REJECTIONS)
        return False
    if not await stock.take_and_reserve(session, order_id, wanted):  # pragma: no cover
        raise RuntimeError(f"the stock of order {order_id}'s products changed under its locks")
    await outbox.publish(
        session,
        StockReserved(
            order_id=order_id,
            lines=[StockLine(product_id=p, quantity=q) for p, q in sorted(wanted.items())],
        ),
        aggregate_id=order_id,
    )
    product_ids = sorted(wanted)
    after_commit(session, lambda: cache.invalidate(*product_ids))
    return True


async def commit(session: AsyncSession, *, order_id: int) -> None:
    """The order is paid: its reserved units are sold for good."""
    await stock.commit_order(session, order_id)


async def release(
    session: AsyncSession, cache: ProductCache, *, order_id: int, reason: str
) -> None:
    """The order is cancelled (by its owner, by expiry, or refunded): its units go back.

    If the cancellation overtakes the placement, the order is recorded as released, so
    the late OrderPlaced reserves nothing.
    """
    status = await stock.lock_order(session, order_id)
    if status is None:
        await stock.claim_order(session, order_id, status="released", reason=reason)
        return
    if status not in ("reserved", "committed"):
        return
    held = await stock.reservations(session, order_id)
    await stock.lock_stock(session, sorted(held))
    for product_id, quantity in held.items():
        await stock.give_back(session, product_id, quantity)
    await stock.set_status(session, order_id, "released", reason)
    product_ids = sorted(held)
    after_commit(session, lambda: cache.invalidate(*product_ids))
