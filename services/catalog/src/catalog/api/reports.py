"""`/api/reports/low-stock/` and `/api/reports/category-stats/` (staff)."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from catalog.api.schemas import CENT, ProductOut
from catalog.db.reports import category_stats_query, low_stock_query
from catalog.db.tables import Category, Product
from shared.api.problems import problem_responses
from shared.auth import StaffUser
from shared.db import DbSession
from shared.pagination import Page, PageParams, keyset_page, page_params

router = APIRouter(prefix="/api/reports", tags=["reports"])


class CategoryStats(BaseModel):
    category_id: int
    category_name: str
    product_count: int
    total_stock: int
    average_price: str | None
    refreshed_at: datetime | None


@router.get("/low-stock/", responses=problem_responses(401, 403, 422))
async def low_stock(
    _: StaffUser,
    session: DbSession,
    request: Request,
    page: Annotated[PageParams, Depends(page_params)],
    threshold: Annotated[int, Query(ge=0, le=1_000_000)] = 10,
) -> Page[ProductOut]:
    """Products with at most `threshold` units left, the scarcest first."""
    rows, next_url, previous_url = await keyset_page(
        session,
        low_stock_query(threshold),
        key_columns=[Product.stock_quantity, Product.id],
        key_of=lambda p: (p.stock_quantity, p.id),
        params=page,
        request=request,
    )
    return Page(results=[ProductOut.of(p) for p in rows], next=next_url, previous=previous_url)


@router.get("/category-stats/", responses=problem_responses(401, 403, 422))
async def category_stats(
    _: StaffUser,
    session: DbSession,
    request: Request,
    page: Annotated[PageParams, Depends(page_params)],
) -> Page[CategoryStats]:
    """Products, units in stock and average price per category, as of `refreshed_at`
    (recomputed in the background every minute, never on the request path)."""
    rows, next_url, previous_url = await keyset_page(
        session,
        category_stats_query(),
        key_columns=[Category.id],
        key_of=lambda row: (row.category_id,),
        params=page,
        request=request,
        scalars=False,
    )
    return Page(
        results=[
            CategoryStats(
                category_id=row.category_id,
                category_name=row.category_name,
                product_count=row.product_count or 0,
                total_stock=row.total_stock or 0,
                average_price=_money(row.average_price),
                refreshed_at=row.refreshed_at,
            )
            for row in rows
        ],
        next=next_url,
        previous=previous_url,
    )


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value.quantize(CENT, rounding=ROUND_HALF_UP))
