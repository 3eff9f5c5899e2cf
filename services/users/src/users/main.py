"""The users service app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from shared.app import create_service_app
from shared.auth import StaticKeySource, TokenVerifier
from users.api import auth, jwks, users
from users.db.login_failures import LoginFailures, ThrottleSettings
from users.domain.accounts import AuthContext
from users.domain.passwords import PasswordHasher
from users.events.published import events
from users.keys import load_signing_keys
from users.settings import UsersSettings


def create_app(settings: UsersSettings | None = None) -> FastAPI:
    settings = settings or UsersSettings()
    keys = load_signing_keys(settings)

    def verifier(app: FastAPI) -> TokenVerifier:
        # The users service checks tokens with its own keys, not over HTTP to itself.
        return TokenVerifier(
            StaticKeySource(keys.public_jwks),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.auth = AuthContext(
            settings=settings,
            hasher=PasswordHasher(rounds=settings.bcrypt_rounds),
            keys=keys,
            failures=LoginFailures(
                app.state.redis,
                ThrottleSettings(
                    window=settings.login_failure_window_seconds,
                    per_account=settings.login_max_failures_per_account,
                    per_address=settings.login_max_failures_per_address,
                    free=settings.login_free_failures,
                    base=settings.login_delay_base_seconds,
                    max_delay=settings.login_delay_max_seconds,
                    known_for=settings.login_known_address_seconds,
                ),
            ),
            read_sessions=app.state.read_sessionmaker,
        )
        yield

    return create_service_app(
        name="users",
        events=[events],
        title="Highload Shop: users",
        description="Accounts, login, access and refresh tokens, profiles.",
        settings=settings,
        routers=[auth.router, users.router, jwks.router],
        token_verifier=verifier,
        lifespan=lifespan,
        # Login, refresh and registration answers carry tokens or the account.
        no_store_prefixes=("/api/auth/",),
    )
