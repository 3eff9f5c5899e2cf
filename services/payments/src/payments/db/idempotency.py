"""Idempotency keys of payment requests, kept by `shared.idempotency` in this schema."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from payments.db.tables import IdempotencyRecord
from shared import idempotency

# Names this service's advisory locks apart from other schemas' keys.
SCOPE = "payments"
RECORDS = IdempotencyRecord


async def try_lock(session: AsyncSession, *, user_id: int, key: str) -> bool:
    """Hold the key for this transaction; False if another request holds it now."""
    return await idempotency.try_lock(session, SCOPE, user_id=user_id, key=key)


async def purge(engine: AsyncEngine, *, before: datetime) -> int:
    """Delete keys created before `before`; returns how many."""
    return await idempotency.purge(engine, RECORDS, before=before)
