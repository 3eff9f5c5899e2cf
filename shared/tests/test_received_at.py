"""`received_at`: a request's budget counts from when the gateway passed it on (else from
when it reached the app), so the time it spent behind other work on a busy event loop,
before its endpoint ran, is spent too."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from shared.middleware import MAX_EDGE_AGE_SECONDS, ReceivedAtMiddleware, received_at

QUEUED_S = 0.3


async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
    waited = asyncio.get_running_loop().time() - received_at(scope)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": f"{waited:.3f}".encode()})


async def busy_loop(scope: Scope, receive: Receive, send: Send) -> None:
    """A layer between arrival and the endpoint that holds the loop, as other requests'
    work does on a busy replica."""
    time.sleep(QUEUED_S)  # noqa: ASYNC251 - the point: the loop is held
    await endpoint(scope, receive, send)


async def test_the_time_before_the_endpoint_counts() -> None:
    app = ReceivedAtMiddleware(busy_loop)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as c:
        waited = float((await c.get("/")).text)
    assert waited >= QUEUED_S


async def _waited(headers: dict[str, str]) -> float:
    app = ReceivedAtMiddleware(endpoint)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as c:
        return float((await c.get("/", headers=headers)).text)


async def test_the_time_since_the_gateway_passed_it_on_counts() -> None:
    waited = await _waited({"X-Request-Start": f"t={time.time() - 5:.3f}"})
    assert 5 <= waited < 6


async def test_an_unusable_start_time_counts_from_arrival() -> None:
    for value in ("yesterday", "t=", "t=nan", f"t={time.time() + 3600:.3f}", "t=inf"):
        waited = await _waited({"X-Request-Start": value})
        assert 0 <= waited < 1, value


async def test_a_request_claims_at_most_a_minute_of_age() -> None:
    assert await _waited({"X-Request-Start": "t=0"}) == pytest.approx(MAX_EDGE_AGE_SECONDS, abs=1)
