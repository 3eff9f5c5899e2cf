"""The gate in front of an expensive kind of request: slots first come, first served, a
freed slot straight to the longest waiter, a wait bounded in time and in length, and no
slot lost to a waiter that gave up."""

from __future__ import annotations

import asyncio

from shared.admission import Gate


def _later(seconds: float) -> float:
    return asyncio.get_running_loop().time() + seconds


async def test_freed_slots_go_to_the_waiters_in_arrival_order() -> None:
    gate = Gate(1, max_queued=10)
    assert await gate.enter(_later(1))
    admitted: list[int] = []

    async def wait_then_run(n: int) -> None:
        assert await gate.enter(_later(10))
        admitted.append(n)
        gate.leave()

    waiters = []
    for n in range(5):
        waiters.append(asyncio.create_task(wait_then_run(n)))
        await asyncio.sleep(0)  # each one queued before the next arrives
    assert gate.queued == 5
    gate.leave()
    await asyncio.gather(*waiters)
    assert admitted == [0, 1, 2, 3, 4]
    assert (gate.in_flight, gate.queued) == (0, 0)


async def test_a_wait_ends_at_its_deadline_and_frees_its_place() -> None:
    gate = Gate(1, max_queued=10)
    assert await gate.enter(_later(1))
    assert not await gate.enter(_later(0.05))
    assert gate.queued == 0
    gate.leave()
    assert gate.in_flight == 0
    assert await gate.enter(_later(0.05))  # the slot was not lost to the one that gave up


async def test_a_full_queue_refuses_without_waiting() -> None:
    gate = Gate(1, max_queued=1)
    assert await gate.enter(_later(1))
    queued = asyncio.create_task(gate.enter(_later(10)))
    await asyncio.sleep(0)
    started = asyncio.get_running_loop().time()
    assert not await gate.enter(_later(10))
    assert asyncio.get_running_loop().time() - started < 5  # refused, not timed out
    gate.leave()
    assert await queued
    gate.leave()
    assert gate.in_flight == 0


async def test_a_waiter_whose_client_left_gives_its_slot_back() -> None:
    gate = Gate(1, max_queued=10)
    assert await gate.enter(_later(1))
    gone = asyncio.create_task(gate.enter(_later(10)))
    behind = asyncio.create_task(gate.enter(_later(10)))
    await asyncio.sleep(0)
    gate.leave()  # the slot is handed to `gone` ...
    gone.cancel()  # ... whose client disconnects before it runs
    await asyncio.gather(gone, return_exceptions=True)
    assert await behind  # the slot passed on, not leaked
    gate.leave()
    assert (gate.in_flight, gate.queued) == (0, 0)
