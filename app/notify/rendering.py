"""Rendering notifications: the API the outbox calls.

``render_notification`` picks the template (the tenant's own, else the built-in default), fills it with plain
values in the sandbox (``app.notify.sandbox``) and returns the subject and text. ``validate_template`` is what the
editor runs before saving. ``choose_locale`` decides which language a requester is written to in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app
from flask_babel import gettext as _

from app.auth.validation import LOCALES
from app.extensions import db
from app.notify.defaults import FALLBACK_LOCALE, builtin
from app.notify.events import EVENTS
from app.notify.fields import sample_fields
from app.notify.language import detect_language
from app.notify.models import NotificationTemplate
from app.notify.sandbox import TemplateProblem, compile_template, plain_values, run
from tenants.models import Tenant, utcnow

SUBJECT_MAX = 998  # the column, and RFC 5322's line limit
BODY_MAX = 20_000


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    locale: str


@dataclass(frozen=True)
class _Candidate:
    subject: str
    body: str
    locale: str
    origin: str  # "tenant" or "builtin": only the tenant's may fail (and falls back)


def render_notification(tenant: Tenant, event: str, locale: str, fields: dict, *, timezone: str | None = None,
                        when: datetime | None = None) -> Rendered:
    """The notification for ``event`` in ``locale`` (else the tenant's default locale), ``fields`` filled in.

    Tries, in order: the tenant's template for (event, locale), the tenant's for (event, tenant.default_locale), the
    built-in default for the locale, the built-in English one. A tenant template that fails to render is logged and
    skipped. ``Rendered.locale`` is the language of the template used; dates are formatted in it, in ``timezone``
    (else the tenant's). ``fields`` holds strings, numbers or datetimes; ``when`` (default now) is the ``when``
    field. Raises ``KeyError`` for an unknown event.
    """
    if event not in EVENTS:
        raise KeyError(f"unknown notification event {event!r}")
    zone = _zone(timezone or tenant.timezone)
    fields = {**fields, "when": when or utcnow()}
    for candidate in _candidates(tenant, event, _known(locale) or _known(tenant.default_locale) or FALLBACK_LOCALE):
        try:
            return _render(candidate, fields, zone)
        except TemplateProblem as problem:
            if candidate.origin == "builtin" and candidate.locale == FALLBACK_LOCALE:
                raise
            current_app.logger.warning("notification template failed; falling back", extra={
                "event": event, "locale": candidate.locale, "origin": candidate.origin, "error": str(problem)})
    raise AssertionError("unreachable: the built-in English template is the last candidate")


def _render(candidate: _Candidate, fields: dict, zone: tzinfo) -> Rendered:
    return _fill(candidate.subject, candidate.body, candidate.locale, fields, zone)


def render_source(subject: str, body: str, locale: str, fields: dict, *, timezone: str | None = None) -> Rendered:
    """``subject`` and ``body`` (template sources) filled with ``fields`` in ``locale``, as ``render_notification``
    would; raises ``TemplateProblem``. The editor's preview."""
    return _fill(subject, body, _known(locale) or FALLBACK_LOCALE, fields, _zone(timezone))


def _fill(subject: str, body: str, locale: str, fields: dict, zone: tzinfo) -> Rendered:
    values = plain_values(fields, locale=locale, zone=zone)
    subject = run(compile_template(subject), values, locale=locale, zone=zone)
    text = run(compile_template(body), values, locale=locale, zone=zone)
    return Rendered(subject=_one_line(subject), text=text.strip("\n") + "\n", locale=locale)


def _one_line(subject: str) -> str:
    """A subject is one header line: a merge field with a line break in it must not start another header."""
    return " ".join(subject.split())[:SUBJECT_MAX]


def _candidates(tenant: Tenant, event: str, locale: str) -> list[_Candidate]:
    default = _known(tenant.default_locale) or FALLBACK_LOCALE
    own = {template.locale: template for template in db.session.scalars(
        NotificationTemplate.all(tenant).where(NotificationTemplate.event == event,
                                               NotificationTemplate.locale.in_({locale, default})))}
    found = [_Candidate(own[code].subject, own[code].body, code, "tenant") for code in dict.fromkeys((locale, default))
             if code in own]
    for code in dict.fromkeys((locale, FALLBACK_LOCALE)):
        found.append(_Candidate(*builtin(event, code), code, "builtin"))
    return found


def _known(locale: str | None) -> str | None:
    return locale if locale in LOCALES else None


def _zone(name: str | None) -> tzinfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def validate_template(subject: str, body: str) -> dict[str, str]:
    """Field name → message ("Line 3: unexpected '}'") for each of ``subject`` and ``body`` that cannot be saved:
    missing, too long, a syntax error, an unknown merge field or filter, anything the sandbox refuses, or an error
    when filled with sample values. Empty when both are fine."""
    errors = {"subject": _length_error(subject, SUBJECT_MAX) or _line_error(subject),
              "body": _length_error(body, BODY_MAX)}
    sample = plain_values(sample_fields(), locale=FALLBACK_LOCALE, zone=_zone("UTC"))
    for field, source in (("subject", subject), ("body", body)):
        if not errors[field]:
            try:
                run(compile_template(source), sample, locale=FALLBACK_LOCALE, zone=_zone("UTC"))
            except TemplateProblem as problem:
                errors[field] = str(problem)
    return {field: message for field, message in errors.items() if message}


def _length_error(source: str, limit: int) -> str | None:
    if not source.strip():
        return _("This field is required.")
    if len(source) > limit:
        return _("Use at most %(max)s characters.", max=limit)
    return None


def _line_error(subject: str) -> str | None:
    return _("The subject must be a single line.") if "\n" in subject or "\r" in subject else None


def choose_locale(tenant: Tenant, contact, text: str | None) -> str:
    """The language to write to ``contact`` in: theirs if set, else the one their mail ``text`` is clearly written
    in (among Postroom's languages), else the tenant's default."""
    if contact is not None and _known(contact.locale):
        return contact.locale
    return detect_language(text, LOCALES) or _known(tenant.default_locale) or FALLBACK_LOCALE
