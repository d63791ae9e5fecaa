"""Tenant-wide settings."""

from __future__ import annotations

from app.auth import validation as v
from app.errors import collect
from app.extensions import db
from tenants.models import Tenant


def update_tenant(tenant: Tenant, *, name: str, default_locale: str, timezone: str) -> None:
    """Rename the tenant and set its default language and time zone; raises ``FieldErrors``, changing nothing."""
    collect(name=v.name_error(name), default_locale=v.locale_error(default_locale),
            timezone=v.timezone_error(timezone))
    tenant.name, tenant.default_locale, tenant.timezone = name.strip(), default_locale, timezone
    db.session.commit()
