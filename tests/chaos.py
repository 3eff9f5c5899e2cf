"""`make chaos`: each failure against the shop `make run` starts (its Procfile, supervisor
and nginx, on a throwaway PostgreSQL and Redis and free ports, see tests/faultstack.py),
under a steady load of checkouts and product reads; one table row per scenario.

    make chaos [CHAOS_SCENARIOS=replica-kill,pg-restart] [CHAOS_SHOPPERS=3]

Per scenario: the answers the load got (5xx and transport errors are failures; 409/422
are the saga's "not yet"), checkouts that could not finish, orders and payments in a
wrong or unfinished state, events lost (every outbox against every consumer's inbox) or
applied twice (payments, provider charges, stock), and the time from the fault to the
last failed answer. Bounded (each scenario well under two minutes) and self-cleaning.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.faultstack import FaultStack, eventually, fault_stack, missing_tools
from tests.ledger import Books, read_books, settled_books
from tests.shopper import CheckoutFailed, ReadLoad, Shop, Tally

STOCK = 100_000
WARMUP_S = 5.0
AFTER_S = 10.0


@dataclass
class Scenario:
    name: str
    what: str
    # Injects the fault; returns when the dependency or process is back.
    strike: Callable[[FaultStack], None]


def _kill(process: str) -> Callable[[FaultStack], None]:
    def strike(stack: FaultStack) -> None:
        pid = stack.pid(process)
        assert pid is not None, process
        os.kill(pid, signal.SIGKILL)
        eventually(
            lambda: stack.pid(process) not in (None, pid), what=f"{process} restarted", seconds=90
        )
        service, _, replica = process.rpartition("-")
        if replica.isdigit():
            stack.wait_ready(service, int(replica))

    return strike


def _pg_restart(stack: FaultStack) -> None:
    stack.pg.restart("fast", down_s=3.0)


def _pg_crash(stack: FaultStack) -> None:
    stack.pg.restart("immediate", down_s=3.0)


def _redis_restart(stack: FaultStack) -> None:
    stack.redis.restart(down_s=3.0)


def _redis_crash(stack: FaultStack) -> None:
    stack.redis.restart(down_s=3.0, crash=True)


def _redis_outage(stack: FaultStack) -> None:
    stack.redis.restart(down_s=float(os.environ.get("CHAOS_REDIS_DOWN_S", "30")))


def _slow(which: str, delay_s: float, for_s: float) -> Callable[[FaultStack], None]:
    def strike(stack: FaultStack) -> None:
        proxy = stack.pg_proxy if which == "pg" else stack.redis_proxy
        assert proxy is not None
        proxy.delay_s = delay_s
        time.sleep(for_s)
        proxy.delay_s = 0

    return strike


SCENARIOS = [
    Scenario("replica-kill", "SIGKILL catalog-1 (of 2)", _kill("catalog-1")),
    Scenario("orders-replica-kill", "SIGKILL orders-1 (of 2)", _kill("orders-1")),
    Scenario("worker-kill", "SIGKILL the orders worker mid-batch", _kill("orders-worker")),
    Scenario("processor-kill", "SIGKILL the payments worker", _kill("payments-worker")),
    Scenario("pg-restart", "PostgreSQL fast restart, 3 s down", _pg_restart),
    Scenario("pg-crash", "PostgreSQL immediate stop (crash), 3 s down", _pg_crash),
    Scenario("redis-restart", "Redis restart (AOF kept), 3 s down", _redis_restart),
    Scenario("redis-crash", "Redis SIGKILL (AOF everysec), 3 s down", _redis_crash),
    Scenario("redis-outage", "Redis gone for CHAOS_REDIS_DOWN_S (30 s)", _redis_outage),
    Scenario("pg-slow", "PostgreSQL replies 300 ms late for 15 s", _slow("pg", 0.3, 15)),
    Scenario("redis-slow", "Redis replies 1 s late for 15 s", _slow("redis", 1.0, 15)),
]


@dataclass
class Result:
    scenario: Scenario
    tally: Tally
    checkouts: int = 0
    checkouts_failed: list[str] = field(default_factory=list)
    books: Books | None = None
    fault_at: float = 0.0
    back_at: float = 0.0
    # Events already in the books before this scenario (the stack's database is shared).
    published_before: int = 0
    handled_before: int = 0

    @property
    def recovery_s(self) -> float:
        """From the fault to its last failed answer (0: nobody saw a failure)."""
        late = [t for t in self.tally.failed_at if t >= self.fault_at]
        return max(late) - self.fault_at if late else 0.0


def run_scenario(stack: FaultStack, scenario: Scenario, shoppers: int) -> Result:
    tally = Tally()
    shop = Shop(stack, tally)
    staff = shop.staff_headers()
    product = shop.new_product(staff, stock=STOCK)
    customers = [shop.customer() for _ in range(shoppers)]
    result = Result(scenario, tally)
    before = read_books(stack.database_dsn, order_ids=[], initial_stock={})
    result.published_before, result.handled_before = before.events_published, before.events_handled
    order_ids: list[int] = []
    lock = threading.Lock()
    stop = threading.Event()

    def shopper(headers: dict[str, str]) -> None:
        while not stop.is_set():
            try:
                order_id = shop.checkout(headers, product)
            except (CheckoutFailed, OSError, Exception) as exc:  # every failure is reported
                with lock:
                    result.checkouts_failed.append(f"{type(exc).__name__}: {exc}"[:200])
                stop.wait(1.0)  # a customer who failed does not hammer the shop
                continue
            with lock:
                order_ids.append(order_id)
                result.checkouts += 1

    paths = [f"/api/products/{product}/", "/api/products/?limit=10", "/api/categories/"]
    threads = [threading.Thread(target=shopper, args=(c,), daemon=True) for c in customers]
    with ReadLoad(shop, paths, tally):
        for thread in threads:
            thread.start()
        time.sleep(WARMUP_S)
        result.fault_at = time.monotonic()
        scenario.strike(stack)
        result.back_at = time.monotonic()
        time.sleep(AFTER_S)
        stop.set()
        for thread in threads:
            thread.join(timeout=180)
    result.books = settled_books(
        stack.database_dsn, order_ids=order_ids, initial_stock={product: STOCK}
    )
    shop.close()
    return result


def _statuses(tally: Tally) -> str:
    failed = tally.failed
    return ", ".join(f"{n}x{s}" for s, n in sorted(failed.items())) or "0"


def table(results: list[Result]) -> str:
    lines = [
        "| scenario | fault | requests | failed (status) | checkouts ok / failed "
        "| wrong or unfinished | events published / handled | lost | applied twice "
        "| fault lasted | last failure after |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        books = r.books or Books()
        lines.append(
            f"| {r.scenario.name} | {r.scenario.what} | {sum(r.tally.statuses.values())} "
            f"| {_statuses(r.tally)} | {r.checkouts} / {len(r.checkouts_failed)} "
            f"| {len(books.wrong)} | {books.events_published - r.published_before} / "
            f"{books.events_handled - r.handled_before} "
            f"| {books.lost_count} | {len(books.doubled)} "
            f"| {r.back_at - r.fault_at:.1f} s | {r.recovery_s:.1f} s |"
        )
    return "\n".join(lines)


def details(results: list[Result]) -> str:
    out = []
    for r in results:
        books = r.books or Books()
        problems = [*r.checkouts_failed[:3], *books.wrong[:3], *books.doubled[:3]]
        problems += [f"lost {k}: {v[:3]}" for k, v in books.lost.items()]
        if problems:
            out.append(f"- {r.scenario.name}: " + "; ".join(problems))
    return "\n".join(out)


def main() -> None:
    reason = missing_tools()
    if reason:
        raise SystemExit(f"make chaos: {reason}")
    wanted = [s for s in os.environ.get("CHAOS_SCENARIOS", "").split(",") if s]
    unknown = set(wanted) - {s.name for s in SCENARIOS}
    if unknown:
        raise SystemExit(
            f"unknown scenarios {sorted(unknown)}; known: {[s.name for s in SCENARIOS]}"
        )
    scenarios = [s for s in SCENARIOS if not wanted or s.name in wanted]
    shoppers = int(os.environ.get("CHAOS_SHOPPERS", "3"))
    started = time.monotonic()
    print("starting the stack (throwaway PostgreSQL and Redis, free ports)...", flush=True)
    results = []
    with fault_stack(
        replicas={"catalog": 2, "orders": 2}, proxied=True, extra_env=_chaos_env()
    ) as stack:
        print(f"stack up in {time.monotonic() - started:.0f}s at {stack.url}", flush=True)
        for scenario in scenarios:
            print(f"- {scenario.name}: {scenario.what}", flush=True)
            results.append(run_scenario(stack, scenario, shoppers))
            print(table(results[-1:]).splitlines()[-1], flush=True)
        restarts = {n: e["starts"] - 1 for n, e in stack.status().items() if e["starts"] > 1}
    print()
    print(table(results))
    print()
    print(details(results) or "No checkout failed; no order, payment or event out of place.")
    print(f"\nsupervisor restarts: {restarts}; {time.monotonic() - started:.0f}s in all")
    bad = any(r.books is None or r.books.lost or r.books.wrong or r.books.doubled for r in results)
    sys.exit(1 if bad else 0)


def _chaos_env() -> dict[str, str]:
    # The provider as slow as a real one (0.3 s +-50%); logs at WARNING keep the
    # supervisor's view readable.
    return {"PAYMENTS_PROVIDER_LATENCY_SECONDS": "0.3"}


if __name__ == "__main__":
    main()
