"""Category tree use cases: names unique among siblings, no cycles, no orphaned products."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from catalog.db import categories
from catalog.db.tables import Category
from shared.errors import Conflict, NotFound, Unprocessable

UNSET: object = object()


async def _check_parent(session: AsyncSession, parent_id: int | None) -> None:
    if parent_id is not None and await categories.get(session, parent_id) is None:
        raise Unprocessable("No such parent category.", loc=("body", "parent_id"))


async def _check_name(
    session: AsyncSession, *, name: str, parent_id: int | None, exclude_id: int | None = None
) -> None:
    if await categories.name_taken(session, name=name, parent_id=parent_id, exclude_id=exclude_id):
        raise Conflict("A category with this name already exists at that place in the tree.")


async def create(session: AsyncSession, *, name: str, parent_id: int | None) -> Category:
    await categories.lock_tree(session)
    await _check_parent(session, parent_id)
    await _check_name(session, name=name, parent_id=parent_id)
    category = Category(name=name, parent_id=parent_id)
    session.add(category)
    await session.flush()
    return category


async def update(
    session: AsyncSession, category_id: int, *, name: str | None, parent_id: int | object | None
) -> Category:
    """Rename and/or move a category; `parent_id=UNSET` leaves it where it is."""
    await categories.lock_tree(session)
    category = await categories.get(session, category_id)
    if category is None:
        raise NotFound("No such category.")
    new_parent = category.parent_id if parent_id is UNSET else parent_id
    assert new_parent is None or isinstance(new_parent, int)
    if new_parent != category.parent_id:
        await _check_parent(session, new_parent)
        if new_parent is not None and await categories.is_ancestor_or_self(
            session, candidate=category.id, of=new_parent
        ):
            raise Unprocessable(
                "A category cannot move below itself or its own descendants.",
                loc=("body", "parent_id"),
                code="cycle",
            )
    new_name = name if name is not None else category.name
    await _check_name(session, name=new_name, parent_id=new_parent, exclude_id=category.id)
    category.name = new_name
    category.parent_id = new_parent
    await session.flush()
    return category


async def delete(session: AsyncSession, category_id: int) -> None:
    await categories.lock_tree(session)
    category = await categories.get(session, category_id)
    if category is None:
        raise NotFound("No such category.")
    if await categories.has_children(session, category_id):
        raise Conflict("The category still has subcategories; move or delete them first.")
    if await categories.has_products(session, category_id):
        raise Conflict("The category still has products; move or delete them first.")
    await session.delete(category)
    await session.flush()
