"""`python -m orders.cli load-orders`: bulk historical orders, their lines, the history
projection and the report sums, consistent with one another."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from orders.db.replicas import upsert_user
from orders.db.tables import CustomerStats, Order, OrderItem, ProductSales
from orders.history.check import find_drift
from orders.history.postgres_store import PostgresHistoryStore
from orders.loadorders import MissingReplicas, load_orders
from shared.testing import truncate_schema

from .conftest import MakeProduct

ALICE_ID, BOB_ID, CAROL_ID = 2, 3, 4
Headers = dict[str, str]


@pytest.fixture
async def engine(app: FastAPI, test_database: str) -> AsyncIterator[AsyncEngine]:
    """The app's engine; the projection's rows are cleared after the test."""
    yield app.state.engine
    await truncate_schema(test_database, "order_history")


async def _customers(app: FastAPI, *user_ids: int) -> None:
    async with app.state.sessionmaker.begin() as session:
        for user_id in user_ids:
            await upsert_user(
                session,
                user_id=user_id,
                email=f"user{user_id}@example.com",
                first_name="",
                last_name="",
                version=datetime.now(UTC),
            )


async def _count(engine: AsyncEngine, sql: str) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text(sql))).scalar_one())


async def test_refuses_without_replicas(app: FastAPI, engine: AsyncEngine) -> None:
    with pytest.raises(MissingReplicas, match="0 users and 0 active products"):
        await load_orders(engine, count=10)
    assert await _count(engine, "SELECT count(*) FROM orders.orders") == 0


async def test_orders_lines_history_and_reports_agree(
    app: FastAPI,
    engine: AsyncEngine,
    make_product: MakeProduct,
    client: httpx.AsyncClient,
    alice: Headers,
) -> None:
    await _customers(app, ALICE_ID, BOB_ID, CAROL_ID)
    for price in ("1.50", "9.99", "120.00", "42.00", "0.99"):
        await make_product(price=price)

    assert await load_orders(engine, count=120, seed=1) == 120
    assert await load_orders(engine, count=80, seed=2) == 80  # a second run adds more

    assert await _count(engine, "SELECT count(*) FROM orders.orders") == 200
    assert await _count(engine, "SELECT count(*) FROM order_history.orders_by_user") == 200
    async with engine.connect() as conn:
        statuses = dict(
            (await conn.execute(select(Order.status, func.count()).group_by(Order.status))).all()
        )
        assert set(statuses) <= {"paid", "shipped", "completed", "cancelled"}
        assert statuses.get("completed", 0) > 100
        assert statuses.get("cancelled", 0) > 0
        # Every total is the sum of its lines.
        mismatched = (
            await conn.execute(
                select(func.count())
                .select_from(Order)
                .where(
                    Order.total_amount
                    != select(func.sum(OrderItem.line_total))
                    .where(OrderItem.order_id == Order.id)
                    .scalar_subquery()
                )
            )
        ).scalar_one()
        assert mismatched == 0
        # The reports count the paid orders (everything but the cancelled ones).
        paid_total = (
            await conn.execute(
                select(func.sum(Order.total_amount)).where(Order.status != "cancelled")
            )
        ).scalar_one()
        revenue = (await conn.execute(select(func.sum(ProductSales.revenue)))).scalar_one()
        spent = (await conn.execute(select(func.sum(CustomerStats.total_spent)))).scalar_one()
        assert paid_total == revenue == spent
        assert (await conn.execute(select(func.sum(CustomerStats.orders_count)))).scalar_one() == (
            200 - statuses["cancelled"]
        )
        alice_orders = list(
            (
                await conn.execute(
                    select(Order.id)
                    .where(Order.user_id == ALICE_ID)
                    .order_by(Order.created_at.desc(), Order.id.desc())
                )
            ).scalars()
        )
    # Placed, awaiting payment, then cancelled (3) or paid (4) and maybe shipped, completed.
    timeline = await _count(engine, "SELECT count(*) FROM order_history.order_timeline")
    assert 200 * 3 <= timeline <= 200 * 6

    response = await client.get("/api/orders/history/?limit=100", headers=alice)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [o["order_id"] for o in results] == alice_orders[:100]
    first = results[0]
    assert Decimal(first["total"]) == sum(
        Decimal(line["unit_price"]) * line["quantity"] for line in first["lines"]
    )
    if first["status"] != "cancelled":
        assert first["payment"]["outcome"] == "succeeded"

    response = await client.get(f"/api/orders/history/{alice_orders[0]}/", headers=alice)
    assert response.status_code == 200, response.text
    events = response.json()["events"]
    assert [e["type"] for e in events[:2]] == ["orders.OrderPlaced", "orders.OrderAwaitingPayment"]
    assert events[-1]["status"] == first["status"]

    assert await find_drift(engine, PostgresHistoryStore(engine)) == []
