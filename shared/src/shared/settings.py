"""Settings base shared by every service (pydantic-settings, one env prefix per service)."""

from __future__ import annotations

from typing import Literal

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Local defaults carry this marker so that production refuses to start with them.
DEFAULT_SECRET = "changethis"  # noqa: S105


class ServiceSettings(BaseSettings):
    """What every service is configured with; subclasses set `env_prefix` (e.g. `USERS_`)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    environment: Literal["local", "test", "production"] = "local"
    database_url: SecretStr = SecretStr(
        f"postgresql+asyncpg://shop:{DEFAULT_SECRET}@127.0.0.1:5432/shop"
    )
    db_pool_size: int = 10
    db_max_overflow: int = 10
    redis_url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    log_level: str = "INFO"
    log_json: bool = True
    # Access tokens are issued by the users service and verified everywhere.
    jwks_url: str = "http://127.0.0.1:8100/.well-known/jwks.json"
    jwt_issuer: str = "highload-shop-users"
    jwt_audience: str = "highload-shop"
    max_body_bytes: int = 1024 * 1024
    # Names the replica in the `X-Served-By` response header when set.
    replica_name: str = ""

    @model_validator(mode="after")
    def _refuse_default_secrets_in_production(self) -> ServiceSettings:
        if self.environment != "production":
            return self
        for name in type(self).model_fields:
            value = getattr(self, name)
            raw = value.get_secret_value() if isinstance(value, SecretStr) else value
            if isinstance(raw, str) and DEFAULT_SECRET in raw:
                raise ValueError(
                    f"{name} still holds the default secret {DEFAULT_SECRET!r}; "
                    "set a real one before running in production"
                )
        return self
