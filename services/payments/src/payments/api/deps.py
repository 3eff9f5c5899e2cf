"""Dependencies of the payments routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from payments.provider.base import PaymentProvider
from payments.settings import PaymentsSettings


async def _settings(request: Request) -> PaymentsSettings:
    settings: PaymentsSettings = request.app.state.settings
    return settings


async def _provider(request: Request) -> PaymentProvider:
    provider: PaymentProvider = request.app.state.provider
    return provider


Settings = Annotated[PaymentsSettings, Depends(_settings)]
Provider = Annotated[PaymentProvider, Depends(_provider)]
