"""Product and user replicas: the newest event wins, whatever order events arrive in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from fastapi import FastAPI
from sqlalchemy import select

from orders.db.replicas import upsert_product, upsert_user
from orders.db.tables import ProductReplica, UserReplica

T0 = datetime(2026, 1, 1, tzinfo=UTC)


async def test_newer_product_event_wins_and_older_is_ignored(app: FastAPI) -> None:
    async with app.state.sessionmaker.begin() as session:
        assert await upsert_product(
            session, product_id=7, name="Kettle", price=Decimal("30.00"), active=True, version=T0
        )
        assert await upsert_product(
            session,
            product_id=7,
            name="Kettle II",
            price=Decimal("35.50"),
            active=True,
            version=T0 + timedelta(seconds=1),
        )
        # Delivered late: written before the rename, it must not undo it.
        assert not await upsert_product(
            session, product_id=7, name="Kettle", price=Decimal("30.00"), active=False, version=T0
        )
        # A redelivery of the newest event changes nothing either.
        assert not await upsert_product(
            session,
            product_id=7,
            name="Kettle II",
            price=Decimal("35.50"),
            active=True,
            version=T0 + timedelta(seconds=1),
        )

    async with app.state.sessionmaker() as session:
        product = (await session.execute(select(ProductReplica))).scalar_one()
    assert (product.name, product.price, product.active) == ("Kettle II", Decimal("35.50"), True)
    assert product.version == T0 + timedelta(seconds=1)


async def test_user_replica_keeps_the_newest(app: FastAPI) -> None:
    async with app.state.sessionmaker.begin() as session:
        await upsert_user(
            session,
            user_id=2,
            email="new@example.com",
            first_name="Alice",
            last_name="Liddell",
            version=T0 + timedelta(minutes=5),
        )
        assert not await upsert_user(
            session,
            user_id=2,
            email="old@example.com",
            first_name="Al",
            last_name="L",
            version=T0,
        )
    async with app.state.sessionmaker() as session:
        user = (await session.execute(select(UserReplica))).scalar_one()
    assert (user.email, user.first_name, user.last_name) == (
        "new@example.com",
        "Alice",
        "Liddell",
    )
