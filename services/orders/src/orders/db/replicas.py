"""Local replicas of catalog products and users, written by the events that announce them."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orders.db.tables import ProductReplica, UserReplica
from shared.db import bound_insert

# Every replica event runs one of these, built once (`bound_insert`). A row is written
# only by an event newer than the one stored.


def _newer_wins(model: type[ProductReplica] | type[UserReplica], key: str, *columns: str) -> Any:
    """Upsert `columns` (and the version) of the row `key` names, if the event is newer."""
    values = bound_insert(model, key, *columns, "version")
    return values.on_conflict_do_update(
        index_elements=[key],
        set_={name: values.excluded[name] for name in (*columns, "version")},
        where=model.version < values.excluded.version,
    ).returning(getattr(model, key))


_UPSERT_PRODUCT = _newer_wins(ProductReplica, "product_id", "name", "price", "active")
_UPSERT_USER = _newer_wins(UserReplica, "user_id", "email", "first_name", "last_name")
_tombstone = bound_insert(ProductReplica, "product_id", "version").values(
    name="", price=0, active=False
)
_DEACTIVATE_PRODUCT = _tombstone.on_conflict_do_update(
    index_elements=[ProductReplica.product_id],
    set_={"active": False, "version": _tombstone.excluded.version},
    where=ProductReplica.version < _tombstone.excluded.version,
)


async def upsert_product(
    session: AsyncSession,
    *,
    product_id: int,
    name: str,
    price: Decimal,
    active: bool,
    version: datetime,
) -> bool:
    """Store what a catalog event says of a product, unless a newer event already did.

    Events arrive at least once and not always in order; `version` (when the event
    happened) decides, so a late, older event never undoes a newer one. True if written.
    """
    params = {
        "product_id": product_id,
        "name": name,
        "price": price,
        "active": active,
        "version": version,
    }
    return (await session.execute(_UPSERT_PRODUCT, params)).scalar_one_or_none() is not None


async def upsert_user(
    session: AsyncSession,
    *,
    user_id: int,
    email: str,
    first_name: str,
    last_name: str,
    version: datetime,
) -> bool:
    """Store what a users event says of a user, unless a newer event already did."""
    params = {
        "user_id": user_id,
        "email": email,
        "first_name": first_name,
        "last_name": last_name,
        "version": version,
    }
    return (await session.execute(_UPSERT_USER, params)).scalar_one_or_none() is not None


async def get_product(session: AsyncSession, product_id: int) -> ProductReplica | None:
    return await session.get(ProductReplica, product_id)


async def get_products(
    session: AsyncSession, product_ids: Collection[int]
) -> dict[int, ProductReplica]:
    if not product_ids:
        return {}
    rows = await session.execute(
        select(ProductReplica).where(ProductReplica.product_id.in_(product_ids))
    )
    return {p.product_id: p for p in rows.scalars()}


async def deactivate_product(session: AsyncSession, *, product_id: int, version: datetime) -> None:
    """A product left the shop: it can no longer be ordered.

    If its creation has not arrived yet, a tombstone is stored; the older creation event
    then loses to it on version.
    """
    await session.execute(_DEACTIVATE_PRODUCT, {"product_id": product_id, "version": version})
