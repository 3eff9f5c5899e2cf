"""Admission: at most `limit` requests of one expensive kind run at once in a replica; the
others wait their turn in a queue, in arrival order, before their token, body or
connection is touched, and are answered 503 `busy` if their turn does not come within
`queue_seconds`.

Without it, a burst (a flash sale's thousand placements at once) all starts at once: every
request checks its token, parses its body and waits for a pooled connection on a loop
that serves all of them a little, until they pass nginx's 30 s read timeout together.
nginx counts each timeout against the replica, three within 10 s take it out, and then
every request of the service is a 502 (docs/checkout.md). Waiting here costs nothing but
the open connection, the admitted ones run on a loop that is not shared with hundreds,
and a request that is refused has waited its turn long enough that its retry does not
come back at once (refused at the door, a flash sale's buyers came back within the
second and most were refused again, however their Retry-After was paced).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import deque

from prometheus_client import Counter, Gauge
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.api.problems import problem_response
from shared.middleware import received_at

IN_FLIGHT = Gauge(
    "shop_admission_in_flight", "Requests admitted and not yet answered, by kind.", ["kind"]
)
QUEUED = Gauge("shop_admission_queued", "Requests waiting for their turn, by kind.", ["kind"])
REFUSED = Counter(
    "shop_admission_refused_total",
    "Requests answered 503 busy because their turn did not come in time, by kind.",
    ["kind"],
)


class Gate:
    """`limit` slots handed out first come, first served; a freed slot goes straight to
    the longest waiting request."""

    def __init__(self, limit: int, *, max_queued: int) -> None:
        self.limit = limit
        self.max_queued = max_queued
        self.in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def queued(self) -> int:
        return len(self._waiters)

    async def enter(self, deadline: float) -> bool:
        """Take a slot, waiting until `deadline` (loop time) at most: whether one came."""
        if self.in_flight < self.limit and not self._waiters:
            self.in_flight += 1
            return True
        if len(self._waiters) >= self.max_queued:
            return False
        turn = asyncio.get_running_loop().create_future()
        self._waiters.append(turn)
        try:
            async with asyncio.timeout_at(deadline):
                await turn
        except TimeoutError:
            pass
        except asyncio.CancelledError:  # the client went away
            if self._forget(turn):
                self.leave()
            raise
        # A slot handed over as the wait ended is taken all the same.
        return self._forget(turn)

    def leave(self) -> None:
        while self._waiters:
            turn = self._waiters.popleft()
            if not turn.done():
                turn.set_result(None)  # the slot passes on: in_flight is unchanged
                return
        self.in_flight -= 1

    def _forget(self, turn: asyncio.Future[None]) -> bool:
        """End a wait: whether it was handed a slot (then the caller owns it)."""
        if turn.done() and not turn.cancelled():
            return True
        turn.cancel()
        with contextlib.suppress(ValueError):
            self._waiters.remove(turn)
        return False


class AdmissionMiddleware:
    """Admit at most `limit` requests for which method and path match, in arrival order;
    one whose turn has not come `queue_seconds` after it reached the shop (`received_at`:
    the gateway's clock), or that finds `max_queued` already waiting, is answered 503
    `busy` with `Retry-After`. Runs just before the routing (a service app's
    `inner_middleware`), so refusals are logged, counted and timed like every answer."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        kind: str,
        limit: int,
        queue_seconds: float,
        max_queued: int,
        method: str,
        path: re.Pattern[str],
        detail: str,
    ) -> None:
        self.app = app
        self.gate = Gate(limit, max_queued=max_queued)
        self.queue_seconds = queue_seconds
        self.method = method
        self.path = path
        self.detail = detail
        self._in_flight = IN_FLIGHT.labels(kind)
        self._queued = QUEUED.labels(kind)
        self._refused = REFUSED.labels(kind)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != self.method
            or not self.path.fullmatch(scope["path"])
        ):
            await self.app(scope, receive, send)
            return
        self._queued.inc()
        try:
            admitted = await self.gate.enter(received_at(scope) + self.queue_seconds)
        finally:
            self._queued.dec()
        if not admitted:
            self._refused.inc()
            response = problem_response(
                Request(scope), 503, slug="busy", detail=self.detail, headers={"Retry-After": "1"}
            )
            await response(scope, receive, send)
            return
        self._in_flight.inc()
        try:
            await self.app(scope, receive, send)
        finally:
            self._in_flight.dec()
            self.gate.leave()
