"""Dependencies of the orders routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from orders.settings import OrdersSettings


async def _settings(request: Request) -> OrdersSettings:
    settings: OrdersSettings = request.app.state.settings
    return settings


Settings = Annotated[OrdersSettings, Depends(_settings)]
MAX_ID = 2**63 - 1
# Ids in paths; out-of-range values are a 422 rather than a database error.
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
