"""OAuth grants: stored encrypted, refreshed before they expire — one refresh per grant at a time, everywhere."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import timedelta

from flask import current_app
from redis.exceptions import LockError
from sqlalchemy import select

from app.audit.services import record
from app.extensions import db, get_redis
from app.oauth import client
from app.oauth.errors import OAuthFailure
from app.oauth.models import GrantStatus, OAuthApp, OAuthGrant, OperatorAlert
from app.oauth.providers import ClientCredentials, Provider, get_provider, platform_credentials
from tenants.models import Tenant, utcnow
from tenants.scoping import UNSCOPED

LOCK_TIMEOUT = 60  # longer than one token request (15 s timeout) with room to commit
LOCK_WAIT = 45


class GrantUnusable(Exception):
    """The grant cannot produce an access token until a person (or operator) acts; ``kind`` says who."""

    def __init__(self, grant: OAuthGrant, kind: str, cause: str):
        super().__init__(f"grant {grant.id}: {kind}: {cause}")
        self.grant, self.kind, self.cause = grant, kind, cause


def credentials_for(tenant: Tenant, provider: Provider, app_id: int | None = None) -> ClientCredentials | None:
    """The tenant's own OAuth app for this provider when it has one, else the platform's."""
    query = OAuthApp.all(tenant).where(OAuthApp.provider == provider.key)
    own = db.session.scalar(query.where(OAuthApp.id == app_id) if app_id else query)
    if own is not None:
        return ClientCredentials(own.client_id, own.client_secret, own.secret_expires_on, own.directory, own.id)
    return platform_credentials(provider)


def grant_credentials(grant: OAuthGrant) -> ClientCredentials | None:
    """The credentials of the client that issued ``grant`` — or ``None`` when that app was changed or removed."""
    provider = get_provider(grant.provider)
    if provider is None:
        return None
    if grant.app_id is None:
        credentials = platform_credentials(provider)
    else:
        credentials = credentials_for(db.session.get(Tenant, grant.tenant_id), provider, grant.app_id)
    if credentials is None or credentials.client_id != grant.client_id or credentials.app_id != grant.app_id:
        return None
    return credentials


def connectable_providers(tenant: Tenant) -> list[Provider]:
    """Providers a tenant can connect mailboxes through: ours where configured, or the tenant's own app."""
    from app.oauth.providers import all_providers

    return [p for p in all_providers() if credentials_for(tenant, p) is not None]


def grant_provider(grant: OAuthGrant) -> Provider:
    provider = get_provider(grant.provider)
    if provider is None:
        raise GrantUnusable(grant, "invalid_client", f"provider {grant.provider} is not configured")
    return provider.endpoints_for(grant.directory)


def _fresh(grant: OAuthGrant, margin: timedelta) -> bool:
    return bool(grant.access_token and grant.access_expires_at and grant.access_expires_at - margin > utcnow())


def access_token(grant: OAuthGrant, margin: timedelta | None = None) -> str:
    """A valid access token for ``grant``, refreshing it first (under the grant's lock) when it is about to expire.

    Raises ``GrantUnusable`` for a revoked grant or a broken client, ``OAuthFailure("transient")`` when the provider
    is unreachable (callers retry).
    """
    margin = timedelta(seconds=60) if margin is None else margin
    if grant.status != GrantStatus.ACTIVE:
        raise GrantUnusable(grant, grant.status.value, grant.last_error or "")
    if not _fresh(grant, margin):
        refresh_grant(grant, margin)
    return grant.access_token  # type: ignore[return-value]


def refresh_grant(grant: OAuthGrant, margin: timedelta | None = None) -> bool:
    """Refresh unless someone else just did; returns whether this call asked the provider.

    The Redis lock makes it one refresh per grant across all workers; re-reading the grant after taking the lock
    is what lets the 19 callers that waited use the token the first one fetched.
    """
    margin = timedelta(seconds=current_app.config["OAUTH_REFRESH_MARGIN"]) if margin is None else margin
    with _refresh_lock(grant):
        if _fresh(grant, margin):
            return False
        _redeem(grant)
        return True


@contextlib.contextmanager
def _refresh_lock(grant: OAuthGrant) -> Iterator[None]:
    """Hold the grant's refresh lock, with the grant re-read (and still active) inside it."""
    lock = get_redis().lock(f"oauth:grant:{grant.id}:refresh", timeout=LOCK_TIMEOUT, blocking_timeout=LOCK_WAIT)
    # End the caller's transaction before waiting, and touch nothing (not even ``grant.id``, expired by the commit)
    # until the re-read: that must start a new transaction. SQLite (and PostgreSQL under REPEATABLE READ) keeps a
    # transaction's first snapshot, so re-reading inside an older one returns the refresh token another worker just
    # rotated away, and redeeming that again revokes the whole token family. It also frees the connection meanwhile.
    db.session.commit()
    if not lock.acquire():
        raise OAuthFailure("transient", "another worker is still refreshing this grant")
    try:
        db.session.refresh(grant)
        if grant.status != GrantStatus.ACTIVE:
            raise GrantUnusable(grant, grant.status.value, grant.last_error or "")
        yield
    finally:
        with contextlib.suppress(LockError):  # it expired while we waited on the provider: nothing to release
            lock.release()


