"""`/api/products/`: the product list (filters, search, ordering, cursor pages) and
details, served from the cache with ETags. Staff write."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.api import list_query
from catalog.api.deps import Cache, Settings
from catalog.api.http_cache import conditional_json
from catalog.api.schemas import ProductIn, ProductOut, ProductPatch
from catalog.db import products as repo
from catalog.db.products import Ordering, ProductFilter
from catalog.domain import products
from catalog.domain.search import check_search
from shared.api.ids import Id, PathId
from shared.api.problems import problem_responses
from shared.auth import StaffUser
from shared.db import DbSession, public_read_session, read_connection, read_session
from shared.errors import NotFound, Unprocessable
from shared.pagination import Page, PageParams, keyset_page, page_params

router = APIRouter(prefix="/api/products", tags=["products"])
# Stated exactly as checked (list_query's fast path reads the same form): no sign, no
# exponent, at most 10 digits before the point and 2 after.
PRICE_PATTERN = r"^[0-9]{1,10}(\.[0-9]{1,2})?$"
Price = Annotated[
    str | None,
    Query(
        pattern=PRICE_PATTERN,
        description="A price such as `9.99`: up to 10 digits, then optionally a point and"
        " 1 or 2 more.",
    ),
]


async def _page(
    session: AsyncSession, request: Request, f: ProductFilter, page: PageParams
) -> Page[ProductOut]:
    query = repo.list_query(f)
    # Links carry the validated parameters only (see catalog.api.list_query): the links
    # of a page cached for everyone must not repeat what one client added to its URL.
    query_string = urlencode(list_query.canonical_params(f, page.limit)).encode()
    links_from = Request({**request.scope, "query_string": query_string})
    rows, next_url, previous_url = await keyset_page(
        session,
        query.stmt,
        key_columns=query.key_columns,
        key_of=query.key_of,
        params=page,
        request=links_from,
        descending=query.descending,
        scalars=query.scalars,
    )
    items = rows if query.scalars else [row.Product for row in rows]
    return Page(results=[ProductOut.of(p) for p in items], next=next_url, previous=previous_url)


@router.get("/", response_model=Page[ProductOut], responses=problem_responses(422, 503))
async def list_products(
    request: Request,
    cache: Cache,
    settings: Settings,
    page: Annotated[PageParams, Depends(page_params)],
    category: Annotated[Id | None, Query(description="This category and all below it.")] = None,
    search: Annotated[
        str | None, Query(max_length=200, description="Full-text search in name and description.")
    ] = None,
    min_price: Price = None,
    max_price: Price = None,
    in_stock: bool | None = None,
    ordering: Annotated[
        Ordering | None,
        Query(description="Default: most relevant first when searching, else newest."),
    ] = None,
) -> Response:
    """Products in the shop. Pages are cached briefly; a write shows in the next read."""
    lowest = Decimal(min_price) if min_price is not None else None
    highest = Decimal(max_price) if max_price is not None else None
    if lowest is not None and highest is not None and lowest > highest:
        raise Unprocessable("min_price must not exceed max_price.", loc=("query", "min_price"))
    search = (search or "").strip() or None
    if search is not None:
        check_search(search, max_terms=settings.search_max_terms, max_or=settings.search_max_or)
    f = ProductFilter(
        category_id=category,
        search=search,
        min_price=lowest,
        max_price=highest,
        in_stock=in_stock,
        ordering=ordering,
    )

    page = PageParams(limit=page.limit, cursor=page.cursor or None)
    # Searches are the expensive class: their own small pool, a shorter statement timeout.
    opened = read_session if search is None else public_read_session

    async def compute() -> str:
        async with opened(request) as session:
            return (await _page(session, request, f, page)).model_dump_json()

    key = list_query.cache_key(f, page)
    return conditional_json(request, await cache.list_entry(key, compute))


@router.get("/{product_id}/", response_model=ProductOut, responses=problem_responses(404, 422))
async def get_product(product_id: PathId, request: Request, cache: Cache) -> Response:
    async def compute() -> str | None:
        async with read_connection(request) as conn:
            row = await repo.get_page(conn, product_id)
            return None if row is None else ProductOut.of(row).model_dump_json()

    entry = await cache.product_entry(product_id, compute)
    if entry is None:
        raise NotFound("No such product.")
    return conditional_json(request, entry)


@router.post("/", status_code=status.HTTP_201_CREATED, responses=problem_responses(401, 403, 422))
async def create_product(
    body: ProductIn, _: StaffUser, session: DbSession, cache: Cache
) -> ProductOut:
    product = await products.create(session, cache, **body.model_dump())
    return ProductOut.of(product)


@router.patch("/{product_id}/", responses=problem_responses(401, 403, 404, 422))
async def update_product(
    product_id: PathId, body: ProductPatch, _: StaffUser, session: DbSession, cache: Cache
) -> ProductOut:
    product = await products.update(
        session, cache, product_id, **body.model_dump(exclude_unset=True)
    )
    return ProductOut.of(product)


@router.delete(
    "/{product_id}/",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404),
)
async def delete_product(
    product_id: PathId, _: StaffUser, session: DbSession, cache: Cache
) -> Response:
    """Take the product out of the shop (its reviews and order history stay)."""
    await products.delete(session, cache, product_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
