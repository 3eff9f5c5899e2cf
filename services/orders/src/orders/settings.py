"""Orders service settings (environment variables prefixed `ORDERS_`)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from shared.dbadmin import service_url
from shared.settings import ServiceSettings


class OrdersSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ORDERS_", env_file=".env", extra="ignore")

    database_url: SecretStr = SecretStr(service_url("orders", database="shop"))
    # How long a placed order may wait for payment before it expires and frees its stock.
    reservation_window_seconds: int = Field(default=900, ge=1)
    # Every order is priced in this one currency (ISO 4217), as the catalog's prices are.
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
