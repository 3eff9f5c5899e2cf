"""Users service settings (environment variables prefixed `USERS_`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from shared.dbadmin import service_url
from shared.settings import ServiceSettings


class UsersSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="USERS_", env_file=".env", extra="ignore")

    database_url: SecretStr = SecretStr(service_url("users", database="shop"))
    # PEM file of the RSA key that signs access tokens; `make run` generates a dev key.
    jwt_private_key_file: Path = Path("var/keys/jwt-private.pem")
    # Public keys of retired signing keys, still published until their tokens expire.
    jwt_previous_public_key_files: list[Path] = Field(default_factory=list)
    access_token_ttl_seconds: int = 15 * 60
    refresh_token_ttl_seconds: int = 30 * 24 * 3600
    # A login's absolute lifetime: rotating its refresh tokens never extends it past this.
    refresh_family_max_age_seconds: int = 90 * 24 * 3600
    # Cookie mode (users.api.cookies): Secure cookies; unset means "in production".
    refresh_cookie_secure: bool | None = None
    # Cookie mode: a refresh token rotated this recently may be presented once more
    # (two tabs refreshing at once); later, it counts as reuse and revokes the family.
    refresh_reuse_grace_seconds: int = Field(default=10, ge=0, le=60)
    bcrypt_rounds: int = 12
    # Login throttling (users.db.login_failures; docs/security.md). Per (account,
    # address): this many failures are free, then each doubles the wait from the base.
    login_free_failures: int = 5
    login_delay_base_seconds: float = 1.0
    login_delay_max_seconds: int = 5 * 60
    # Per address over all accounts, and per account over all addresses, in the window.
    login_max_failures_per_address: int = 50
    login_max_failures_per_account: int = 1000
    login_failure_window_seconds: int = 15 * 60
    # An address where an account logged in passes that account's ceiling this long.
    login_known_address_seconds: int = 30 * 24 * 3600
