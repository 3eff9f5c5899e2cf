"""`received_at`: a request's budget counts from when it reached the app, so the time
it spent behind other work on a busy event loop, before its endpoint ran, is spent too."""

from __future__ import annotations

import asyncio
import time

import httpx
from starlette.types import Receive, Scope, Send

from shared.middleware import ReceivedAtMiddleware, received_at

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
