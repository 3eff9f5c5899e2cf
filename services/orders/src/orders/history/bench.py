"""`python -m orders.history.bench`: how fast the projection folds events, and how fast a
user with 10,000 orders reads their history (first page, and pages deep in the list).

Runs in a throwaway database (bootstrap + every migration, dropped after), against the
Postgres store, or Cassandra when CASSANDRA_CONTACT_POINTS is set (keyspace
`history_bench`, dropped after). Writes go through the projector's path: archive + fold
in one transaction per batch of `--batch` events, as the consumer commits them.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from orders.history import archive, gate
from orders.history.model import PageKey
from orders.history.projector import fold, parse
from orders.history.settings import CassandraSettings
from orders.history.store import HistoryStore, open_store
from shared.dbadmin import service_url
from shared.testing import create_database, destroy_database, new_database_name

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _event(event_type: str, payload: dict[str, Any], at: datetime) -> Any:
    raw = {
        "event_id": str(uuid4()),
        "type": event_type,
        "version": 1,
        "occurred_at": at.isoformat(),
        "producer": event_type.split(".")[0],
        "correlation_id": None,
        "aggregate_id": str(payload["order_id"]),
        "payload": payload,
    }
    return parse(event_type, raw)


def order_events(order_id: int, user_id: int, at: datetime) -> list[Any]:
    """A paid order's four events: placed, awaiting payment, payment succeeded, paid."""
    state = {"order_id": order_id, "user_id": user_id, "total_amount": "25.00", "currency": "EUR"}
    line = {
        "product_id": 1,
        "name": "Mug",
        "quantity": 2,
        "unit_price": "12.50",
        "line_total": "25.00",
    }
    pay = {
        "payment_id": order_id,
        "order_id": order_id,
        "user_id": user_id,
        "amount": "25.00",
        "currency": "EUR",
        "method": "card",
        "card_brand": "visa",
        "card_last4": "4242",
    }
    return [
        _event(
            "orders.OrderPlaced",
            {
                **state,
                "status": "pending",
                "previous_status": None,
                "lines": [line, {**line, "product_id": 2}],
                "expires_at": None,
            },
            at,
        ),
        _event(
            "orders.OrderAwaitingPayment",
            {
                **state,
                "status": "awaiting_payment",
                "previous_status": "pending",
                "expires_at": None,
            },
            at + timedelta(seconds=1),
        ),
        _event("payments.PaymentSucceeded", pay, at + timedelta(seconds=2)),
        _event(
            "orders.OrderPaid",
            {**state, "status": "paid", "previous_status": "awaiting_payment"},
            at + timedelta(seconds=3),
        ),
    ]


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


async def bench(database: str, *, orders: int, batch: int, reads: int) -> None:
    engine = create_async_engine(service_url("orders", database=database), pool_size=5)
    cassandra = CassandraSettings()
    if cassandra.contact_points:
        cassandra = cassandra.model_copy(update={"keyspace": "history_bench"})
    store: HistoryStore = open_store(engine, cassandra)
    await store.prepare()
    try:
        user_id = 42
        events = [
            e
            for n in range(1, orders + 1)
            for e in order_events(n, user_id, T0 + timedelta(minutes=n))
        ]
        started = time.perf_counter()
        for start in range(0, len(events), batch):
            chunk = events[start : start + batch]
            async with AsyncSession(engine) as session, session.begin():
                await gate.enter_fold(session)
                await archive.append(session, chunk)
                await store.apply(session, [fold(e) for e in chunk])
        elapsed = time.perf_counter() - started
        print(f"store: {store.name}")
        print(
            f"applied {len(events)} events ({orders} orders of one user) in {elapsed:.1f}s:"
            f" {len(events) / elapsed:,.0f} events/s (batches of {batch}, archive included)"
        )

        for label, key in (
            ("first page", None),
            ("page at order 5,000", PageKey(T0 + timedelta(minutes=orders // 2), orders // 2)),
        ):
            timings = []
            for _ in range(reads):
                t = time.perf_counter()
                page = await store.list_orders(user_id, limit=20, after=key)
                timings.append((time.perf_counter() - t) * 1000)
                assert len(page.orders) == 20
            print(
                f"history read, {label} (20 orders of {orders}), {reads} reads:"
                f" p50 {statistics.median(timings):.2f} ms, p99 {_percentile(timings, 0.99):.2f} ms"
            )
        timings = []
        for n in range(1, reads + 1):
            t = time.perf_counter()
            await store.timeline(n)
            timings.append((time.perf_counter() - t) * 1000)
        print(
            f"timeline read, {reads} orders: p50 {statistics.median(timings):.2f} ms,"
            f" p99 {_percentile(timings, 0.99):.2f} ms"
        )
    finally:
        if cassandra.contact_points:
            await store.drop_keyspace()  # type: ignore[attr-defined]
        await store.close()
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m orders.history.bench", description=__doc__)
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--reads", type=int, default=1000)
    args = parser.parse_args()
    database = new_database_name()
    create_database(database)
    try:
        asyncio.run(bench(database, orders=args.orders, batch=args.batch, reads=args.reads))
    finally:
        destroy_database(database)


if __name__ == "__main__":
    main()
