"""Warnings ahead of known expiries: refresh tokens with a maximum age, and client secrets with an end date."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app.extensions import db
from app.oauth.models import GrantStatus, OAuthApp, OAuthGrant
from app.oauth.providers import all_providers, platform_credentials
from app.oauth.services import raise_operator_alert, record_grant_event
from tenants.models import Tenant, utcnow

WARN_AHEAD = timedelta(days=14)


def expiring_grants(tenant: Tenant) -> list[OAuthGrant]:
    """Active grants whose refresh token will expire within two weeks: re-connecting in time avoids an outage."""
    query = OAuthGrant.all(tenant).where(OAuthGrant.status == GrantStatus.ACTIVE,
                                         OAuthGrant.refresh_expires_at.is_not(None),
                                         OAuthGrant.refresh_expires_at <= utcnow() + WARN_AHEAD)
    return list(db.session.scalars(query))


def expiring_apps(tenant: Tenant) -> list[OAuthApp]:
    soon = (utcnow() + WARN_AHEAD).date()
    return list(db.session.scalars(OAuthApp.all(tenant).where(OAuthApp.secret_expires_on.is_not(None),
                                                                OAuthApp.secret_expires_on <= soon)))


def warn_expiring_in_region(region: str) -> int:
    """Audit each expiring grant once; alert operators about our own client secrets. Returns warnings raised."""
    count = 0
    for tenant in db.session.scalars(select(Tenant).where(Tenant.region == region)):
        for grant in expiring_grants(tenant):
            if grant.expiry_warned_at is None:
                record_grant_event(grant, "oauth.expiring", {"refresh_expires_at": [None,
                                                                                      grant.refresh_expires_at]})
                grant.expiry_warned_at = utcnow()
                count += 1
    for provider in all_providers():
        credentials = platform_credentials(provider)
        if credentials and credentials.secret_expires_on and credentials.secret_expires_on <= (
                utcnow() + WARN_AHEAD).date():
            raise_operator_alert("oauth_secret_expiring", f"oauth:{provider.key}:secret-expiry",
                                 f"The {provider.label} client secret expires on {credentials.secret_expires_on}.")
            count += 1
    db.session.commit()
    return count
