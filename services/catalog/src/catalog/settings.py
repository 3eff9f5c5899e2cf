"""Catalog service settings (environment variables prefixed `CATALOG_`)."""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator
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
    # How long a shared cache (the gateway's micro-cache) may reuse a product or list page:
    # each answer draws its `s-maxage` from this range, so that pages cached in the same
    # second do not all expire in the same second and reach a replica in one burst
    # (docs/catalog.md, "The fixed-rate tail"). Browsers keep a page 1 s whatever this is.
    shared_cache_min_seconds: int = Field(default=3, ge=1)
    shared_cache_max_seconds: int = Field(default=7, ge=1)
    # How long other requests wait for the one that rebuilds a missing cache entry.
    cache_fill_wait_seconds: float = 0.5
    # The shape of an anonymous search (catalog.domain.search): words, and OR operators.
    # Queries of only negated words are refused whatever their length.
    search_max_terms: int = 10
    search_max_or: int = 4
    # How often a replica recomputes the category statistics report; 0 turns it off.
    category_stats_refresh_seconds: float = 60.0

    @model_validator(mode="after")
    def _shared_cache_range(self) -> CatalogSettings:
        if self.shared_cache_max_seconds < self.shared_cache_min_seconds:
            raise ValueError("shared_cache_max_seconds is below shared_cache_min_seconds")
        return self
