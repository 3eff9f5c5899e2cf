"""shared.worker.every: periodic jobs survive a failed round."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest
from sqlalchemy.exc import OperationalError

from shared.worker import every


async def test_every_logs_a_failed_round_and_runs_the_next(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rounds = 0
    third = asyncio.Event()

    async def job() -> None:
        nonlocal rounds
        rounds += 1
        if rounds == 1:
            raise OperationalError("DELETE", {}, ConnectionRefusedError("database down"))
        if rounds == 3:
            third.set()

    with caplog.at_level(logging.WARNING, logger="shared.worker"):
        task = asyncio.create_task(every(0, job, what="purging keys"))
        await third.wait()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert rounds == 3
    assert any("purging keys failed" in r.getMessage() for r in caplog.records)


async def test_every_lets_a_bug_surface() -> None:
    async def job() -> None:
        raise ValueError("a bug, not an outage")

    with pytest.raises(ValueError, match="a bug"):
        await every(0, job, what="anything")
