"""Product and user replicas: the newest event wins, whatever order events arrive in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from fastapi import FastAPI
from sqlalchemy import select

from orders.db.replicas import upsert_product, upsert_user
from orders.db.tables import ProductReplica, UserReplica
from orders.events.handlers import catalog_handlers, users_handlers

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


def test_replica_events_are_kept_in_autocommit() -> None:
    """A replica's versioned upsert is idempotent and indifferent to the order of events
    by itself: one statement in autocommit, no inbox row. The stock answers change an
    order and announce it: those keep their transaction."""
    catalog, users = catalog_handlers(), users_handlers()
    replica_events = [
        (catalog, "catalog.ProductCreated"),
        (catalog, "catalog.ProductUpdated"),
        (catalog, "catalog.ProductDeleted"),
        (users, "users.UserRegistered"),
        (users, "users.UserUpdated"),
        (users, "users.UserDeactivated"),
    ]
    for handlers, event_type in replica_events:
        route = handlers.route(event_type)
        assert route is not None
        assert route.autocommit, event_type
    for event_type in ("catalog.StockReserved", "catalog.StockRejected"):
        route = catalog.route(event_type)
        assert route is not None
        assert not route.autocommit, event_type
