"""A tenant's own OAuth apps (their Azure app registration / Google Cloud project), used instead of ours."""

from __future__ import annotations

import re
from datetime import date

from flask_babel import gettext as _

from app.audit.services import diff, record
from app.errors import collect
from app.extensions import db
from app.oauth.models import OAuthApp
from tenants.models import Tenant

PROVIDERS = ("google", "microsoft")
_DIRECTORY = re.compile(r"^(common|organizations|consumers|[0-9a-f-]{36}|[a-z0-9.-]+\.[a-z]{2,})$", re.IGNORECASE)


def apps(tenant: Tenant) -> dict[str, OAuthApp]:
    return {app.provider: app for app in db.session.scalars(OAuthApp.all(tenant))}


def save_app(tenant: Tenant, provider: str, *, client_id: str, client_secret: str | None,
             secret_expires_on: date | None = None, directory: str | None = None) -> OAuthApp:
    """Create or change the tenant's app for ``provider``; an empty secret keeps the stored one."""
    existing = apps(tenant).get(provider)
    collect(provider=None if provider in PROVIDERS else _("Choose Google or Microsoft."),
            client_id=None if (client_id or "").strip() and len(client_id) <= 255 else _("Enter the client ID."),
            client_secret=None if client_secret or existing else _("Enter the client secret."),
            directory=None if not directory or (len(directory.strip()) <= 100 and _DIRECTORY.match(directory.strip()))
            else _("Enter a directory (tenant) ID, a domain, or common."))
    app = existing or OAuthApp(tenant_id=tenant.id, provider=provider)
    if existing is not None and existing.client_id != client_id.strip():
        _orphan_grants(existing, _("the sign-in app it was connected with was replaced"))
    before = {"client_id": app.client_id, "secret_expires_on": app.secret_expires_on, "directory": app.directory}
    app.client_id, app.secret_expires_on = client_id.strip(), secret_expires_on
    app.directory = (directory or "").strip() or None
    changes = diff(before, {"client_id": app.client_id, "secret_expires_on": app.secret_expires_on,
                            "directory": app.directory})
    if client_secret:
        app.client_secret, changes["client_secret"] = client_secret, "changed"
    db.session.add(app)
    db.session.flush()
    record(tenant, "oauth_app.saved", object_type="oauth_app", object_id=app.id, label=provider, changes=changes)
    db.session.commit()
    return app


def delete_app(app: OAuthApp) -> None:
    """Back to the platform's app; grants made through this one stop refreshing and must be re-connected."""
    tenant = db.session.get(Tenant, app.tenant_id)
    _orphan_grants(app, _("the sign-in app it was connected with was removed"))
    record(tenant, "oauth_app.deleted", object_type="oauth_app", object_id=app.id, label=app.provider)
    db.session.delete(app)
    db.session.commit()


def _orphan_grants(app: OAuthApp, cause: str) -> None:
    """Grants issued to a client that is going away cannot be refreshed by anyone: their mailboxes re-connect."""
    from sqlalchemy import select

    from app.oauth.effects import grant_failed
    from app.oauth.errors import OAuthFailure
    from app.oauth.models import GrantStatus, OAuthGrant

    grants = db.session.scalars(select(OAuthGrant).where(OAuthGrant.tenant_id == app.tenant_id,
                                                         OAuthGrant.app_id == app.id,
                                                         OAuthGrant.status == GrantStatus.ACTIVE))
    for grant in grants:
        grant_failed(grant, OAuthFailure("invalid_grant", cause))
