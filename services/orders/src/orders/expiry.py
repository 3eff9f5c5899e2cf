"""Cancel orders whose payment window passed unpaid, so their stock goes back on sale."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from orders.db import orders
from orders.domain import lifecycle
from shared.db import commit, create_sessionmaker

log = logging.getLogger(__name__)


async def expire_overdue(engine: AsyncEngine, *, now: datetime | None = None) -> int:
    """One sweep: each overdue order is cancelled in its own transaction (its OrderCancelled
    event with it). Safe with several workers sweeping: `expire` locks and re-checks."""
    sessionmaker = create_sessionmaker(engine)
    now = now or datetime.now(UTC)
    async with sessionmaker() as session:
        overdue = await orders.expired_ids(session, now=now)
    expired = 0
    for order_id in overdue:
        async with sessionmaker() as session:
            if await lifecycle.expire(session, order_id, now=now) is not None:
                expired += 1
            await commit(session)
    return expired


async def sweep(engine: AsyncEngine) -> int:
    """One round of the worker's periodic sweep (`shared.periodic.every`), logged."""
    if expired := await expire_overdue(engine):
        log.info("cancelled %d orders whose payment window passed", expired)
    return expired
