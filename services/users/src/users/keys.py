"""RSA signing keys for access tokens and the JWKS that publishes their public halves."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwk

from users.settings import UsersSettings


@dataclass(frozen=True, slots=True)
class SigningKeys:
    private_pem: str
    kid: str
    # Every public key a valid token may be signed with, current one first, by kid.
    public_jwks: dict[str, dict[str, Any]]


def _public_jwk(pem: str) -> dict[str, Any]:
    public = jwk.construct(pem, "RS256").public_key().to_dict()
    key = {"kty": "RSA", "n": public["n"], "e": public["e"]}
    # RFC 7638 thumbprint: the key id changes exactly when the key does.
    canonical = json.dumps(key, sort_keys=True, separators=(",", ":")).encode()
    kid = base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).decode().rstrip("=")
    return {**key, "kid": kid, "use": "sig", "alg": "RS256"}


def generate_private_key(path: Path) -> bool:
    """Write a new 2048-bit RSA key to `path` unless one is there; True if written."""
    if path.exists():
        return False
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_bytes(pem)
    return True


def load_signing_keys(settings: UsersSettings) -> SigningKeys:
    private_pem = settings.jwt_private_key_file.read_text()
    current = _public_jwk(private_pem)
    jwks = {current["kid"]: current}
    for path in settings.jwt_previous_public_key_files:
        previous = _public_jwk(path.read_text())
        jwks.setdefault(previous["kid"], previous)
    return SigningKeys(private_pem=private_pem, kid=current["kid"], public_jwks=jwks)
