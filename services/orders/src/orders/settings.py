"""Orders service settings (environment variables prefixed `ORDERS_`)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from orders.domain.limits import Limits
from shared.dbadmin import service_url
from shared.settings import ServiceSettings


class OrdersSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ORDERS_", env_file=".env", extra="ignore")

    database_url: SecretStr = SecretStr(service_url("orders", database="shop"))
    # A placement waits up to 20 s for a pooled connection (the shared default is 5 s):
    # in a flash sale a 503 sent back after 5 s is a request parsed and checked twice, and
    # those retries took the CPU the placements needed (docs/checkout.md, "The pool's
    # wait"). Still below nginx's 30 s; long polls bound their reads themselves.
    db_pool_timeout_seconds: float = 20.0
    # A placement (POST /api/orders/ and /place/) ends within this, counted from when nginx
    # passed it on: its turn, its wait for a pooled connection and its statements together,
    # or answers 503 busy with Retry-After, rolled back. Below nginx's 30 s read timeout: a
    # timeout there is a 504 that leaves the buyer not knowing, and counts against the
    # replica (three within 10 s take it out: in a flash sale both replicas went out and
    # 1,225 requests got 502 "no live upstreams").
    placement_budget_seconds: float = Field(default=25.0, gt=0)
    # At most this many placements run at once per replica (a few times the pool: enough
    # to keep every connection busy); the others wait their turn in arrival order, before
    # their token or body is looked at, and answer 503 busy if it has not come within
    # `placement_queue_seconds` (counted within the budget above). `shared.admission`.
    # 20 s: a flash sale of 1,000 buyers takes two replicas 15-18 s to place on the dev
    # machine, so its last buyers wait their turn instead of coming back (10 s refused
    # twice as many, docs/checkout.md "A fifth machine").
    max_placements_in_flight: int = Field(default=32, ge=1)
    placement_queue_seconds: float = Field(default=20.0, gt=0)
    max_placements_queued: int = Field(default=2000, ge=0)
    # How long a placed order may wait for payment before it expires and frees its stock.
    reservation_window_seconds: int = Field(default=900, ge=1)
    # Every order is priced in this one currency (ISO 4217), as the catalog's prices are.
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    # How often the worker cancels orders whose payment window has passed.
    expiry_sweep_seconds: float = Field(default=15.0, gt=0)
    # Idempotency-Key records of order creation are kept this long (as payments does).
    idempotency_ttl_seconds: int = Field(default=24 * 3600, ge=1)
    # Hoarding caps (409 `limit-reached` names the one hit): distinct products per cart and
    # per draft, and orders holding stock unpaid (pending, awaiting or failed payment).
    max_cart_lines: int = Field(default=100, ge=1)
    max_order_lines: int = Field(default=100, ge=1)
    max_unpaid_orders: int = Field(default=5, ge=1)
    # Order confirmations go out over SMTP; `make run` starts a development sink here.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_start_tls: bool = False
    smtp_timeout_seconds: float = 10.0
    mail_from: str = "Highload Shop <orders@highload-shop.example>"
    # The development mail sink (`python -m orders.mailsink`) listens on smtp_port here
    # and keeps every message it receives as a file in mail_sink_dir.
    mail_sink_host: str = "127.0.0.1"
    mail_sink_dir: str = "var/mail"

    def limits(self) -> Limits:
        return Limits(
            cart_lines=self.max_cart_lines,
            order_lines=self.max_order_lines,
            unpaid_orders=self.max_unpaid_orders,
        )
