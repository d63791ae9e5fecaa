"""Gmail push (Cloud Pub/Sub push subscriptions): Google POSTs ``{"message": {"data": base64({"emailAddress",
"historyId"})}}`` with an OIDC token in ``Authorization: Bearer``. The token must be signed by a key of
``POSTROOM_GMAIL_PUSH_JWKS_URL`` (Google's certificates in production; a test key set in tests), issued by Google,
for ``POSTROOM_GMAIL_PUSH_AUDIENCE``, and (when set) on behalf of ``POSTROOM_GMAIL_PUSH_SERVICE_ACCOUNT``. Only
then is the address looked up: a Gmail mailbox connected through OAuth syncs at once."""

from __future__ import annotations

import base64
import binascii
import json
import time
import urllib.request

from flask import current_app
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import select

from app.extensions import db
from app.hooks.services import Refused
from app.mailboxes.models import Mailbox, MailboxStatus
from app.oauth.models import OAuthGrant
from app.sql import equals_ignoring_case

ISSUERS = ("https://accounts.google.com", "accounts.google.com")
_jwks_cache: dict[str, tuple[float, object]] = {}
JWKS_TTL = 3600


def mailbox_for_push(authorization: str | None, payload: object) -> Mailbox:
    claims = _verified_claims(authorization)
    account = current_app.config.get("GMAIL_PUSH_SERVICE_ACCOUNT")
    if account and (claims.get("email") != account or not claims.get("email_verified")):
        raise Refused("wrong_sender")
    address = _address(payload)
    mailbox = db.session.scalar(select(Mailbox).join(OAuthGrant, OAuthGrant.id == Mailbox.oauth_grant_id).where(
        equals_ignoring_case(Mailbox.address, address), OAuthGrant.provider == "google",
        Mailbox.status.in_([MailboxStatus.ACTIVE, MailboxStatus.FAILING])).limit(1))
    if mailbox is None:
        raise Refused("unknown_mailbox")
    return mailbox


def _verified_claims(authorization: str | None) -> dict:
    audience = current_app.config.get("GMAIL_PUSH_AUDIENCE")
    if not audience or not current_app.config.get("GMAIL_PUSH_JWKS_URL"):
        raise Refused("gmail_push_not_configured")
    if not authorization or not authorization.startswith("Bearer "):
        raise Refused("no_token")
    try:
        token = jwt.decode(authorization.removeprefix("Bearer ").strip(), _keys(), algorithms=["RS256"])
        jwt.JWTClaimsRegistry(leeway=60, iss={"essential": True, "values": list(ISSUERS)},
                              aud={"essential": True, "value": audience}, exp={"essential": True}
                              ).validate(token.claims)
    except (JoseError, ValueError) as error:
        raise Refused("bad_token") from error
    return dict(token.claims)


def _keys():
    url = current_app.config["GMAIL_PUSH_JWKS_URL"]
    cached = _jwks_cache.get(url)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 - the operator's configured URL
        keys = KeySet.import_key_set(json.loads(answer.read()))
    _jwks_cache[url] = (time.monotonic() + JWKS_TTL, keys)
    return keys


def _address(payload: object) -> str:
    try:
        data = payload["message"]["data"]  # type: ignore[index]
        decoded = json.loads(base64.b64decode(data, validate=False))
        address = decoded["emailAddress"]
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise Refused("malformed") from None
    if not isinstance(address, str) or "@" not in address:
        raise Refused("malformed")
    return address.strip().lower()
