"""Operator commands of the orders service.

python -m orders.cli load-orders --count 100000   # `make load-data ORDERS=N`
"""

from __future__ import annotations

import argparse
import asyncio
import time

from orders.history.settings import CassandraSettings
from orders.loadorders import MissingReplicas, load_orders
from orders.settings import OrdersSettings
from shared.db import create_engine


async def _load(settings: OrdersSettings, count: int, months: int, seed: int | None) -> str:
    engine = create_engine(settings, application_name="orders-cli", pool_size=1)
    started = time.monotonic()
    try:
        written = await load_orders(
            engine, count=count, months=months, currency=settings.currency, seed=seed
        )
    finally:
        await engine.dispose()
    return (
        f"{written} historical orders added over the last {months} months, with their"
        f" history projection rows, in {time.monotonic() - started:.1f} s (no events published)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m orders.cli")
    commands = parser.add_subparsers(dest="command", required=True)
    load = commands.add_parser(
        "load-orders",
        help="bulk historical orders (and their history projection) for load tests; adds more",
    )
    load.add_argument("--count", type=int, required=True)
    load.add_argument("--months", type=int, default=12, help="spread over this many past months")
    load.add_argument("--seed", type=int, help="random seed, for a repeatable data set")
    args = parser.parse_args()
    if not 1 <= args.count <= 10_000_000:
        raise SystemExit("error: --count must be 1..10000000")
    if not 1 <= args.months <= 120:
        raise SystemExit("error: --months must be 1..120")
    if CassandraSettings().contact_points:
        # The rows are written by COPY into the Postgres projection only.
        raise SystemExit(
            "error: the history projection is in Cassandra (CASSANDRA_CONTACT_POINTS is set);"
            " load-orders writes only the Postgres store: unset it to load orders"
        )
    try:
        print(asyncio.run(_load(OrdersSettings(), args.count, args.months, args.seed)))
    except MissingReplicas as exc:
        raise SystemExit(f"error: {exc}") from exc


if __name__ == "__main__":
    main()
