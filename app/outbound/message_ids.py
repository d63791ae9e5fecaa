"""Message-IDs we mint: on the sending mailbox's domain, and recognisable as ours when they come back.

``<pr.{random}.{tag}@{domain}>``: the tag is an HMAC of the random part under the app's secret, so a mail that
carries one of our ids as its *own* Message-ID (an auto-responder or a forwarding loop sent our mail back) is
known as ours, while anybody else's mail on the same domain (the tenant's own staff) is not.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from flask import current_app

LOOP_HEADER = "X-Postroom-Loop"  # carries the tenant's slug on every mail we send
_OURS = re.compile(r"<?pr\.([a-z0-9]{20})\.([a-z0-9]{10})@[^>]+>?", re.IGNORECASE)


def _tag(random_part: str) -> str:
    digest = hmac.new(current_app.secret_key.encode(), f"message-id:{random_part}".encode(), hashlib.sha256)
    return digest.hexdigest()[:10]


def mint(domain: str) -> str:
    random_part = secrets.token_hex(10)
    return f"<pr.{random_part}.{_tag(random_part)}@{domain or current_app.config['MESSAGE_ID_DOMAIN']}>"


def is_ours(message_id: str | None) -> bool:
    match = _OURS.fullmatch((message_id or "").strip())
    return bool(match) and hmac.compare_digest(match[2].lower(), _tag(match[1].lower()))


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].strip().lower()
