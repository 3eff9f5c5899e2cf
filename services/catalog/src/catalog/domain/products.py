"""Product use cases for staff: create, change, delete. Readers go through the cache."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from catalog.db import categories, products
from catalog.db.cache import ProductCache
from catalog.db.tables import Category, Product, outbox
from catalog.events.published import ProductCreated, ProductDeleted, ProductUpdated
from shared.db import after_commit
from shared.errors import NotFound, Unprocessable
from shared.events.envelope import EventPayload


async def _category(session: AsyncSession, category_id: int) -> Category:
    category = await categories.get(session, category_id)
    if category is None:
        raise Unprocessable("No such category.", loc=("body", "category_id"))
    return category


def _state(product: Product) -> dict[str, object]:
    return {
        "product_id": product.id,
        "name": product.name,
        "price": product.price,
        "stock_quantity": product.stock_quantity,
        "category_id": product.category_id,
        "active": product.deleted_at is None,
    }


async def _changed(
    session: AsyncSession, cache: ProductCache, product: Product, event: EventPayload
) -> None:
    """Tell other services (outbox, same transaction) and drop cached pages (after commit)."""
    await outbox.publish(session, event, aggregate_id=product.id)
    product_id = product.id
    after_commit(session, lambda: cache.invalidate(product_id))


async def create(
    session: AsyncSession,
    cache: ProductCache,
    *,
    name: str,
    description: str,
    price: Decimal,
    stock_quantity: int,
    category_id: int,
) -> Product:
    category = await _category(session, category_id)
    product = Product(
        name=name,
        description=description,
        price=price,
        stock_quantity=stock_quantity,
        category_id=category.id,
        rating_sum=0,
        review_count=0,
    )
    product.category = category
    session.add(product)
    await session.flush()
    await _changed(session, cache, product, ProductCreated(**_state(product)))
    return product


async def update(
    session: AsyncSession,
    cache: ProductCache,
    product_id: int,
    *,
    name: str | None = None,
    description: str | None = None,
    price: Decimal | None = None,
    stock_quantity: int | None = None,
    category_id: int | None = None,
) -> Product:
    product = await products.get(session, product_id, for_update=True)
    if product is None:
        raise NotFound("No such product.")
    if category_id is not None and category_id != product.category_id:
        product.category = await _category(session, category_id)
    if name is not None:
        product.name = name
    if description is not None:
        product.description = description
    if price is not None:
        product.price = price
    if stock_quantity is not None:
        product.stock_quantity = stock_quantity
    product.updated_at = datetime.now(UTC)
    await session.flush()
    await _changed(session, cache, product, ProductUpdated(**_state(product)))
    return product


async def delete(session: AsyncSession, cache: ProductCache, product_id: int) -> None:
    """Take the product out of the shop; its reviews and order history stay."""
    product = await products.get(session, product_id, for_update=True)
    if product is None:
        raise NotFound("No such product.")
    product.deleted_at = datetime.now(UTC)
    await session.flush()
    await _changed(session, cache, product, ProductDeleted(product_id=product.id))