def resource_token(grant: OAuthGrant, scope: str) -> str:
    """An access token for another resource of the same consent (Microsoft Graph, next to Outlook's IMAP and SMTP).
    Not stored: push subscriptions need one a day. A refresh token the request rotates is stored at once, under the
    same lock as every refresh, so the mail token's next refresh uses the live one."""
    with _refresh_lock(grant):
        credentials = grant_credentials(grant)
        if credentials is None or not grant.refresh_token:
            raise GrantUnusable(grant, "invalid_grant", "no usable refresh token")
        tokens = client.refresh(grant_provider(grant), credentials, grant.refresh_token, scope=scope)
        if tokens.refresh_token != grant.refresh_token:
            grant.refresh_token, grant.refresh_issued_at = tokens.refresh_token, utcnow()
            db.session.commit()
        return tokens.access_token


def _redeem(grant: OAuthGrant) -> None:
    provider = grant_provider(grant)
    credentials = grant_credentials(grant)
    if credentials is None:
        _fail(grant, OAuthFailure("invalid_grant", "the sign-in app this mailbox was connected with was changed or "
                                                   "removed"))
    if not grant.refresh_token:
        _fail(grant, OAuthFailure("invalid_grant", "no refresh token"))
    try:
        tokens = client.refresh(provider, credentials, grant.refresh_token)
    except OAuthFailure as failure:
        if failure.kind in ("invalid_grant", "invalid_client"):
            _fail(grant, failure)
        grant.last_error = failure.cause[:500]
        db.session.commit()
        raise
    rotated = tokens.refresh_token != grant.refresh_token
    # One commit for both tokens: a rotated refresh token saved without its access token (or the reverse) is lost.
    grant.access_token, grant.access_expires_at = tokens.access_token, tokens.expires_at
    grant.refresh_token, grant.last_refresh_at, grant.last_error = tokens.refresh_token, utcnow(), None
    if rotated:
        grant.refresh_issued_at = utcnow()
        if provider.refresh_token_max_age:
            grant.refresh_expires_at = utcnow() + provider.refresh_token_max_age
    if tokens.scopes:
        grant.scopes = tokens.scopes
    from app.oauth.effects import client_recovered

    client_recovered(grant)
    db.session.commit()


def _fail(grant: OAuthGrant, failure: OAuthFailure) -> None:
    """Make the failure visible: the grant's mailboxes need re-connecting, or an operator must fix the client."""
    from app.oauth.effects import grant_failed

    grant_failed(grant, failure)
    raise GrantUnusable(grant, failure.kind, failure.cause)


def grants_due(region: str, margin: timedelta) -> list[int]:
    """Active grants of ``region``'s tenants whose access token expires within ``margin``."""
    query = (select(OAuthGrant.id).join(Tenant, Tenant.id == OAuthGrant.tenant_id)
             .where(Tenant.region == region, OAuthGrant.status == GrantStatus.ACTIVE,
                    OAuthGrant.refresh_token.is_not(None),
                    (OAuthGrant.access_expires_at.is_(None)) | (OAuthGrant.access_expires_at <= utcnow() + margin)))
    return list(db.session.scalars(query))


def resolve_operator_alert(key: str) -> None:
    for alert in db.session.scalars(select(OperatorAlert).where(OperatorAlert.key == key,
                                                                OperatorAlert.resolved_at.is_(None))):
        alert.resolved_at = utcnow()


def raise_operator_alert(kind: str, key: str, message: str) -> None:
    if db.session.scalar(select(OperatorAlert.id).where(OperatorAlert.key == key,
                                                        OperatorAlert.resolved_at.is_(None))) is None:
        db.session.add(OperatorAlert(kind=kind, key=key, message=message))
    current_app.logger.error("operator alert", extra={"alert": kind, "key": key, "detail": message})


def record_grant_event(grant: OAuthGrant, action: str, changes: dict | None = None) -> None:
    tenant = db.session.get(Tenant, grant.tenant_id)
    record(tenant, action, object_type="oauth_grant", object_id=grant.id, label=grant.email, changes=changes)


def _others_use_the_consent(provider: Provider, email: str, except_id: int | None) -> bool:
    """Google revokes the whole consent of a user for our client, not one token: if another grant (in any
    tenant) rests on that consent, revoking would cut it off too."""
    query = select(OAuthGrant.id).where(OAuthGrant.provider == provider.key, OAuthGrant.email == email,
                                        OAuthGrant.status == GrantStatus.ACTIVE)
    if except_id is not None:
        query = query.where(OAuthGrant.id != except_id)
    return db.session.scalar(query.execution_options(**{UNSCOPED: True}).limit(1)) is not None


def discard_tokens(provider: Provider, credentials: ClientCredentials | None, *tokens: str | None,
                   email: str, except_grant_id: int | None = None) -> None:
    """Revoke tokens we will not keep (a refused onboarding, a replaced or retired grant), best effort."""
    if credentials is None:
        return
    if provider.revoke_is_grant_wide and _others_use_the_consent(provider, email, except_grant_id):
        return
    for token in tokens:
        if token:
            client.revoke(provider, credentials, token)


def retire_grant(grant: OAuthGrant) -> None:
    """Revoke the grant at its provider (best effort) and forget it; the caller commits."""
    provider = get_provider(grant.provider)
    if provider is not None:
        discard_tokens(provider.endpoints_for(grant.directory), grant_credentials(grant), grant.refresh_token,
                       grant.access_token, email=grant.email, except_grant_id=grant.id)
    db.session.delete(grant)
