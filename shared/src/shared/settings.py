"""Settings base shared by every service (pydantic-settings, one env prefix per service)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.events.settings import EventSettings

# Local defaults carry this marker so that production refuses to start with them.
DEFAULT_SECRET = "changethis"  # noqa: S105
# Duration settings were renamed to end in _seconds: an old variable still set would be
# ignored silently, so a service refuses to start with one (old suffix -> new).
RENAMED_SUFFIXES = {
    "DB_POOL_TIMEOUT_S": "DB_POOL_TIMEOUT_SECONDS",
    "DB_CONNECT_TIMEOUT_S": "DB_CONNECT_TIMEOUT_SECONDS",
    "DB_COMMAND_TIMEOUT_S": "DB_COMMAND_TIMEOUT_SECONDS",
    "REDIS_TIMEOUT_S": "REDIS_TIMEOUT_SECONDS",
    "DB_STATEMENT_TIMEOUT_MS": "DB_STATEMENT_TIMEOUT_SECONDS",
    "DB_PUBLIC_STATEMENT_TIMEOUT_MS": "DB_PUBLIC_STATEMENT_TIMEOUT_SECONDS",
    "PROVIDER_LATENCY_S": "PROVIDER_LATENCY_SECONDS",
    "PROVIDER_BACKOFF_S": "PROVIDER_BACKOFF_SECONDS",
    "PROVIDER_TIMEOUT_S": "PROVIDER_TIMEOUT_SECONDS",
    "EVENTS__RELAY_POLL_INTERVAL_S": "EVENTS__RELAY_POLL_INTERVAL_SECONDS",
    "EVENTS__CONSUMER_BLOCK_MS": "EVENTS__CONSUMER_BLOCK_SECONDS",
    "EVENTS__CLAIM_IDLE_MS": "EVENTS__CLAIM_IDLE_SECONDS",
    "EVENTS__CLAIM_INTERVAL_S": "EVENTS__CLAIM_INTERVAL_SECONDS",
    "EVENTS__OUTBOX_RETENTION_S": "EVENTS__OUTBOX_RETENTION_SECONDS",
    "EVENTS__INBOX_RETENTION_S": "EVENTS__INBOX_RETENTION_SECONDS",
    "EVENTS__STREAM_RETENTION_S": "EVENTS__STREAM_RETENTION_SECONDS",
    "EVENTS__STREAM_TRIM_MARGIN_S": "EVENTS__STREAM_TRIM_MARGIN_SECONDS",
    "EVENTS__MAINTENANCE_INTERVAL_S": "EVENTS__MAINTENANCE_INTERVAL_SECONDS",
}


def refuse_renamed(prefix: str, renamed: Mapping[str, str]) -> None:
    """Raise when a variable of an old name (`prefix` + old) is still set, naming the new."""
    prefix = prefix.upper()
    if not prefix:
        return
    for old, new in renamed.items():
        if prefix + old in os.environ:
            raise ValueError(f"{prefix}{old} was renamed {prefix}{new} (in seconds)")


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
    db_statement_timeout_seconds: float = 10.0
    # Expensive public reads (catalog search) run on a pool of their own, so that they
    # can never take the connections every other request needs: its size, its shorter
    # statement timeout, and how long a request waits for one of its connections (503).
    db_public_pool_size: int = 3
    db_public_statement_timeout_seconds: float = 2.0
    db_public_pool_timeout_seconds: float = 1.0
    # Every wait on PostgreSQL is bounded, and shorter than the gateway's 30 s
    # proxy_read_timeout, so a slow or gone database gives fast 503s, not piled-up
    # requests (docs/operations.md#failures).
    db_pool_timeout_seconds: float = 5.0
    # Open the web app's whole pool at startup: on a PostgreSQL whose connection slots
    # are shared (the dev machine's 100), a pool that grows under load may find none left.
    db_pool_prefill: bool = False
    db_connect_timeout_seconds: float = 3.0
    db_command_timeout_seconds: float = 10.0
    # Streams, token revocations and login throttling: what must never be evicted (compose
    # runs it with `noeviction`). Caches (the catalog's pages) go to `cache_redis_url`, a
    # server that may evict (`maxmemory` + `allkeys-lru`); unset, the same server.
    redis_url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    cache_redis_url: SecretStr | None = None
    # The service's own Redis ACL user on both servers (compose: the service's name, a
    # user that may publish only to its own stream); empty: the URL's user, else `default`.
    redis_username: str = ""
    redis_password: SecretStr = SecretStr("")
    # Seconds a Redis command may take (twice, with the one retry); must exceed
    # events.consumer_block_seconds, the longest a consumer's XREADGROUP blocks.
    redis_timeout_seconds: float = 2.0
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
    def _refuse_renamed_variables(self) -> ServiceSettings:
        refuse_renamed(str(self.model_config.get("env_prefix") or ""), RENAMED_SUFFIXES)
        return self

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
