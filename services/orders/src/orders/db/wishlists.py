"""Queries on wishlists and their items."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy import delete as sa_delete
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import contains_eager, joinedload, selectinload

from orders.db.tables import Wishlist, WishlistItem


def _with_items(stmt: Select[Any]) -> Select[Any]:
    return stmt.options(
        selectinload(Wishlist.items).joinedload(WishlistItem.product, innerjoin=True)
    )


async def insert_wishlist(session: AsyncSession, *, user_id: int, name: str) -> Wishlist | None:
    """The new wishlist, or None if the user already has one by that name."""
    stmt = (
        insert(Wishlist)
        .values(user_id=user_id, name=name)
        .on_conflict_do_nothing()
        .returning(Wishlist)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def get(
    session: AsyncSession, wishlist_id: int, *, with_items: bool = False, for_update: bool = False
) -> Wishlist | None:
    stmt = (
        select(Wishlist).where(Wishlist.id == wishlist_id).execution_options(populate_existing=True)
    )
    if with_items:
        stmt = _with_items(stmt)
    if for_update:
        stmt = stmt.with_for_update(of=Wishlist)
    return (await session.execute(stmt)).scalar_one_or_none()


async def name_taken(session: AsyncSession, *, user_id: int, name: str, other_than: int) -> bool:
    """Whether another of the user's wishlists has this name, in any case."""
    stmt = select(Wishlist.id).where(
        Wishlist.user_id == user_id,
        func.lower(Wishlist.name) == name.lower(),
        Wishlist.id != other_than,
    )
    return (await session.execute(stmt.limit(1))).first() is not None


async def delete(session: AsyncSession, wishlist_id: int) -> None:
    await session.execute(sa_delete(Wishlist).where(Wishlist.id == wishlist_id))


def list_stmt(*, owner_id: int | None) -> Select[Any]:
    stmt = _with_items(select(Wishlist))
    return stmt if owner_id is None else stmt.where(Wishlist.user_id == owner_id)


async def insert_item(
    session: AsyncSession, *, wishlist_id: int, product_id: int
) -> WishlistItem | None:
    """The new item, or None if the product is already on the wishlist."""
    stmt = (
        insert(WishlistItem)
        .values(wishlist_id=wishlist_id, product_id=product_id)
        .on_conflict_do_nothing(constraint="uq_wishlist_items_wishlist_product")
        .returning(WishlistItem.id)
    )
    item_id = (await session.execute(stmt)).scalar_one_or_none()
    return None if item_id is None else await get_item(session, item_id)


def _item_stmt() -> Select[WishlistItem]:
    return (
        select(WishlistItem)
        .join(WishlistItem.wishlist)
        .options(
            contains_eager(WishlistItem.wishlist),
            joinedload(WishlistItem.product, innerjoin=True),
        )
    )


async def get_item(session: AsyncSession, item_id: int) -> WishlistItem | None:
    stmt = _item_stmt().where(WishlistItem.id == item_id)
    return (await session.execute(stmt)).scalar_one_or_none()


def items_stmt(*, owner_id: int | None, wishlist_id: int | None = None) -> Select[Any]:
    stmt = _item_stmt()
    if owner_id is not None:
        stmt = stmt.where(Wishlist.user_id == owner_id)
    if wishlist_id is not None:
        stmt = stmt.where(WishlistItem.wishlist_id == wishlist_id)
    return stmt
