"""`make history-rebuild` (`python -m orders.history.rebuild`): the projection from
scratch, replayed from the event archive in (occurred_at, event_id) order.

Safe while the projector runs: the store is emptied behind the rebuild gate, so every
event is either replayed from the archive or folded by the projector afterwards; both
are idempotent and order-insensitive, so the result is the same whichever wins.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from orders.history import archive, gate
from orders.history.projector import fold
from orders.history.settings import CassandraSettings
from orders.history.store import HistoryStore, open_store
from orders.settings import OrdersSettings
from shared.db import create_engine


async def reset(engine: AsyncEngine, store: HistoryStore) -> None:
    """Empty the store once no fold is in flight."""
    async with engine.connect() as conn:
        await gate.lock_for_reset(conn)
        try:
            await store.reset()
        finally:
            await gate.unlock(conn)
            await conn.commit()


async def replay(engine: AsyncEngine, store: HistoryStore, *, batch_size: int = 1000) -> int:
    """Fold every archived event into the store; returns how many."""
    total = 0
    async for events in archive.replay(engine, batch_size=batch_size):
        async with AsyncSession(engine) as session, session.begin():
            await store.apply(session, [fold(event) for event in events])
        total += len(events)
    return total


async def rebuild(engine: AsyncEngine, store: HistoryStore, *, batch_size: int = 1000) -> int:
    await reset(engine, store)
    return await replay(engine, store, batch_size=batch_size)


async def _main(batch_size: int) -> None:
    settings = OrdersSettings()
    engine = create_engine(settings, application_name="orders-history-rebuild")
    store = open_store(engine, CassandraSettings())
    try:
        await store.prepare()
        started = time.perf_counter()
        total = await rebuild(engine, store, batch_size=batch_size)
        elapsed = time.perf_counter() - started
        print(f"rebuilt the {store.name} projection from {total} archived events in {elapsed:.1f}s")
    finally:
        await store.close()
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m orders.history.rebuild", description=__doc__)
    parser.add_argument("--batch-size", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(_main(args.batch_size))


if __name__ == "__main__":
    main()
