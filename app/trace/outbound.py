"""Steps of what a message caused to go out: its own delivery (a reply) or the notices it got (an acknowledgement),
every SMTP attempt, failures and bounces, and the webhook events about it."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.inbox.labels import NOTICE_REASONS, label
from app.notify.events import EVENTS
from app.outbound.models import DeliveryAttempt, OutgoingKind, OutgoingMail, OutgoingStatus
from app.tickets.models import Message, ThreadReason, TicketEvent
from app.trace.steps import QUEUED, Step, duration_text, step
from app.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from tenants.models import Tenant

_ATTEMPTS = {"sent": "mail_sent", "deferred": "mail_deferred", "failed": "mail_refused"}
_HELD = (OutgoingStatus.SUPPRESSED, OutgoingStatus.BLOCKED)
WEBHOOK_EVENTS = ("ticket.created", "message.received", "message.sent", "message.failed", "message.bounced")
# Webhook bodies name the message, no column does: the deliveries of this window are read and their bodies
# looked at, at most this many (from the message on; its events follow within seconds, a reply's within hours).
WEBHOOK_SCAN = 2000
WEBHOOK_SLACK = timedelta(days=1)


def outgoing_steps(tenant: Tenant, message: Message) -> list[Step]:
    mails = list(db.session.scalars(OutgoingMail.all(tenant).where(OutgoingMail.message_id == message.id)
                                    .options(selectinload(OutgoingMail.attempts_log)).order_by(OutgoingMail.id)))
    failures = _failure_events(tenant, message, mails)
    steps = [item for mail in mails for item in _mail_steps(mail, failures.get(mail.id, []))]
    return steps + _bounce_reports(tenant, message)


def _name(mail: OutgoingMail) -> str:
    """Which mail a step is about (a message may have caused several: an acknowledgement and a notice)."""
    if mail.kind == OutgoingKind.REPLY:
        return _("Reply")
    if mail.event == "acknowledgement":
        return _("Acknowledgement")
    event = EVENTS.get(mail.event or "")
    return str(event.label) if event else (mail.event or str(QUEUED["other"]))


def _mail_steps(mail: OutgoingMail, failures: list[TicketEvent]) -> list[Step]:
    addressed = _("to %(recipients)s", recipients=", ".join(mail.recipients or []) or "—")
    if mail.status in _HELD:
        detail = f"{_name(mail)} · {label(NOTICE_REASONS, mail.status_reason)} · {addressed}"
        return [step("mail_not_sent", mail.created_at, detail, ok=False)]
    queued = QUEUED["reply" if mail.kind == OutgoingKind.REPLY else
                    "acknowledgement" if mail.event == "acknowledgement" else "other"]
    named = "" if mail.kind == OutgoingKind.REPLY else f"{_name(mail)} · "
    steps = [step("mail_queued", mail.created_at, f"{named}{addressed} · <{mail.rfc_message_id}>", label=queued)]
    steps += [_attempt_step(attempt, named) for attempt in mail.attempts_log]
    for event in failures:
        detail = event.detail or {}
        kind = "mail_bounced" if detail.get("reason") == "bounced" else "mail_failed"
        said = f"{label(NOTICE_REASONS, detail.get('reason'))}: {detail.get('response') or '—'}"
        steps.append(step(kind, event.created_at, f"{named}{said}", ok=False))
    return steps


def _attempt_step(attempt: DeliveryAttempt, named: str) -> Step:
    parts = [str(attempt.code) if attempt.code else None, attempt.server or None,
             duration_text(timedelta(milliseconds=attempt.duration_ms or 0)), (attempt.response or "")[:300] or None]
    return step(_ATTEMPTS.get(attempt.outcome, attempt.outcome), attempt.started_at,
                named + " · ".join(filter(None, parts)), ok=attempt.outcome == "sent")


def _failure_events(tenant: Tenant, message: Message, mails: list[OutgoingMail]) -> dict[int, list[TicketEvent]]:
    """The timeline's "delivery failed" entries (a refusal, no more retries, a bounce), by outbox row: they date
    the failure, which the outbox row itself does not."""
    failed = [mail for mail in mails if mail.status == OutgoingStatus.FAILED]
    if not failed:
        return {}
    tickets = {mail.ticket_id for mail in failed if mail.ticket_id} | {message.ticket_id}
    events = db.session.scalars(TicketEvent.all(tenant).where(
        TicketEvent.ticket_id.in_(tickets), TicketEvent.kind == "delivery_failed",
        TicketEvent.created_at >= min(mail.created_at for mail in failed)).order_by(TicketEvent.id))
    by_mail: dict[int, list[TicketEvent]] = {}
    for event in events:
        by_mail.setdefault((event.detail or {}).get("outgoing_id"), []).append(event)
    return by_mail


def _bounce_reports(tenant: Tenant, message: Message) -> list[Step]:
    """Delivery reports that came back about this message: they thread onto its ticket."""
    reports = db.session.scalars(Message.all(tenant).where(
        Message.ticket_id == message.ticket_id, Message.bounce_of_id == message.id).order_by(Message.id))
    return [step("bounce_received", report.created_at, _("from %(address)s", address=report.from_address or "—"),
                 ok=False, related_message_id=report.id) for report in reports]


def webhook_steps(tenant: Tenant, message: Message, until: datetime) -> list[Step]:
    """Each webhook event about ``message`` (or the ticket it opened): queued, every attempt, given up."""
    endpoints = dict(db.session.execute(select(WebhookEndpoint.id, WebhookEndpoint.url)
                                        .where(WebhookEndpoint.tenant_id == tenant.id)).all())
    if not endpoints:
        return []
    since = message.created_at - timedelta(minutes=1)
    deliveries = [delivery for delivery in db.session.scalars(WebhookDelivery.all(tenant).where(
        WebhookDelivery.endpoint_id.in_(list(endpoints)), WebhookDelivery.event.in_(WEBHOOK_EVENTS),
        WebhookDelivery.created_at.between(since, until + WEBHOOK_SLACK))
        .order_by(WebhookDelivery.created_at, WebhookDelivery.id).limit(WEBHOOK_SCAN)) if _about(delivery, message)]
    attempts: dict[int, list[WebhookAttempt]] = {}
    if deliveries:
        for attempt in db.session.scalars(WebhookAttempt.all(tenant).where(
                WebhookAttempt.delivery_id.in_([d.id for d in deliveries])).order_by(WebhookAttempt.id)):
            attempts.setdefault(attempt.delivery_id, []).append(attempt)
    steps = []
    for delivery in deliveries:
        steps += _delivery_steps(delivery, endpoints.get(delivery.endpoint_id, "—"), attempts.get(delivery.id, []))
    return steps


def _about(delivery: WebhookDelivery, message: Message) -> bool:
    try:
        data = json.loads(delivery.body)["data"]
    except (ValueError, KeyError, TypeError):
        return False
    if delivery.event == "ticket.created":
        opened = message.thread_reason in (ThreadReason.NEW, ThreadReason.LINKED)
        return opened and (data.get("ticket") or {}).get("id") == message.ticket_id
    return (data.get("message") or {}).get("id") == message.id


def _delivery_steps(delivery: WebhookDelivery, url: str, attempts: list[WebhookAttempt]) -> list[Step]:
    what = f"{delivery.event} → {url}"
    steps = [step("webhook_queued", delivery.created_at, what)]
    for attempt in attempts:
        ok = attempt.status_code is not None and 200 <= attempt.status_code < 300
        answer = f"HTTP {attempt.status_code}" if attempt.status_code else (attempt.error or "—")
        took = duration_text(timedelta(milliseconds=attempt.latency_ms or 0))
        steps.append(step("webhook_delivered" if ok else "webhook_failed", attempt.started_at,
                          f"{what} · {answer} · {took}", ok=ok))
    if delivery.status == DeliveryStatus.DEAD:
        at = attempts[-1].started_at if attempts else delivery.created_at
        steps.append(step("webhook_dead", at, what, ok=False))
    return steps
