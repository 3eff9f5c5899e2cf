"""Catalog service settings (environment variables prefixed `CATALOG_`)."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from shared.dbadmin import service_url
from shared.settings import ServiceSettings


class CatalogSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CATALOG_", env_file=".env", extra="ignore")

    database_url: SecretStr = SecretStr(service_url("catalog", database="shop"))
    # Product pages and lists in Redis; versioned keys make a write visible at once.
    cache_ttl_seconds: int = 30
    # How long other requests wait for the one that rebuilds a missing cache entry.
    cache_fill_wait_seconds: float = 0.5
    # How often a replica recomputes the category statistics report; 0 turns it off.
    category_stats_refresh_seconds: float = 60.0
