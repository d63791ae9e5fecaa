"""Per-tenant API tokens: random, stored hashed, shown once, revocable."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select

from app.audit.services import record
from app.auth import validation as v
from app.errors import collect
from app.extensions import db
from app.tokens.models import ApiToken
from tenants.models import Tenant, utcnow

TOKEN_PREFIX = "prt_"  # noqa: S105 (a public marker that lets secret scanners recognize our tokens)
# Writing last_used_at on every request would turn each API read into a write; once a minute is enough.
_LAST_USED_RESOLUTION = timedelta(minutes=1)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(tenant: Tenant, *, name: str, created_by_id: int | None = None) -> tuple[ApiToken, str]:
    """Create a token; returns the row and the plaintext token, which is never retrievable again."""
    collect(name=v.name_error(name))
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(tenant_id=tenant.id, name=name.strip(), prefix=plaintext[:10], token_hash=_digest(plaintext),
                     created_by_id=created_by_id)
    db.session.add(token)
    db.session.flush()
    record(tenant, "api_token.created", object_type="api_token", object_id=token.id, label=token.name)
    db.session.commit()
    return token, plaintext


def tokens(tenant: Tenant) -> list[ApiToken]:
    query = ApiToken.all(tenant).where(ApiToken.revoked_at.is_(None)).order_by(ApiToken.created_at.desc())
    return list(db.session.scalars(query))


def revoke_token(token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        record(token.tenant, "api_token.revoked", object_type="api_token", object_id=token.id, label=token.name)
    db.session.commit()


def token_for_bearer(plaintext: str) -> ApiToken | None:
    """The live token matching ``plaintext`` (compared by hash), else ``None``."""
    if not plaintext.startswith(TOKEN_PREFIX):
        return None
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(plaintext),
                                                     ApiToken.revoked_at.is_(None)))
    if token is not None and (token.last_used_at is None or utcnow() - token.last_used_at > _LAST_USED_RESOLUTION):
        token.last_used_at = utcnow()
        db.session.commit()
    return token
