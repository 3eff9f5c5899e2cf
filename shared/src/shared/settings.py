"""Settings base shared by every service (pydantic-settings, one env prefix per service)."""

from __future__ import annotations

from typing import Literal

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.events.settings import EventSettings

# Local defaults carry this marker so that production refuses to start with them.
DEFAULT_SECRET = "changethis"  # noqa: S105


class ServiceSettings(BaseSettings):
    """What every service is configured with; subclasses set `env_prefix` (e.g. `USERS_`)."""

    # Subclasses' model_config is merged with this one, so nested variables such as
    # `USERS_EVENTS__MAX_DELIVERIES=3` work in every service.
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_nested_delimiter="__")

    environment: Literal["local", "test", "production"] = "local"
    database_url: SecretStr = SecretStr(
        f"postgresql+asyncpg://shop:{DEFAULT_SECRET}@127.0.0.1:5432/shop"
    )
    # Connections per process. SQLAlchemy closes an overflow connection as soon as it is
    # returned to a full pool, so load above the pool size would open and close a
    # PostgreSQL backend per request (it halved a catalog replica's throughput): requests
    # queue for a pooled connection instead. Raise the pool, not the overflow.
    db_pool_size: int = 10
    db_max_overflow: int = 0
    # Request-path statements are cancelled after this long (503 problem+json, never a
    # pool held for minutes); workers' engines have none.
    db_statement_timeout_ms: int = 10_000
    # Expensive public reads (catalog search) run on a pool of their own, so that they
    # can never take the connections every other request needs: its size, its shorter
    # statement timeout, and how long a request waits for one of its connections (503).
    db_public_pool_size: int = 3
    db_public_statement_timeout_ms: int = 2_000
    db_public_pool_timeout_seconds: float = 1.0
    # Every wait on PostgreSQL is bounded, and shorter than the gateway's 30 s
    # proxy_read_timeout, so a slow or gone database gives fast 503s, not piled-up
    # requests (docs/operations.md#failures).
    db_pool_timeout_s: float = 5.0
    # Open the web app's whole pool at startup: on a PostgreSQL whose connection slots
    # are shared (the dev machine's 100), a pool that grows under load may find none left.
    db_pool_prefill: bool = False
    db_connect_timeout_s: float = 3.0
    db_command_timeout_s: float = 10.0
    redis_url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    # Seconds a Redis command may take (twice, with the one retry); must exceed
    # events.consumer_block_ms, the longest a consumer's XREADGROUP blocks.
    redis_timeout_s: float = 2.0
    log_level: str = "INFO"
    log_json: bool = True
    # Per-request access lines: `stdout`, `off`, or a file (`make run` uses var/log/).
    access_log: str = "stdout"
    # Access tokens are issued by the users service and verified everywhere.
    jwks_url: str = "http://127.0.0.1:8100/.well-known/jwks.json"
    jwt_issuer: str = "highload-shop-users"
    jwt_audience: str = "highload-shop"
    # How long a service trusts its copy of a user's token revocation (shared.auth): a
    # deactivated or demoted user's tokens stop working everywhere within this time.
    auth_revocation_cache_seconds: float = 1.0
    max_body_bytes: int = 1024 * 1024
    # Names the replica in the `X-Served-By` response header when set.
    replica_name: str = ""
    # Allocations between young-generation collections (shared.runtime.tune_gc); 0 keeps
    # Python's default.
    gc_young_threshold: int = 50_000
    # The background worker serves its metrics (event lag, pending) here; 0 turns it off.
    worker_metrics_port: int = 0
    events: EventSettings = EventSettings()

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
