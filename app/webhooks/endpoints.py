"""Creating, changing and rotating webhook endpoints (the portal and the API call these). The URL is checked by
the SSRF guard when saved, and again at every send; the secret is shown once, at creation and at rotation."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _

from app.audit.services import record
from app.errors import FieldErrors
from app.extensions import db
from app.mail.netguard import NetGuardError, check_host
from app.webhooks import transport
from app.webhooks.models import EVENTS, WebhookEndpoint
from app.webhooks.services import new_secret
from tenants.models import Tenant, utcnow

ROTATION_OVERLAP = timedelta(hours=24)  # both secrets sign while receivers switch over


def create_endpoint(tenant: Tenant, *, url: str, events: list[str], description: str = "",
                    active: bool = True) -> tuple[WebhookEndpoint, str]:
    """The new endpoint and its secret (shown once: only the encrypted copy is kept)."""
    url, events = _checked(url, events)
    secret = new_secret()
    endpoint = WebhookEndpoint(tenant_id=tenant.id, url=url, events=events, description=description[:200],
                               active=active, secret=secret, failure_streak=0)
    db.session.add(endpoint)
    db.session.flush()
    record(tenant, "webhook.created", object_type="webhook_endpoint", object_id=endpoint.id, label=url,
           changes={"events": [None, events]})
    return endpoint, secret


def update_endpoint(tenant: Tenant, endpoint: WebhookEndpoint, *, url: str, events: list[str],
                    description: str = "", active: bool = True) -> WebhookEndpoint:
    url, events = _checked(url, events)
    before = {"url": endpoint.url, "events": endpoint.events, "active": endpoint.active}
    endpoint.url, endpoint.events, endpoint.description = url, events, description[:200]
    if active and not endpoint.active:  # switched on again: a fresh start
        endpoint.failure_streak, endpoint.disabled_reason = 0, None
    endpoint.active = active
    after = {"url": url, "events": events, "active": active}
    record(tenant, "webhook.updated", object_type="webhook_endpoint", object_id=endpoint.id, label=url,
           changes={key: [before[key], after[key]] for key in after if before[key] != after[key]})
    return endpoint


def rotate_secret(tenant: Tenant, endpoint: WebhookEndpoint) -> str:
    """A new secret; the old one keeps signing (alongside) for ``ROTATION_OVERLAP``."""
    endpoint.previous_secret, endpoint.previous_until = endpoint.secret, utcnow() + ROTATION_OVERLAP
    secret = new_secret()
    endpoint.secret = secret
    record(tenant, "webhook.secret_rotated", object_type="webhook_endpoint", object_id=endpoint.id,
           label=endpoint.url, changes={"secret": "changed"})
    return secret


def _checked(url: str, events: list[str]) -> tuple[str, list[str]]:
    url = (url or "").strip()
    errors: dict[str, str] = {}
    allow_private = current_app.config["ALLOW_PRIVATE_HOSTS"]
    try:
        _scheme, host, _port, _path = transport.target(url, allow_private=allow_private)
        check_host(host, allow_private=allow_private, timeout=current_app.config["CONNECT_TIMEOUT"])
    except transport.UrlError:
        errors["url"] = _("Enter an https:// address, without a user name or password in it.")
    except NetGuardError:
        errors["url"] = _("This address does not resolve, or points to a private or internal address.")
    if len(url) > 2000:
        errors["url"] = _("Use at most %(max)s characters.", max=2000)
    unknown = [name for name in events if name not in EVENTS]
    if unknown or not events:
        errors["events"] = _("Choose one or more events from the list.")
    if errors:
        raise FieldErrors(errors)
    return url, [name for name in EVENTS if name in events]
