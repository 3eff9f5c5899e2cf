"""`/api/categories/`: the category tree. Anyone reads; staff write."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from catalog.api.schemas import CategoryIn, CategoryNode, CategoryOut, CategoryPatch
from catalog.db import categories as repo
from catalog.db.tables import Category
from catalog.domain import categories
from shared.api.ids import Id, PathId
from shared.api.problems import problem_responses
from shared.auth import StaffUser
from shared.db import DbSession
from shared.errors import NotFound
from shared.pagination import Page, PageParams, keyset_page, page_params

router = APIRouter(prefix="/api/categories", tags=["categories"])


@router.get("/", responses=problem_responses(422))
async def list_categories(
    session: DbSession,
    request: Request,
    page: Annotated[PageParams, Depends(page_params)],
    parent: Annotated[Id | None, Query(description="Only the children of this category.")] = None,
    top_level: Annotated[bool, Query(description="Only categories without a parent.")] = False,
) -> Page[CategoryOut]:
    """Categories by id, optionally the children of one (`parent`) or the top level."""
    rows, next_url, previous_url = await keyset_page(
        session,
        repo.list_stmt(parent_id=parent, top_level=top_level),
        key_columns=[Category.id],
        key_of=lambda c: (c.id,),
        params=page,
        request=request,
    )
    return Page(
        results=[CategoryOut.model_validate(c) for c in rows], next=next_url, previous=previous_url
    )


@router.get("/tree/")
async def category_tree(session: DbSession) -> list[CategoryNode]:
    """The whole tree, nested, siblings by name (one query)."""
    everything = await repo.all_categories(session)
    nodes = {c.id: CategoryNode(id=c.id, name=c.name, children=[]) for c in everything}
    roots: list[CategoryNode] = []
    for category in everything:
        node = nodes[category.id]
        (nodes[category.parent_id].children if category.parent_id else roots).append(node)
    return roots


@router.get("/{category_id}/", responses=problem_responses(404, 422))
async def get_category(category_id: PathId, session: DbSession) -> CategoryOut:
    category = await repo.get(session, category_id)
    if category is None:
        raise NotFound("No such category.")
    return CategoryOut.model_validate(category)


@router.post(
    "/", status_code=status.HTTP_201_CREATED, responses=problem_responses(401, 403, 409, 422)
)
async def create_category(body: CategoryIn, _: StaffUser, session: DbSession) -> CategoryOut:
    category = await categories.create(session, name=body.name, parent_id=body.parent_id)
    return CategoryOut.model_validate(category)


@router.patch("/{category_id}/", responses=problem_responses(401, 403, 404, 409, 422))
async def update_category(
    category_id: PathId, body: CategoryPatch, _: StaffUser, session: DbSession
) -> CategoryOut:
    """Rename or move; moving below itself or a descendant is refused (422)."""
    parent = body.parent_id if "parent_id" in body.model_fields_set else categories.UNSET
    category = await categories.update(session, category_id, name=body.name, parent_id=parent)
    return CategoryOut.model_validate(category)


@router.delete(
    "/{category_id}/",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404, 409),
)
async def delete_category(category_id: PathId, _: StaffUser, session: DbSession) -> Response:
    """Only an empty category (no subcategories, no products) can go (else 409)."""
    await categories.delete(session, category_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
