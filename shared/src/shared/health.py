"""`/health/live` (the process answers) and `/health/ready` (its database and Redis do).

Without its database a replica serves nothing useful: 503 `unavailable`, and orchestrators
stop routing to it. Without Redis it still serves (writes go to the outbox, reads to
PostgreSQL, the login limiter opens): 200 `degraded`, so an outage of Redis does not take
every replica out of rotation at once.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

router = APIRouter(prefix="/health", tags=["health"], include_in_schema=False)

CHECK_TIMEOUT_SECONDS = 2.0


@router.get("/live")
async def live() -> dict[str, str]:
    return {"status": "ok"}


async def _check(probe: Any) -> str:
    try:
        await asyncio.wait_for(probe, CHECK_TIMEOUT_SECONDS)
    except Exception as exc:  # any failure means "not ready"; the reason is reported
        return f"error: {type(exc).__name__}"
    return "ok"


async def _ping_database(request: Request) -> None:
    async with request.app.state.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


@router.get("/ready")
async def ready(request: Request) -> JSONResponse:
    checks = {
        "database": await _check(_ping_database(request)),
        "redis": await _check(request.app.state.redis.ping()),
    }
    if checks["database"] != "ok":
        status = "unavailable"
    elif checks["redis"] != "ok":
        status = "degraded"
    else:
        status = "ready"
    return JSONResponse(
        {"status": status, "checks": checks}, status_code=503 if status == "unavailable" else 200
    )
