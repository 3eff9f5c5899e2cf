"""Fingerprints of idempotent requests."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any


def fingerprint(body: dict[str, Any], *, secret: str) -> str:
    """HMAC-SHA256 of the canonical JSON of a request body.

    Keyed, because the body may hold a card number and CVC: a plain hash of so few
    possible values could be reversed by trying them all.
    """
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hmac.new(secret.encode(), canonical.encode(), hashlib.sha256).hexdigest()
