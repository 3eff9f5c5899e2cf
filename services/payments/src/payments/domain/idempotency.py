"""Fingerprints of idempotent requests."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any


def fingerprint(fields: dict[str, Any], *, secret: str) -> str:
    """HMAC-SHA256 of the canonical JSON of what identifies a request.

    `fields` never holds the card number or the CVC (PCI DSS 3.3.1: nothing stored may be
    derived from them): a card is identified by brand, last four digits and expiry. Keyed
    all the same, because a PayPal address or an IBAN is personal data.
    """
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hmac.new(secret.encode(), canonical.encode(), hashlib.sha256).hexdigest()
