"""The worker SIGKILLed between the provider's charge and its own commit: after a
restart the payment completes exactly once, with no second charge."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI
from payments_support import (
    Headers,
    MakeOrder,
    card_body,
    payment_row,
    provider_charges,
    published,
    with_key,
)

from shared.dbadmin import service_url
from shared.events.streams import events_stream
from shared.testing import eventually_async as eventually

REPO_ROOT = Path(__file__).resolve().parents[3]


@contextmanager
def worker_process(env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m payments.worker`, as `make run` starts it; killed on the way out."""
    process = subprocess.Popen(
        [sys.executable, "-m", "payments.worker"], cwd=REPO_ROOT, env={**os.environ, **env}
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


async def test_a_worker_killed_mid_payment_completes_it_once_after_restart(
    client: httpx.AsyncClient,
    app: FastAPI,
    alice: Headers,
    make_order: MakeOrder,
    test_database: str,
    redis_url: str,
) -> None:
    response = await client.post(URL, json=card_body(await make_order()), headers=with_key(alice))
    payment_id = response.json()["id"]
    key = f"charge:{(await payment_row(app, payment_id)).provider_key}"
    env = {
        "PAYMENTS_ENVIRONMENT": "test",
        "PAYMENTS_DATABASE_URL": service_url("payments", database=test_database),
        "PAYMENTS_REDIS_URL": redis_url,
        "PAYMENTS_LOG_LEVEL": "WARNING",
        "PAYMENTS_REPLICA_NAME": "victim",
        "PAYMENTS_EVENTS__CONSUMER_BLOCK_SECONDS": "0.1",
    }

    async def charged() -> bool:
        return [c.idempotency_key for c in await provider_charges(app)] == [key]

    # The provider takes minutes to answer: the charge is on its record, ours is not.
    with worker_process({**env, "PAYMENTS_PROVIDER_LATENCY_SECONDS": "600"}) as victim:
        await eventually(charged, seconds=30, what="the provider to record the charge")
        victim.send_signal(signal.SIGKILL)
        assert await asyncio.to_thread(victim.wait, 10) == -signal.SIGKILL
    assert (await payment_row(app, payment_id)).status == "pending"
    assert await published(app, "payments.PaymentSucceeded") == []

    # The same worker comes back, finds its pending entry and charges again, by our key.
    with worker_process({**env, "PAYMENTS_PROVIDER_LATENCY_SECONDS": "0"}):

        async def completed() -> bool:
            succeeded = (await payment_row(app, payment_id)).status == "succeeded"
            entries = await app.state.redis.xrange(events_stream("payments"))
            return succeeded and any(f["type"] == "payments.PaymentSucceeded" for _, f in entries)

        await eventually(completed, seconds=30, what="the payment to complete after restart")

    [charge] = await provider_charges(app)
    assert (charge.succeeded, charge.requests) == (True, 2)
    assert (await payment_row(app, payment_id)).charge_id == charge.reference
    assert len(await published(app, "payments.PaymentSucceeded")) == 1


URL = "/api/payments/"
