"""Stock reservation: all or nothing, never below zero, idempotent by order id."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from fastapi import FastAPI
from sqlalchemy import func, select, text

from catalog.db.tables import Product, StockOrder, StockReservation, inbox, outbox
from catalog.domain import stock
from catalog.events.handlers import build_handlers
from shared.db import commit
from shared.testing import count_statements, deliver, envelope


async def reserve(app: FastAPI, order_id: int, lines: list[tuple[int, int]]) -> bool | None:
    """One reservation in its own transaction, as the event consumer runs it."""
    async with app.state.sessionmaker() as session:
        result = await stock.reserve(
            session, app.state.product_cache, order_id=order_id, lines=lines
        )
        await commit(session)
        return result


async def release(app: FastAPI, order_id: int) -> None:
    async with app.state.sessionmaker() as session:
        await stock.release(session, app.state.product_cache, order_id=order_id, reason="cancelled")
        await commit(session)


async def stock_of(app: FastAPI, product_id: int) -> int:
    async with app.state.engine.connect() as conn:
        return int(
            (
                await conn.execute(select(Product.stock_quantity).where(Product.id == product_id))
            ).scalar_one()
        )


async def published(app: FastAPI) -> list[tuple[str, dict[str, Any]]]:
    async with app.state.engine.connect() as conn:
        rows = await conn.execute(
            select(outbox.table.c.type, outbox.table.c.envelope).order_by(outbox.table.c.id)
        )
        return [(row.type, row.envelope["payload"]) for row in rows]


async def test_reserve_publishes_stock_reserved(app: FastAPI, make_product: Any) -> None:
    a = await make_product("A", stock_quantity=5)
    b = await make_product("B", stock_quantity=2)
    assert await reserve(app, 1, [(a.id, 2), (b.id, 2), (a.id, 1)]) is True
    assert await stock_of(app, a.id) == 2
    assert await stock_of(app, b.id) == 0
    assert await published(app) == [
        (
            "catalog.StockReserved",
            {
                "order_id": 1,
                "lines": [
                    {"product_id": a.id, "quantity": 3},
                    {"product_id": b.id, "quantity": 2},
                ],
            },
        ),
    ]


async def test_a_reservation_runs_four_statements_whatever_its_lines(
    app: FastAPI, make_product: Any
) -> None:
    """The order's claim, the products' locks, every line's stock taken and its
    reservation written in one statement, the event: a line costs no statement of its own."""
    products = [await make_product(f"P{n}", stock_quantity=5) for n in range(3)]
    with count_statements(app.state.engine) as statements:
        assert await reserve(app, 7, [(p.id, n + 1) for n, p in enumerate(products)]) is True
    assert statements.count == 4, statements.statements
    assert [await stock_of(app, p.id) for p in products] == [4, 3, 2]
    async with app.state.engine.connect() as conn:
        held = await conn.execute(
            select(StockReservation.product_id, StockReservation.quantity)
            .where(StockReservation.order_id == 7)
            .order_by(StockReservation.product_id)
        )
        assert [tuple(row) for row in held] == [(p.id, n + 1) for n, p in enumerate(products)]


async def test_short_line_rejects_the_whole_order(app: FastAPI, make_product: Any) -> None:
    a = await make_product("A", stock_quantity=5)
    b = await make_product("B", stock_quantity=1)
    assert await reserve(app, 7, [(a.id, 2), (b.id, 2), (999999, 1)]) is False
    assert await stock_of(app, a.id) == 5
    assert await stock_of(app, b.id) == 1
    [(kind, payload)] = await published(app)
    assert kind == "catalog.StockRejected"
    assert payload["reason"] == "out_of_stock"
    assert payload["short_lines"] == [
        {"product_id": b.id, "requested": 2, "available": 1},
        {"product_id": 999999, "requested": 1, "available": 0},
    ]


async def test_deleted_product_cannot_be_reserved(app: FastAPI, make_product: Any) -> None:
    from datetime import UTC, datetime

    gone = await make_product("Gone", stock_quantity=5, deleted_at=datetime.now(UTC))
    assert await reserve(app, 8, [(gone.id, 1)]) is False


async def test_same_order_twice_reserves_once(app: FastAPI, make_product: Any) -> None:
    a = await make_product("A", stock_quantity=5)
    assert await reserve(app, 1, [(a.id, 2)]) is True
    assert await reserve(app, 1, [(a.id, 2)]) is None
    assert await stock_of(app, a.id) == 3
    assert len(await published(app)) == 1


async def test_release_gives_units_back_once(app: FastAPI, make_product: Any) -> None:
    a = await make_product("A", stock_quantity=5)
    await reserve(app, 1, [(a.id, 4)])
    await release(app, 1)
    await release(app, 1)
    assert await stock_of(app, a.id) == 5
    async with app.state.engine.connect() as conn:
        assert (await conn.execute(select(StockOrder.status))).scalar_one() == "released"


async def test_paid_then_cancelled_order_gives_units_back(app: FastAPI, make_product: Any) -> None:
    a = await make_product("A", stock_quantity=5)
    await reserve(app, 1, [(a.id, 4)])
    async with app.state.sessionmaker() as session:
        await stock.commit(session, order_id=1)
        await commit(session)
    assert await stock_of(app, a.id) == 1
    await release(app, 1)
    assert await stock_of(app, a.id) == 5


async def test_a_paid_order_commits_its_stock_in_one_round_trip(
    app: FastAPI, make_product: Any
) -> None:
    """OrderPaid's one conditional update (only a reserved order becomes committed) runs in
    autocommit with no inbox row: it is idempotent by itself, and it cannot come before
    its order's reservation, which the catalog committed before the order could be paid
    (its StockReserved made the order payable). A redelivery changes nothing."""
    a = await make_product("A", stock_quantity=5)
    await reserve(app, 1, [(a.id, 4)])
    paid = envelope("orders.OrderPaid", {"order_id": 1, "user_id": 2}, aggregate_id=1)
    handlers = build_handlers(app.state.product_cache)
    with count_statements(app.state.engine) as counted:
        for _ in range(2):  # delivered, then redelivered
            await deliver(
                [paid],
                redis=app.state.redis,
                engine=app.state.engine,
                inbox=inbox,
                group="catalog",
                handlers=handlers,
            )
    # The consumer's own: its checks of the database and the inbox's retention.
    own = [s for s in counted.statements if s == "SELECT 1" or s.startswith("DELETE FROM")]
    handled = [s.split(" SET")[0] for s in counted.statements if s not in own]
    assert handled == ["UPDATE catalog.stock_orders"] * 2, counted.statements
    assert counted.transactions == len(own)
    assert await stock_of(app, a.id) == 1
    async with app.state.engine.connect() as conn:
        assert (await conn.execute(select(StockOrder.status))).scalar_one() == "committed"
        assert (await conn.execute(select(func.count()).select_from(inbox))).scalar_one() == 0


async def test_cancellation_overtaking_placement_reserves_nothing(
    app: FastAPI, make_product: Any
) -> None:
    a = await make_product("A", stock_quantity=5)
    await release(app, 9)
    assert await reserve(app, 9, [(a.id, 1)]) is None
    assert await stock_of(app, a.id) == 5


async def test_fifty_concurrent_orders_for_ten_units(app: FastAPI, make_product: Any) -> None:
    scarce = await make_product("Scarce", stock_quantity=10)
    results = await asyncio.gather(
        *(reserve(app, order_id, [(scarce.id, 1)]) for order_id in range(1, 51))
    )
    assert results.count(True) == 10
    assert results.count(False) == 40
    assert await stock_of(app, scarce.id) == 0
    async with app.state.engine.connect() as conn:
        held = (
            await conn.execute(
                text("SELECT coalesce(sum(quantity), 0) FROM catalog.stock_reservations")
            )
        ).scalar_one()
    assert held == 10


async def test_multi_line_orders_are_all_or_nothing_without_deadlocks(
    app: FastAPI, make_category: Any, make_product: Any
) -> None:
    category = await make_category()
    products = [
        await make_product(f"P{i}", stock_quantity=6, category_id=category.id) for i in range(4)
    ]
    ids = [p.id for p in products]
    rng = random.Random(7)
    orders = {}
    for order_id in range(1, 41):
        chosen = rng.sample(ids, k=rng.randint(2, 4))
        rng.shuffle(chosen)  # lines in any order: the lock order is the catalog's own
        orders[order_id] = [(pid, rng.randint(1, 2)) for pid in chosen]
    results = await asyncio.gather(*(reserve(app, oid, lines) for oid, lines in orders.items()))

    async with app.state.engine.connect() as conn:
        reserved = {
            (row.order_id, row.product_id): row.quantity
            for row in await conn.execute(select(StockReservation))
        }
    for (order_id, lines), result in zip(orders.items(), results, strict=True):
        held = {pid: q for (oid, pid), q in reserved.items() if oid == order_id}
        if result:
            assert held == dict(lines)
        else:
            assert held == {}
    for product in products:
        taken = sum(q for (_, pid), q in reserved.items() if pid == product.id)
        assert await stock_of(app, product.id) == 6 - taken >= 0
