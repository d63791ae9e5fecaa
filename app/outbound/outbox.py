"""Putting mail into the outbox: one durable row per mail, committed by the caller, then a delivery job.

Nothing is sent from a web request. ``queue_mail`` adds the row to the session; when that session commits, the
mailbox's delivery job is enqueued (``_kick_after_commit``). Should the enqueue be lost (Redis down, a crash between
commit and enqueue), the reconciler finds the row by its ``next_attempt_at``.

Automatic mail (acknowledgements, status notices: ``Auto-Submitted: auto-replied``) is held back when the recipient
already had ``OUTBOUND_AUTO_PER_RECIPIENT_HOUR`` of them in the last hour: that is where a ping-pong with another
robot stops, and the stop is in the audit log. Notifications with a ``dedupe_key`` wait ``OUTBOUND_NOTIFY_DELAY``
seconds; another change in that time rewrites the waiting mail instead of adding one.
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from rq.rate_limit import RateLimit
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from app.audit.services import record
from app.extensions import db
from app.mailboxes.models import Mailbox
from app.outbound.compose import Composed, Draft, compose
from app.outbound.models import OutgoingKind, OutgoingMail, OutgoingStatus
from tenants.models import Tenant, utcnow

DELIVER_JOB = "worker.jobs.deliver.deliver_mailbox"
_KICKS = "outbox_kicks"


def queue_mail(tenant: Tenant, draft: Draft, *, kind: OutgoingKind, mailbox: Mailbox | None,
               ticket_id: int | None = None, message_id: int | None = None, event_name: str | None = None,
               author_id: int | None = None, dedupe_key: str | None = None, delay: int = 0) -> OutgoingMail:
    """The mail as an outbox row (added to the session, not committed): queued, or suppressed with its reason."""
    composed = compose(draft)
    if dedupe_key:
        waiting = db.session.scalar(select(OutgoingMail).where(
            OutgoingMail.tenant_id == tenant.id, OutgoingMail.dedupe_key == dedupe_key,
            OutgoingMail.status == OutgoingStatus.QUEUED))
        if waiting is not None:  # a rapid change: the waiting notification says the latest, and waits again
            _fill(waiting, draft, composed)
            waiting.next_attempt_at = utcnow() + timedelta(seconds=delay)
            return waiting
    outgoing = OutgoingMail(tenant_id=tenant.id, mailbox_id=mailbox.id if mailbox else None, ticket_id=ticket_id,
                            message_id=message_id, kind=kind, event=event_name, automatic=draft.automatic,
                            mail_from=draft.sender, author_id=author_id, dedupe_key=dedupe_key, attempts=0,
                            status=OutgoingStatus.QUEUED, created_at=utcnow(),
                            next_attempt_at=utcnow() + timedelta(seconds=delay))
    _fill(outgoing, draft, composed)
    db.session.add(outgoing)
    if draft.automatic and _over_recipient_limit(tenant, outgoing.recipient_key):
        outgoing.status, outgoing.status_reason, outgoing.next_attempt_at = (
            OutgoingStatus.SUPPRESSED, "recipient_limit", None)
        record(tenant, "mail.loop_break", object_type="ticket", object_id=ticket_id, label=outgoing.recipient_key,
               changes={"event": event_name, "limit": current_app.config["OUTBOUND_AUTO_PER_RECIPIENT_HOUR"]})
        return outgoing
    _kick_after_commit(tenant, mailbox.id if mailbox else None, delay)
    return outgoing


def suppress(tenant: Tenant, draft: Draft, reason: str, **fields) -> OutgoingMail:
    """Record a mail that is not sent (opt-out, bouncing address, a DLP block), so the log says why."""
    outgoing = queue_mail(tenant, draft, **fields)
    outgoing.status, outgoing.status_reason, outgoing.next_attempt_at = OutgoingStatus.SUPPRESSED, reason, None
    return outgoing


def _fill(outgoing: OutgoingMail, draft: Draft, composed: Composed) -> None:
    outgoing.raw, outgoing.rfc_message_id = composed.raw, composed.message_id
    outgoing.recipients = draft.recipients
    outgoing.recipient_key = (draft.recipients[0] if draft.recipients else "").lower()[:254]
    outgoing.subject = draft.subject[:998]


def _over_recipient_limit(tenant: Tenant, recipient: str) -> bool:
    limit = current_app.config["OUTBOUND_AUTO_PER_RECIPIENT_HOUR"]
    if limit <= 0 or not recipient:
        return False
    sent = db.session.scalar(select(func.count()).select_from(OutgoingMail).where(
        OutgoingMail.tenant_id == tenant.id, OutgoingMail.recipient_key == recipient, OutgoingMail.automatic,
        OutgoingMail.created_at > utcnow() - timedelta(hours=1),
        OutgoingMail.status.not_in([OutgoingStatus.SUPPRESSED, OutgoingStatus.BLOCKED])))
    return sent > limit  # the row being queued is counted too (autoflush)


def _kick_after_commit(tenant: Tenant, mailbox_id: int | None, delay: int) -> None:
    kicks = db.session.info.setdefault(_KICKS, {})
    key = (tenant.region, tenant.id, mailbox_id)
    kicks[key] = min(delay, kicks.get(key, delay))


@event.listens_for(Session, "after_commit")
def _enqueue_kicks(session: Session) -> None:
    from app.outbound.inbound_notices import enqueue_pending

    enqueue_pending(session)
    kicks = session.info.pop(_KICKS, None)
    if not kicks:
        return
    for (region, tenant_id, mailbox_id), delay in kicks.items():  # no SQL here: the transaction is over
        try:
            kick(region, tenant_id, mailbox_id, delay)
        except Exception:  # Redis away: the row is durable, the reconciler enqueues it
            current_app.logger.warning("delivery job not enqueued", exc_info=True,
                                       extra={"tenant_id": tenant_id, "mailbox_id": mailbox_id})


@event.listens_for(Session, "after_rollback")
def _drop_kicks(session: Session) -> None:
    session.info.pop(_KICKS, None)
    session.info.pop("outbox_inbound_notices", None)
    session.info.pop("webhook_inbound_events", None)


def kick(region: str, tenant_id: int, mailbox_id: int | None, delay: int = 0) -> None:
    """Enqueue the delivery job of one mailbox (None: the region's relay), now or after ``delay`` seconds."""
    from tenants.queues import region_queue
    from tenants.regions import get_region
    from worker.jobs.deliver import CRASH_RETRY

    queue = region_queue(get_region(region), "deliver")
    # One connection per mailbox at a time (RQ's concurrency limit): providers cap parallel SMTP sessions.
    options = {"meta": {"tenant_id": tenant_id, "kind": "deliver"}, "retry": CRASH_RETRY,
               "rate_limit": RateLimit(f"postroom:smtp:{tenant_id}:{mailbox_id or 'relay'}", 1)}
    if delay > 0:
        queue.enqueue_in(timedelta(seconds=delay), DELIVER_JOB, tenant_id, mailbox_id, **options)
    else:
        queue.enqueue(DELIVER_JOB, tenant_id, mailbox_id, **options)
