"""The books of a fault run, read as the database superuser across every schema: events
lost or applied twice (every outbox against every consumer's inbox and the history
archive), and orders, payments (and payments' replica of them) and stock in a wrong or
unfinished state."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import asyncpg

# An order at rest: nothing more happens to it without a customer or an operator.
FINAL = {"paid", "cancelled", "payment_failed"}


@dataclass
class Books:
    events_published: int = 0
    events_handled: int = 0
    # (consumer group, producer schema) -> event ids published but not handled.
    lost: dict[str, list[str]] = field(default_factory=dict)
    # Effects counted twice: payments, charges, reservations.
    doubled: list[str] = field(default_factory=list)
    # Orders (and their payments) not in a final, consistent state.
    wrong: list[str] = field(default_factory=list)

    @property
    def lost_count(self) -> int:
        return sum(len(ids) for ids in self.lost.values())


async def _tables(conn: asyncpg.Connection, name: str) -> list[str]:
    rows = await conn.fetch("SELECT schemaname FROM pg_tables WHERE tablename = $1", name)
    return sorted(r["schemaname"] for r in rows)


async def _events(conn: asyncpg.Connection, books: Books) -> None:
    outboxes = await _tables(conn, "outbox")
    union = " UNION ALL ".join(
        f"SELECT '{s}' AS producer, event_id, type FROM {s}.outbox" for s in outboxes
    )
    books.events_published = await conn.fetchval(f"SELECT count(*) FROM ({union}) o")
    for schema in await _tables(conn, "inbox"):
        # Which event types a group consumes, from what it handled; then every published
        # event of those types must be in its inbox.
        rows = await conn.fetch(
            f"""
            WITH o AS ({union}),
                 handled AS (SELECT i.consumer_group, o.producer, o.type, o.event_id
                             FROM {schema}.inbox i JOIN o USING (event_id)),
                 wanted AS (SELECT DISTINCT consumer_group, producer, type FROM handled)
            SELECT w.consumer_group, w.producer, o.event_id::text AS event_id
            FROM wanted w JOIN o ON o.producer = w.producer AND o.type = w.type
            WHERE NOT EXISTS (SELECT 1 FROM {schema}.inbox i
                              WHERE i.consumer_group = w.consumer_group
                                AND i.event_id = o.event_id)
            """
        )
        for row in rows:
            books.lost.setdefault(f"{row['consumer_group']} <- {row['producer']}", []).append(
                row["event_id"]
            )
        books.events_handled += await conn.fetchval(f"SELECT count(*) FROM {schema}.inbox")
    # The history projector on the embedded store writes no inbox row: its archive, keyed
    # by event id, holds every event it folded. The same check against the archive.
    rows = await conn.fetch(
        f"""
        WITH o AS ({union}),
             wanted AS (SELECT DISTINCT o.producer, o.type
                        FROM order_history.event_archive a JOIN o USING (event_id))
        SELECT w.producer, o.event_id::text AS event_id
        FROM wanted w JOIN o ON o.producer = w.producer AND o.type = w.type
        WHERE NOT EXISTS (SELECT 1 FROM order_history.event_archive a
                          WHERE a.event_id = o.event_id)
        """
    )
    for row in rows:
        books.lost.setdefault(f"history archive <- {row['producer']}", []).append(row["event_id"])
    books.events_handled += await conn.fetchval("SELECT count(*) FROM order_history.event_archive")


async def _orders(conn: asyncpg.Connection, books: Books, order_ids: list[int]) -> None:
    orders = {
        r["id"]: r["status"]
        for r in await conn.fetch(
            "SELECT id, status FROM orders.orders WHERE id = ANY($1)", order_ids
        )
    }
    succeeded = {
        r["order_id"]: r["n"]
        for r in await conn.fetch(
            "SELECT order_id, count(*) AS n FROM payments.payments"
            " WHERE status = 'succeeded' AND order_id = ANY($1) GROUP BY order_id",
            order_ids,
        )
    }
    stock = {
        r["order_id"]: r["status"]
        for r in await conn.fetch(
            "SELECT order_id, status FROM catalog.stock_orders WHERE order_id = ANY($1)", order_ids
        )
    }
    # Payments keeps its replica of the orders without an inbox row (one upsert per event).
    replica = {
        r["order_id"]: r["status"]
        for r in await conn.fetch(
            "SELECT order_id, status FROM payments.orders WHERE order_id = ANY($1)", order_ids
        )
    }
    for order_id in order_ids:
        status = orders.get(order_id)
        paid = succeeded.get(order_id, 0)
        if status not in FINAL:
            books.wrong.append(f"order {order_id} is {status}")
        if paid > 1:
            books.doubled.append(f"order {order_id} has {paid} succeeded payments")
        if (status == "paid") != (paid == 1):
            books.wrong.append(f"order {order_id} is {status} with {paid} succeeded payments")
        if replica.get(order_id) != status:
            books.wrong.append(f"order {order_id} is {status}, {replica.get(order_id)} to payments")
        expected_stock = {"paid": "committed", "cancelled": None}.get(status or "", "reserved")
        if status == "cancelled" and stock.get(order_id) not in ("rejected", "released"):
            books.wrong.append(f"cancelled order {order_id} left stock {stock.get(order_id)}")
        elif expected_stock and stock.get(order_id) != expected_stock:
            books.wrong.append(f"{status} order {order_id} has stock {stock.get(order_id)}")
    charges = await conn.fetchval(
        "SELECT count(*) FROM payments.provider_charges WHERE kind = 'charge' AND succeeded"
    )
    payments = await conn.fetchval(
        "SELECT count(*) FROM payments.payments WHERE status = 'succeeded'"
    )
    if charges != payments:
        books.doubled.append(f"{charges} successful provider charges for {payments} payments")


async def _stock(conn: asyncpg.Connection, books: Books, initial: dict[int, int]) -> None:
    for product_id, units in initial.items():
        row = await conn.fetchrow(
            "SELECT p.stock_quantity AS left,"
            " coalesce(sum(r.quantity) FILTER (WHERE s.status IN ('reserved', 'committed')), 0)"
            " AS taken"
            " FROM catalog.products p"
            " LEFT JOIN catalog.stock_reservations r ON r.product_id = p.id"
            " LEFT JOIN catalog.stock_orders s ON s.order_id = r.order_id"
            " WHERE p.id = $1 GROUP BY p.stock_quantity",
            product_id,
        )
        assert row is not None
        if row["left"] + row["taken"] != units:
            books.doubled.append(
                f"product {product_id}: {row['left']} left + {row['taken']} taken != {units}"
            )


async def _read(dsn: str, order_ids: list[int], initial_stock: dict[int, int]) -> Books:
    books = Books()
    conn = await asyncpg.connect(dsn)
    try:
        await _events(conn, books)
        await _orders(conn, books, order_ids)
        await _stock(conn, books, initial_stock)
    finally:
        await conn.close()
    return books


def read_books(dsn: str, *, order_ids: list[int], initial_stock: dict[int, int]) -> Books:
    return asyncio.run(_read(dsn, order_ids, initial_stock))


def settled_books(
    dsn: str, *, order_ids: list[int], initial_stock: dict[int, int], seconds: float = 60
) -> Books:
    """The books once the saga has caught up (events still in flight are not lost yet)."""
    import time

    deadline = time.monotonic() + seconds
    while True:
        books = read_books(dsn, order_ids=order_ids, initial_stock=initial_stock)
        clean = not (books.lost or books.wrong or books.doubled)
        if clean or time.monotonic() > deadline:
            return books
        time.sleep(0.5)


def describe(books: Books) -> dict[str, Any]:
    return {
        "published": books.events_published,
        "handled": books.events_handled,
        "lost": {k: v[:5] for k, v in books.lost.items()},
        "doubled": books.doubled[:10],
        "wrong": books.wrong[:10],
    }
