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
    # Cookie mode (users.api.cookies): Secure cookies; unset means "in production".
    refresh_cookie_secure: bool | None = None
    # Cookie mode: a refresh token rotated this recently may be presented once more
    # (two tabs refreshing at once); later, it counts as reuse and revokes the family.
    refresh_reuse_grace_seconds: int = Field(default=10, ge=0, le=60)
    bcrypt_rounds: int = 12
    login_max_failures_per_account: int = 5
    login_max_failures_per_address: int = 50
    login_failure_window_seconds: int = 15 * 60
