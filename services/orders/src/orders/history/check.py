"""`make history-check` (`python -m orders.history.check`): compare the projection
with the orders service's own rows (status, total) and report any drift.

Orders change while the check runs, so a difference is reported only if it is still
there after `--settle` seconds (the projector normally catches up within one).
Exit status 1 when drift remains.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from orders.db.tables import Order
from orders.history.settings import CassandraSettings
from orders.history.store import HistoryStore, open_store
from orders.settings import OrdersSettings
from shared.db import create_engine

BATCH = 1000


@dataclass(frozen=True, slots=True)
class Drift:
    order_id: int
    problem: str  # missing, status, total, unknown
    expected: str
    projected: str


@dataclass(frozen=True, slots=True)
class _Source:
    id: int
    status: str
    total_amount: Decimal


async def _source(engine: AsyncEngine, ids: Sequence[int] | None, after: int) -> list[_Source]:
    # Drafts publish no event: the projection never holds them.
    stmt = select(Order.id, Order.status, Order.total_amount).where(Order.status != "draft")
    stmt = stmt.where(Order.id.in_(ids)) if ids is not None else stmt.where(Order.id > after)
    async with engine.connect() as conn:
        rows = (await conn.execute(stmt.order_by(Order.id).limit(BATCH))).all()
    return [_Source(r.id, r.status, r.total_amount) for r in rows]


async def _compare(store: HistoryStore, orders: list[_Source]) -> list[Drift]:
    states = await store.states([o.id for o in orders])
    drifts: list[Drift] = []
    for order in orders:
        state = states.get(order.id)
        if state is None or not state.placed:
            drifts.append(Drift(order.id, "missing", order.status, "-"))
        elif state.status != order.status:
            drifts.append(Drift(order.id, "status", order.status, str(state.status)))
        elif state.total is None or Decimal(state.total) != order.total_amount:
            drifts.append(Drift(order.id, "total", str(order.total_amount), str(state.total)))
    return drifts


async def find_drift(engine: AsyncEngine, store: HistoryStore) -> list[Drift]:
    """One pass: every non-draft order against the projection, and projected unknowns."""
    drifts: list[Drift] = []
    after = 0
    while orders := await _source(engine, None, after):
        drifts += await _compare(store, orders)
        after = orders[-1].id
    unknown: list[int] = []
    batch: list[int] = []
    async for order_id in store.order_ids():
        batch.append(order_id)
        if len(batch) == BATCH:
            unknown += await _unknown(engine, batch)
            batch = []
    unknown += await _unknown(engine, batch)
    drifts += [Drift(order_id, "unknown", "-", "projected") for order_id in unknown]
    return drifts


async def _unknown(engine: AsyncEngine, ids: list[int]) -> list[int]:
    """The ids the orders service has no placed order for."""
    if not ids:
        return []
    async with engine.connect() as conn:
        stmt = select(Order.id).where(Order.id.in_(ids), Order.status != "draft")
        present = set((await conn.execute(stmt)).scalars())
    return [order_id for order_id in ids if order_id not in present]


async def recheck(engine: AsyncEngine, store: HistoryStore, drifts: list[Drift]) -> list[Drift]:
    """The drifts that are still there."""
    ids = [d.order_id for d in drifts if d.problem != "unknown"]
    still: list[Drift] = []
    for start in range(0, len(ids), BATCH):
        still += await _compare(store, await _source(engine, ids[start : start + BATCH], 0))
    unknown = [d.order_id for d in drifts if d.problem == "unknown"]
    for start in range(0, len(unknown), BATCH):
        gone = await _unknown(engine, unknown[start : start + BATCH])
        still += [Drift(order_id, "unknown", "-", "projected") for order_id in gone]
    return still


async def check(engine: AsyncEngine, store: HistoryStore, *, settle_s: float = 5.0) -> list[Drift]:
    drifts = await find_drift(engine, store)
    if drifts and settle_s > 0:
        await asyncio.sleep(settle_s)
        drifts = await recheck(engine, store, drifts)
    return drifts


async def _main(settle_s: float) -> int:
    settings = OrdersSettings()
    engine = create_engine(settings, application_name="orders-history-check")
    store = open_store(engine, CassandraSettings())
    try:
        await store.prepare()
        drifts = await check(engine, store, settle_s=settle_s)
    finally:
        await store.close()
        await engine.dispose()
    for drift in drifts:
        print(
            f"order {drift.order_id}: {drift.problem} "
            f"(orders: {drift.expected}, projection: {drift.projected})"
        )
    print(f"{len(drifts)} orders drift from the {store.name} projection")
    return 1 if drifts else 0


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m orders.history.check", description=__doc__)
    parser.add_argument("--settle", type=float, default=5.0, help="seconds before a recheck")
    args = parser.parse_args()
    sys.exit(asyncio.run(_main(args.settle)))


if __name__ == "__main__":
    main()
