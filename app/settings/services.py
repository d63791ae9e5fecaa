"""Tenant-wide settings: identity, defaults, and the mail policy."""

from __future__ import annotations

import re

from flask_babel import gettext as _

from app.audit.services import diff, record
from app.auth import validation as v
from app.errors import collect
from app.extensions import db
from tenants.models import Tenant

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
POLICY_FIELDS = ("allow_plaintext", "allowed_sender_domains", "allowed_mailbox_domains", "failure_threshold",
                 "commlog_retention_days", "audit_retention_days")
RETENTION_DAYS = (7, 3650)  # a week at least (the health page reads 7 days), ten years at most


def parse_domains(text: str | list[str]) -> list[str]:
    items = text if isinstance(text, list) else re.split(r"[\s,]+", text or "")
    return sorted({item.strip().lower().lstrip("@") for item in items if item and item.strip()})


def _domains_error(domains: list[str]) -> str | None:
    bad = [d for d in domains if not _DOMAIN.match(d)]
    return _("Not a domain: %(domains)s", domains=", ".join(bad)) if bad else None


def _retention_error(value: object) -> str | None:
    low, high = RETENTION_DAYS
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        return _("Choose a number of days between %(low)s and %(high)s.", low=low, high=high)
    return None


def _threshold_error(value: object) -> str | None:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 100:
        return _("Choose a number between 1 and 100.")
    return None


def update_tenant(tenant: Tenant, *, name: str, default_locale: str, timezone: str, **policy) -> None:
    """Rename the tenant, set its defaults and (optionally) its mail policy; raises ``FieldErrors``, changing nothing.

    ``policy`` may hold ``allow_plaintext``, ``allowed_sender_domains``, ``allowed_mailbox_domains`` (lists or text),
    ``failure_threshold`` and the logs' retention in days; fields not given keep their values.
    """
    fields = {"name": name, "default_locale": default_locale, "timezone": timezone}
    policy = {key: policy[key] for key in POLICY_FIELDS if key in policy}
    for key in ("allowed_sender_domains", "allowed_mailbox_domains"):
        if key in policy:
            policy[key] = parse_domains(policy[key])
    collect(name=v.name_error(name), default_locale=v.locale_error(default_locale),
            timezone=v.timezone_error(timezone),
            allowed_sender_domains=_domains_error(policy.get("allowed_sender_domains", [])),
            allowed_mailbox_domains=_domains_error(policy.get("allowed_mailbox_domains", [])),
            failure_threshold=_threshold_error(policy["failure_threshold"]) if "failure_threshold" in policy
            else None,
            **{key: _retention_error(policy[key]) for key in ("commlog_retention_days", "audit_retention_days")
               if key in policy})
    before = {key: getattr(tenant, key) for key in (*fields, *policy)}
    for key, value in {**fields, "name": name.strip(), **policy}.items():
        setattr(tenant, key, value)
    changes = diff(before, {key: getattr(tenant, key) for key in before})
    if changes:
        record(tenant, "tenant.updated", object_type="tenant", object_id=tenant.id, label=tenant.slug,
               changes=changes)
    db.session.commit()
