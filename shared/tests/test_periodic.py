"""shared.periodic.every: the one exception and backoff policy of every periodic loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest
from prometheus_client import REGISTRY
from sqlalchemy.exc import OperationalError

from shared.periodic import every, next_delay


def runs(loop: str, outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "shop_periodic_runs_total", {"loop": loop, "outcome": outcome}
    )
    return value or 0.0


class Rounds:
    """A job that follows a script (None: succeed, an exception: raise it), and a sleep
    that records the delays asked for and ends the loop once the script is played."""

    def __init__(self, script: list[Exception | None]) -> None:
        self.script = list(script)
        self.played = 0
        self.delays: list[float] = []
        self.done = asyncio.Event()

    async def job(self) -> None:
        step = self.script[self.played]
        self.played += 1
        if step is not None:
            raise step

    async def sleep(self, seconds: float) -> None:
        self.delays.append(seconds)
        if self.played == len(self.script):
            self.done.set()
            await asyncio.Event().wait()  # parked until the test cancels the loop
        await asyncio.sleep(0)


async def play(rounds: Rounds, *, name: str, seconds: float = 1.0) -> None:
    task = asyncio.create_task(
        every(seconds, rounds.job, name=name, max_backoff_seconds=5.0, sleep=rounds.sleep)
    )
    await rounds.done.wait()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert task.cancelled()  # cancellation ends the loop, it is not swallowed


def test_the_delay_doubles_per_failure_up_to_the_cap_and_never_drops_below_the_interval() -> None:
    assert [next_delay(1.0, n, max_backoff_seconds=5.0) for n in range(5)] == [1, 2, 4, 5, 5]
    # An interval longer than the cap: a failed round waits the interval, no less.
    assert next_delay(3600.0, 3, max_backoff_seconds=60.0) == 3600.0


async def test_failed_rounds_are_logged_counted_backed_off_and_the_loop_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outage = OperationalError("DELETE", {}, ConnectionRefusedError("database down"))
    rounds = Rounds([None, outage, outage, outage, outage, None, None])
    ok_before, failed_before = runs("test-outage", "ok"), runs("test-outage", "failed")
    with caplog.at_level(logging.WARNING, logger="shared.periodic"):
        await play(rounds, name="test-outage")
    assert rounds.played == 7
    # The interval, then doubling while the outage lasts (capped), then the interval again.
    assert rounds.delays == [1, 2, 4, 5, 5, 1, 1]
    assert runs("test-outage", "ok") - ok_before == 3
    assert runs("test-outage", "failed") - failed_before == 4
    failures = [r for r in caplog.records if "test-outage failed" in r.getMessage()]
    assert [r.levelno for r in failures] == [logging.WARNING] * 4
    # The traceback once per outage, not once per round.
    assert [bool(r.exc_info) for r in failures] == [True, False, False, False]


async def test_a_bug_in_the_job_is_counted_and_does_not_stop_the_loop() -> None:
    rounds = Rounds([ValueError("a bug, not an outage"), None])
    failed_before = runs("test-bug", "failed")
    await play(rounds, name="test-bug")
    assert rounds.played == 2
    assert runs("test-bug", "failed") - failed_before == 1
    last_success = REGISTRY.get_sample_value(
        "shop_periodic_last_success_timestamp_seconds", {"loop": "test-bug"}
    )
    assert last_success is not None
    assert last_success > 0


async def test_cancelling_during_a_round_stops_the_loop_cleanly() -> None:
    started, finished = asyncio.Event(), False

    async def job() -> None:
        nonlocal finished
        started.set()
        await asyncio.Event().wait()
        finished = True

    task = asyncio.create_task(every(1.0, job, name="test-cancel"))
    await started.wait()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert task.cancelled()
    assert not finished
    assert runs("test-cancel", "failed") == 0  # a cancellation is no failed round


async def test_a_cancellation_that_a_library_swallowed_still_stops_the_loop() -> None:
    """Python 3.11's asyncio.wait_for can return normally although the task was
    cancelled (the inner call ended at that moment); the loop must end all the same."""
    started, rounds = asyncio.Event(), 0

    async def job() -> None:
        nonlocal rounds
        rounds += 1
        started.set()
        if rounds > 1:
            await asyncio.Event().wait()
        with contextlib.suppress(asyncio.CancelledError):  # what the library does, once
            await asyncio.Event().wait()

    task = asyncio.create_task(every(0.0, job, name="test-swallowed"))
    await started.wait()
    task.cancel()
    await asyncio.wait([task], timeout=30)  # a guard against a hang, not a measure of speed
    assert task.cancelled(), "the loop went on after its cancellation"
    assert rounds == 1
