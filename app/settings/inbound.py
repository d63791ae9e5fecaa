"""The tenant's inbound policy: ticket references, threading, loops, sender authenticity, attachments and VIPs.

Every field is optional in ``update_inbound_policy``; lists are accepted as lists or as text (one per line, or
comma-separated), so the form and the API share one validation and answer with the same localized messages.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flask_babel import gettext as _

from app.audit.services import diff, record
from app.auth.validation import normalize_email
from app.errors import FieldErrors
from app.extensions import db
from tenants.models import Tenant

MB = 1024 * 1024
REOPEN_POLICIES = ("reopen", "new_linked")
DMARC_POLICIES = ("flag", "quarantine")
LIST_MAX = 200  # entries per list: far beyond real use, small enough for the per-mail checks that read them
INBOUND_FIELDS = ("ticket_prefix", "reopen_policy", "subject_window_hours", "sender_rate_limit",
                  "trusted_authserv_ids", "dmarc_policy", "max_attachment_mb", "blocked_attachment_types",
                  "vip_senders")

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_PREFIX = re.compile(r"^[A-Za-z0-9]{1,12}$")
_EXTENSION = re.compile(r"^[a-z0-9]{1,16}$")
# An authserv-id is in practice the receiving server's host name; one label ("mx") is allowed too.
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_AUTHSERV_ID = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*$")
# integer fields: (lowest, highest)
_RANGES = {"subject_window_hours": (1, 720), "sender_rate_limit": (0, 10_000), "max_attachment_mb": (1, 100)}


def policy_of(tenant: Tenant) -> dict[str, Any]:
    """The tenant's inbound policy in the shape ``update_inbound_policy`` takes (attachment limit in MB)."""
    values = {key: getattr(tenant, key) for key in INBOUND_FIELDS if key != "max_attachment_mb"}
    values["max_attachment_mb"] = max(1, round(tenant.max_attachment_bytes / MB))
    for key in ("trusted_authserv_ids", "blocked_attachment_types", "vip_senders"):
        values[key] = list(values[key] or [])
    return values


def split_list(value: str | list | None) -> list[str]:
    """Entries of a list field, stripped and lower-cased, duplicates dropped, in the order given."""
    items = value if isinstance(value, list) else re.split(r"[\s,;]+", value or "")
    cleaned = (item.strip().lower() for item in items if isinstance(item, str))
    return list(dict.fromkeys(item for item in cleaned if item))


def _list_error(items: list[str], bad: list[str], message: Callable[[str], str]) -> str | None:
    """Too many entries, or ``message`` naming (the first few of) the bad ones."""
    if len(items) > LIST_MAX:
        return _("Use at most %(max)s entries.", max=LIST_MAX)
    return message(", ".join(bad[:10])) if bad else None


def _prefix(value: Any) -> tuple[str, str | None]:
    prefix = value.strip() if isinstance(value, str) else value
    if prefix == "":
        return "", None  # empty: derived from the tenant's address
    if not isinstance(prefix, str) or not _PREFIX.match(prefix):
        return "", _("Use 1 to %(max)s letters or digits (no spaces, dashes or accents), or leave it empty.", max=12)
    return prefix.upper(), None


def _number(key: str, value: Any) -> tuple[Any, str | None]:
    low, high = _RANGES[key]
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        return value, _("Choose a whole number between %(min)s and %(max)s.", min=low, max=high)
    return value, None


def _choice(value: Any, choices: tuple[str, ...]) -> tuple[Any, str | None]:
    return value, None if value in choices else _("Choose one of the offered options.")


def _extensions(value: Any) -> tuple[list[str], str | None]:
    # A leading dot is what people type (".exe"); the stored form is without it.
    items = [item.removeprefix(".") for item in split_list(value)]
    bad = [item for item in items if not _EXTENSION.match(item)]
    return items, _list_error(items, bad, lambda names: _(
        "Not a file extension: %(items)s. Use letters and digits only, e.g. exe or js.", items=names))


def _vip(value: Any) -> tuple[list[str], str | None]:
    items, bad = [], []
    for item in split_list(value):
        if item.startswith("@"):
            items.append(item)
            if not _DOMAIN.match(item[1:]):
                bad.append(item)
            continue
        address, error = normalize_email(item)
        items.append(address or item)
        if error:
            bad.append(item)
    return items, _list_error(items, bad, lambda names: _(
        "Neither an e-mail address nor @domain: %(items)s.", items=names))


def _authserv_ids(value: Any) -> tuple[list[str], str | None]:
    items = [item.rstrip(".") for item in split_list(value)]
    bad = [item for item in items if not _AUTHSERV_ID.match(item)]
    return items, _list_error(items, bad, lambda names: _(
        "Not a server name: %(items)s. Use the host name your server writes into Authentication-Results, "
        "e.g. mx.example.com.", items=names))


def _check(key: str, value: Any) -> tuple[Any, str | None]:
    if key == "ticket_prefix":
        return _prefix(value)
    if key in _RANGES:
        return _number(key, value)
    if key == "reopen_policy":
        return _choice(value, REOPEN_POLICIES)
    if key == "dmarc_policy":
        return _choice(value, DMARC_POLICIES)
    return {"blocked_attachment_types": _extensions, "vip_senders": _vip,
            "trusted_authserv_ids": _authserv_ids}[key](value)


def check_inbound_policy(fields: dict[str, Any]) -> dict[str, Any]:
    """The normalized values of ``fields`` as stored on the tenant (bytes, not MB); raises ``FieldErrors``."""
    unknown = set(fields) - set(INBOUND_FIELDS)
    if unknown:
        raise TypeError(f"unknown inbound policy fields: {sorted(unknown)}")
    values, errors = {}, {}
    for key, raw in fields.items():
        values[key], error = _check(key, raw)
        if error:
            errors[key] = error
    if errors:
        raise FieldErrors(errors)
    if "max_attachment_mb" in values:
        values["max_attachment_bytes"] = values.pop("max_attachment_mb") * MB
    return values


def apply_inbound_policy(tenant: Tenant, **fields: Any) -> None:
    """Validate and set the given fields and record the change, without committing (for callers that change more
    in the same transaction). Raises ``FieldErrors`` before anything changes."""
    values = check_inbound_policy(fields)
    before = {key: getattr(tenant, key) for key in values}
    for key, value in values.items():
        setattr(tenant, key, value)
    changes = diff(before, values)
    if changes:
        record(tenant, "tenant.inbound_policy_updated", object_type="tenant", object_id=tenant.id,
               label=tenant.slug, changes=changes)


def update_inbound_policy(tenant: Tenant, **fields: Any) -> None:
    """Set any of ``INBOUND_FIELDS`` (fields not given keep their values) and commit, audited with a diff.

    Raises ``FieldErrors`` with a localized message per field, changing nothing.
    """
    apply_inbound_policy(tenant, **fields)
    db.session.commit()
