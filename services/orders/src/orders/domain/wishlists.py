"""Wishlist use cases: named lists of products a user may buy later."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from orders.db import replicas, wishlists
from orders.db.tables import Wishlist, WishlistItem
from orders.domain.access import can_read
from shared.auth import Principal
from shared.db import flush_unique
from shared.errors import Conflict, NotFound, Unprocessable


async def create(session: AsyncSession, user: Principal, *, name: str) -> Wishlist:
    wishlist = await wishlists.insert_wishlist(session, user_id=user.id, name=name)
    if wishlist is None:
        raise Conflict("You already have a wishlist with this name.")
    # A new list has no items; say so instead of loading them.
    set_committed_value(wishlist, "items", [])
    return wishlist


async def get(session: AsyncSession, user: Principal, wishlist_id: int) -> Wishlist:
    wishlist = await wishlists.get(session, wishlist_id, with_items=True)
    if wishlist is None or not can_read(user, wishlist.user_id):
        raise NotFound("No such wishlist.")
    return wishlist


async def _own(session: AsyncSession, user: Principal, wishlist_id: int) -> Wishlist:
    """The caller's wishlist, locked. Staff read every list but change nobody's (404)."""
    wishlist = await wishlists.get(session, wishlist_id, for_update=True)
    if wishlist is None or wishlist.user_id != user.id:
        raise NotFound("No such wishlist.")
    return wishlist


async def rename(
    session: AsyncSession, user: Principal, wishlist_id: int, *, name: str
) -> Wishlist:
    wishlist = await _own(session, user, wishlist_id)
    taken = Conflict("You already have a wishlist with this name.")
    if await wishlists.name_taken(session, user_id=user.id, name=name, other_than=wishlist.id):
        raise taken
    wishlist.name = name
    await flush_unique(session, taken)  # two renames racing for one name: one gets 409
    return await get(session, user, wishlist_id)


async def delete(session: AsyncSession, user: Principal, wishlist_id: int) -> None:
    """Delete the wishlist; its items go with it (ON DELETE CASCADE)."""
    await _own(session, user, wishlist_id)
    await wishlists.delete(session, wishlist_id)


async def add_item(
    session: AsyncSession, user: Principal, *, wishlist_id: int, product_id: int
) -> WishlistItem:
    wishlist = await wishlists.get(session, wishlist_id)
    if wishlist is None or wishlist.user_id != user.id:
        raise NotFound("No such wishlist.")
    product = await replicas.get_product(session, product_id)
    if product is None or not product.active:
        raise Unprocessable("No such product for sale.", loc=("body", "product_id"))
    item = await wishlists.insert_item(session, wishlist_id=wishlist_id, product_id=product_id)
    if item is None:
        raise Conflict("This product is already on the wishlist.")
    return item


async def get_item(session: AsyncSession, user: Principal, item_id: int) -> WishlistItem:
    item = await wishlists.get_item(session, item_id)
    if item is None or not can_read(user, item.wishlist.user_id):
        raise NotFound("No such wishlist item.")
    return item


async def remove_item(session: AsyncSession, user: Principal, item_id: int) -> None:
    item = await wishlists.get_item(session, item_id)
    if item is None or item.wishlist.user_id != user.id:
        raise NotFound("No such wishlist item.")
    await session.delete(item)
    await session.flush()
