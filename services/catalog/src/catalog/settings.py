"""Catalog service settings (environment variables prefixed `CATALOG_`)."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from shared.dbadmin import service_url
from shared.settings import ServiceSettings


class CatalogSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CATALOG_", env_file=".env", extra="ignore")

    database_url: SecretStr = SecretStr(service_url("catalog", database="shop"))
    # How long product pages and list pages stay in Redis. Versioned keys make a write
    # visible at once, so the TTL bounds memory, and staleness only if an invalidation
    # fails. Lists are many and change with any product; a product page changes with its
    # product only, and a shop's long tail of products stays served from Redis.
    product_cache_ttl_seconds: int = 300
    cache_ttl_seconds: int = 30
    # How long other requests wait for the one that rebuilds a missing cache entry.
    cache_fill_wait_seconds: float = 0.5
    # The shape of an anonymous search (catalog.domain.search): words, and OR operators.
    # Queries of only negated words are refused whatever their length.
    search_max_terms: int = 10
    search_max_or: int = 4
    # How often a replica recomputes the category statistics report; 0 turns it off.
    category_stats_refresh_seconds: float = 60.0
