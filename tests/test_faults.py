"""Faults under load, against the stack `make run` starts (its Procfile, its supervisor,
its nginx) moved to free ports, on a throwaway PostgreSQL cluster and Redis server of its
own (restarting the shared ones would break everyone else's tests):

- SIGKILL of one of two catalog replicas under a stream of GETs: no GET fails, the
  supervisor starts the replica again;
- a PostgreSQL restart and a Redis restart in the middle of checkouts: every order ends
  paid, no event is lost (every outbox against every inbox), nothing is applied twice.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.faultstack import FaultStack, eventually, fault_stack, missing_tools
from tests.ledger import describe, settled_books
from tests.shopper import ReadLoad, Shop

CHECKOUTS = 6
STOCK = 1000


@pytest.fixture(scope="module")
def stack() -> Iterator[FaultStack]:
    reason = missing_tools()
    if reason:
        pytest.skip(reason)
    with fault_stack(replicas={"catalog": 2}) as running:
        yield running


@pytest.fixture(scope="module")
def shop(stack: FaultStack) -> Iterator[Shop]:
    shop = Shop(stack)
    yield shop
    shop.close()


@pytest.fixture(scope="module")
def product(shop: Shop) -> int:
    return shop.new_product(shop.staff_headers(), stock=STOCK)


def test_a_killed_replica_costs_no_get_and_comes_back(stack: FaultStack, product: int) -> None:
    victim = stack.pid("catalog-1")
    assert victim is not None
    paths = [f"/api/products/{product}/", "/api/products/?limit=5", "/api/categories/"]
    with ReadLoad(Shop(stack), paths) as load:
        eventually(lambda: load.total() >= 50, what="GETs before the kill")
        os.kill(victim, signal.SIGKILL)
        restarted = eventually(
            lambda: (pid := stack.pid("catalog-1")) not in (None, victim) and pid,
            what="the supervisor to start catalog-1 again",
        )
        stack.wait_ready("catalog", 1)
        after = load.total()
        eventually(lambda: load.total() >= after + 50, what="GETs after the restart")
    assert set(load.tally.statuses) == {"200"}, load.tally.statuses
    assert restarted != victim
    # The other replica and every other process kept running: one start each.
    status = stack.status()
    assert status["catalog-1"]["starts"] == 2
    assert {n: e["starts"] for n, e in status.items() if n != "catalog-1"} == {
        n: 1 for n in status if n != "catalog-1"
    }


def checkouts_through(
    shop: Shop, product: int, fault: Callable[[], None]
) -> tuple[list[int], dict[str, int]]:
    """CHECKOUTS customers check out at once; `fault` strikes once they are under way."""
    customers = [shop.customer() for _ in range(CHECKOUTS)]
    started = threading.Barrier(CHECKOUTS + 1)

    def one(headers: dict[str, str]) -> int:
        started.wait(timeout=60)
        return shop.checkout(headers, product)

    with ThreadPoolExecutor(max_workers=CHECKOUTS) as pool:
        futures: list[Future[int]] = [pool.submit(one, h) for h in customers]
        started.wait(timeout=60)
        fault()
        order_ids = [f.result(timeout=300) for f in futures]
    return order_ids, dict(shop.tally.statuses)


def assert_books_balance(stack: FaultStack, order_ids: list[int], product: int) -> None:
    books = settled_books(
        stack.database_dsn,
        order_ids=order_ids,
        initial_stock={product: STOCK},
    )
    assert books.events_published > 0
    assert not books.lost, describe(books)
    assert not books.doubled, describe(books)
    assert not books.wrong, describe(books)


@pytest.mark.parametrize("dependency", ["postgres", "redis", "postgres-full"])
def test_a_restart_mid_checkout_loses_and_doubles_nothing(
    stack: FaultStack, shop: Shop, product: int, dependency: str
) -> None:
    def restart() -> None:
        if dependency == "postgres":
            stack.pg.restart("fast", down_s=1.0)
        elif dependency == "postgres-full":
            # Not a restart: the server stays up and refuses new connections for a while,
            # as it does when its max_connections are all taken.
            stack.pg.refuse_connections(seconds=10.0)
        else:
            stack.redis.restart(down_s=1.0)

    order_ids, statuses = checkouts_through(shop, product, restart)
    assert len(set(order_ids)) == CHECKOUTS, order_ids
    assert_books_balance(stack, order_ids, product)
    # The shop is whole again: every replica is ready without any restart of its own.
    for service in ("users", "catalog", "orders", "payments"):
        stack.wait_ready(service)
    assert stack.status()["orders-worker"]["starts"] == 1, statuses


def test_without_redis_writes_succeed_reads_fall_back_and_readiness_is_degraded(
    stack: FaultStack, shop: Shop, product: int
) -> None:
    customers = [shop.customer() for _ in range(3)]
    stack.redis.stop()
    try:
        # Reads: the catalog's cache is gone, PostgreSQL answers (no retries here).
        for _ in range(5):
            response = shop.call(
                "GET",
                f"/api/products/{product}/",
                headers={"Authorization": "Bearer -"},
                retry=False,
            )
            assert response.status_code == 200, response.text
        ready = httpx.get(f"http://127.0.0.1:{stack.service_port('catalog')}/health/ready")
        assert ready.status_code == 200
        assert ready.json()["status"] == "degraded"
        assert ready.json()["checks"]["redis"].startswith("error")
        # Writes: orders are accepted at once; their events wait in the outbox.
        order_ids = [shop.place_order(h, product) for h in customers]
        # Logins: the limiter fails open.
        assert shop.customer()
    finally:
        stack.redis.start()
    for headers, order_id in zip(customers, order_ids, strict=True):
        shop.pay_and_settle(headers, order_id)
    assert_books_balance(stack, order_ids, product)


def test_statuses_seen_are_only_successes_or_retryable(shop: Shop) -> None:
    """What customers saw through all of the above: answers they could act on."""
    seen: dict[str, Any] = dict(shop.tally.statuses)
    expected = {"200", "201", "202", "404", "409", "422", "429", "502", "503", "504", "error"}
    assert set(seen) <= expected, seen
