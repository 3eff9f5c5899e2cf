"""Payments service settings (environment variables prefixed `PAYMENTS_`)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from shared.dbadmin import service_url
from shared.settings import DEFAULT_SECRET, ServiceSettings


class PaymentsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PAYMENTS_", env_file=".env", extra="ignore")

    database_url: SecretStr = SecretStr(service_url("payments", database="shop"))
    # Keys the HMAC of stored idempotent request bodies: a plain hash of a body holding a
    # card number could be brute-forced back to the number (16 digits, one check digit).
    idempotency_secret: SecretStr = SecretStr(f"{DEFAULT_SECRET}-idempotency")
    # The orders service shows `awaiting_payment` a moment before its event reaches us: a
    # request that finds the order still `pending` waits this long for the replica.
    order_wait_seconds: float = Field(default=1.0, ge=0)
    # Stripe keeps idempotency keys for 24 hours; so do we.
    idempotency_ttl_seconds: int = Field(default=24 * 3600, ge=1)
    # The simulated provider's round trip, randomised by +-50%; 0 in tests.
    provider_latency_seconds: float = Field(default=0.3, ge=0)
    # Attempts at a provider call that fails transiently, spaced by doubling back-off.
    provider_max_attempts: int = Field(default=3, ge=1)
    provider_backoff_seconds: float = Field(default=0.2, ge=0)
    # Charges in flight per worker process, each with its own transactions: the provider's
    # latency divided by this bounds the time a payment waits for a free slot.
    processor_max_in_flight: int = Field(default=64, ge=1)
    # Tests only: the simulated provider's hold cards wait for a test to release them.
    provider_test_holds: bool = False
    # Each provider call's bound (a real provider answers in 0.3-1 s); a call that times
    # out is asked again with the same idempotency key, never failed (a late charge).
    provider_timeout_seconds: float = Field(default=5.0, gt=0)
