"""Gateway settings (environment variables prefixed `GATEWAY_`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Upstream(BaseModel):
    """A service behind the gateway: where its replicas answer and what nginx routes to it.

    `urls` are base URLs; a host name that resolves to several addresses (Docker's DNS
    for a scaled compose service) counts as one replica per address.
    """

    name: str
    urls: list[str]
    prefixes: list[str] = Field(default_factory=list)
    exact: list[str] = Field(default_factory=list)


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", env_file=".env", extra="ignore")

    environment: Literal["local", "test", "production"] = "local"
    # JSON list of upstreams; `make run`, the tests and compose derive it from
    # deploy/services.toml (see deploy/registry.py, role = "api").
    services: list[Upstream] = Field(default_factory=list)
    # A merged document older than this is rebuilt on the next request (if a service's
    # document changed, the ETag changes with it).
    openapi_refresh_seconds: float = 10.0
    upstream_timeout_seconds: float = 2.0
    # GET /health answers from a summary at most this old.
    health_cache_seconds: float = 2.0
    log_level: str = "INFO"
    log_json: bool = True
    # Per-request access lines: `stdout`, `off`, or a file (shared.logs).
    access_log: str = "stdout"
    replica_name: str = ""
    max_body_bytes: int = 64 * 1024
