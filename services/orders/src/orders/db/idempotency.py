"""Idempotency keys of order creation and placing, kept by `shared.idempotency` in this
schema."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from orders.db.tables import IdempotencyKey
from shared import idempotency

# Names this service's advisory locks apart from other schemas' keys.
SCOPE = "orders"
RECORDS = IdempotencyKey


async def purge(engine: AsyncEngine, *, before: datetime) -> int:
    """Delete keys created before `before`; returns how many."""
    return await idempotency.purge(engine, RECORDS, before=before)
