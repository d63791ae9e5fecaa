"""Notification templates: a tenant's own subject and text per event and locale, saved only when they render."""

from __future__ import annotations

from dataclasses import dataclass

from app.audit.services import diff, record
from app.auth.validation import LOCALES
from app.errors import FieldErrors
from app.extensions import db
from app.notify.defaults import builtin
from app.notify.events import EVENTS, Event
from app.notify.fields import SAMPLE_MOMENT, sample_fields
from app.notify.models import NotificationTemplate
from app.notify.rendering import Rendered, render_source, validate_template
from app.notify.sandbox import TemplateProblem
from tenants.models import Tenant


@dataclass(frozen=True)
class Cell:
    locale: str
    template: NotificationTemplate | None  # None: the built-in default is sent

    @property
    def customised(self) -> bool:
        return self.template is not None


def tenant_locales(tenant: Tenant) -> list[str]:
    """Postroom's languages, the tenant's default first."""
    return sorted(LOCALES, key=lambda code: code != tenant.default_locale)


def overview(tenant: Tenant) -> list[tuple[Event, list[Cell]]]:
    """Every event with one cell per locale, saying whether the tenant wrote its own template there."""
    own = {(t.event, t.locale): t for t in db.session.scalars(NotificationTemplate.all(tenant))}
    locales = tenant_locales(tenant)
    return [(event, [Cell(code, own.get((event.name, code))) for code in locales]) for event in EVENTS.values()]


def find_template(tenant: Tenant, event: str, locale: str) -> NotificationTemplate | None:
    return db.session.scalar(NotificationTemplate.all(tenant).where(NotificationTemplate.event == event,
                                                                    NotificationTemplate.locale == locale))


def current_source(tenant: Tenant, event: str, locale: str) -> tuple[str, str]:
    """The subject and body sent for (event, locale): the tenant's own, else the built-in default."""
    template = find_template(tenant, event, locale)
    return (template.subject, template.body) if template else builtin(event, locale)


def _clean(source: str) -> str:
    return source.replace("\r\n", "\n").strip()  # browsers send CRLF from a textarea


def save_template(tenant: Tenant, event: str, locale: str, *, subject: str, body: str,
                  author_id: int | None = None) -> NotificationTemplate:
    """Store the tenant's template for (event, locale), replacing any before it. Raises ``FieldErrors`` (subject,
    body) for what ``validate_template`` refuses: nothing is saved that would fail when sent."""
    subject, body = _clean(subject), _clean(body)
    errors = validate_template(subject, body)
    if errors:
        raise FieldErrors(errors)
    template = find_template(tenant, event, locale)
    label = f"{event} ({locale})"
    if template is None:
        template = NotificationTemplate(tenant_id=tenant.id, event=event, locale=locale, subject=subject, body=body,
                                        updated_by_id=author_id)
        db.session.add(template)
        db.session.flush()
        record(tenant, "notification_template.created", object_type="notification_template",
               object_id=template.id, label=label)
    else:
        before = {"subject": template.subject, "body": template.body}
        template.subject, template.body, template.updated_by_id = subject, body, author_id
        changes = diff(before, {"subject": subject, "body": body}, secrets=frozenset({"body"}))
        if changes:
            record(tenant, "notification_template.updated", object_type="notification_template",
                   object_id=template.id, label=label, changes=changes)
    db.session.commit()
    return template


def reset_template(tenant: Tenant, event: str, locale: str) -> bool:
    """Delete the tenant's template for (event, locale): the built-in default is sent again. False if there was
    none."""
    template = find_template(tenant, event, locale)
    if template is None:
        return False
    record(tenant, "notification_template.reset", object_type="notification_template", object_id=template.id,
           label=f"{event} ({locale})")
    db.session.delete(template)
    db.session.commit()
    return True


def preview(tenant: Tenant, locale: str, *, subject: str, body: str) -> Rendered:
    """``subject`` and ``body`` filled with sample values, as a notification in ``locale`` would be. Raises
    ``FieldErrors`` as ``save_template`` does."""
    subject, body = _clean(subject), _clean(body)
    errors = validate_template(subject, body)
    if errors:
        raise FieldErrors(errors)
    fields = {**sample_fields(tenant, locale), "when": SAMPLE_MOMENT}
    try:
        return render_source(subject, body, locale, fields, timezone=tenant.timezone)
    except TemplateProblem as problem:  # validated on English samples; a locale's date pattern may still fail
        raise FieldErrors({"body": str(problem)}) from None
