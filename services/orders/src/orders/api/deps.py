"""Dependencies of the orders routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from orders.settings import OrdersSettings


async def _settings(request: Request) -> OrdersSettings:
    settings: OrdersSettings = request.app.state.settings
    return settings


Settings = Annotated[OrdersSettings, Depends(_settings)]
