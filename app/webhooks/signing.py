"""Webhook signatures: ``Postroom-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``.

The scheme of Stripe and Standard Webhooks (see FINDINGS.md): the timestamp is signed with the body, so a receiver
can refuse replays older than its tolerance. While a rotated secret's overlap lasts, every delivery carries one
``v1`` per secret (new first), so receivers that still hold the old secret keep verifying.

``verify`` is the reference a receiver can copy (README, "Verifying webhooks"): it uses only the standard library.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable

HEADER = "Postroom-Signature"
TOLERANCE = 300  # seconds: a receiver refuses anything older (or that much in the future)


def sign(secrets: Iterable[str], body: bytes, timestamp: int | None = None) -> str:
    """The signature header's value for ``body`` under each of ``secrets`` (newest first)."""
    stamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{stamp}.".encode() + body
    parts = [f"t={stamp}"] + [f"v1={hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()}"
                              for secret in secrets]
    return ",".join(parts)


def verify(secret: str, body: bytes, header: str, *, tolerance: int = TOLERANCE, now: float | None = None) -> bool:
    """True when ``header`` holds a valid ``v1`` signature of ``body`` under ``secret``, made within ``tolerance``
    seconds of ``now``. Compare the raw body, before any JSON parsing."""
    try:
        items = [part.split("=", 1) for part in header.split(",")]
        stamp = int(next(value for key, value in items if key.strip() == "t"))
    except (ValueError, StopIteration):
        return False
    if abs((time.time() if now is None else now) - stamp) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return any(key.strip() == "v1" and hmac.compare_digest(value.strip(), expected) for key, value in items)
