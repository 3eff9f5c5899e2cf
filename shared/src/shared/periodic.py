"""The one way to run a periodic job (a sweep, a purge, a gauge refresh, a report).

Every loop of the shop that repeats on a sleep goes through `every`, so all of them fail
the same way: a failed round (the database is down, a query times out, a bug in the
job) is logged, counted in `shop_periodic_runs_total{loop, outcome="failed"}`, and the
next round waits longer (doubling, up to `max_backoff_seconds`), until a round succeeds
and the interval is back to normal. A periodic job never stops its process: the worker
keeps consuming events while its report refresh fails, and the alert on the counter (or
on `shop_periodic_last_success_timestamp_seconds`) tells the operator. Cancellation (the
worker stops, the app shuts down) ends the loop at once and cleanly.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from prometheus_client import Counter, Gauge

from shared.runtime import raise_if_cancelled

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 60.0

PERIODIC_RUNS = Counter(
    "shop_periodic_runs_total",
    "Rounds of a periodic job, by outcome (ok, failed).",
    ["loop", "outcome"],
)
PERIODIC_LAST_SUCCESS = Gauge(
    "shop_periodic_last_success_timestamp_seconds",
    "Unix time of a periodic job's last successful round.",
    ["loop"],
)

Sleep = Callable[[float], Awaitable[object]]


def next_delay(seconds: float, failures: int, *, max_backoff_seconds: float) -> float:
    """The wait before the next round: the interval, doubled for each failure in a row,
    never more than `max_backoff_seconds` (nor less than the interval itself)."""
    if failures <= 0:
        return seconds
    backed_off: float = seconds * 2.0**failures
    return min(backed_off, max(seconds, max_backoff_seconds))


async def every(
    seconds: float,
    job: Callable[[], Awaitable[object]],
    *,
    name: str,
    max_backoff_seconds: float = MAX_BACKOFF_SECONDS,
    sleep: Sleep = asyncio.sleep,
) -> None:
    """Run `job` now and then every `seconds` until cancelled; `name` labels the metrics
    and the logs. A round that raises is logged, counted and backed off (see above)."""
    ok, failed = PERIODIC_RUNS.labels(name, "ok"), PERIODIC_RUNS.labels(name, "failed")
    last_success = PERIODIC_LAST_SUCCESS.labels(name)
    failures = 0
    while True:
        raise_if_cancelled()
        try:
            await job()
        except Exception as exc:  # one policy for every periodic job: see the module doc
            failures += 1
            failed.inc()
            delay = next_delay(seconds, failures, max_backoff_seconds=max_backoff_seconds)
            # The traceback once per outage; later rounds of the same outage in one line.
            log.warning(
                "%s failed (%d in a row), next round in %.1fs: %s",
                name,
                failures,
                delay,
                exc,
                exc_info=failures == 1,
            )
        else:
            if failures:
                log.info("%s succeeded again after %d failed rounds", name, failures)
            failures = 0
            ok.inc()
            last_success.set(time.time())
            delay = seconds
        await sleep(delay)
