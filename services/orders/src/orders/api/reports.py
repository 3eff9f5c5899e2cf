"""`/api/reports/bestsellers/` (public) and `/api/reports/customer-stats/` (staff)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, field_serializer

from orders.db import reports
from orders.db.tables import CustomerStats
from shared.api.problems import problem_responses
from shared.auth import StaffUser
from shared.db import DbSession
from shared.pagination import Page, PageParams, keyset_page, page_params

router = APIRouter(prefix="/api/reports", tags=["reports"])


class Bestseller(BaseModel):
    product_id: int
    name: str
    units_sold: int
    revenue: Decimal

    @field_serializer("revenue")
    def _money(self, value: Decimal) -> str:
        return f"{value:.2f}"


class CustomerStatsOut(BaseModel):
    user_id: int
    orders_count: int
    total_spent: Decimal

    @field_serializer("total_spent")
    def _money(self, value: Decimal) -> str:
        return f"{value:.2f}"


@router.get("/bestsellers/", responses=problem_responses(422))
async def bestsellers(
    session: DbSession, limit: Annotated[int, Query(ge=1, le=100)] = 10
) -> list[Bestseller]:
    """The products with the most units sold in paid orders, with their revenue.

    Read from a table kept current by the orders worker: ten rows, whatever the number
    of orders.
    """
    rows = (await session.execute(reports.bestsellers(limit))).scalars()
    return [
        Bestseller(product_id=r.product_id, name=r.name, units_sold=r.units, revenue=r.revenue)
        for r in rows
    ]


@router.get("/customer-stats/", responses=problem_responses(401, 403, 422))
async def customer_stats(
    _: StaffUser,
    session: DbSession,
    request: Request,
    page: Annotated[PageParams, Depends(page_params)],
) -> Page[CustomerStatsOut]:
    """Paid orders and money spent per customer, biggest spenders first (staff)."""
    rows, next_url, previous_url = await keyset_page(
        session,
        reports.customer_stats(),
        key_columns=[CustomerStats.total_spent, CustomerStats.user_id],
        key_of=lambda c: (c.total_spent, c.user_id),
        params=page,
        request=request,
        descending=True,
    )
    return Page(
        results=[
            CustomerStatsOut(
                user_id=c.user_id, orders_count=c.orders_count, total_spent=c.total_spent
            )
            for c in rows
        ],
        next=next_url,
        previous=previous_url,
    )
