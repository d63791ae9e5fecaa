"""One summary of whether a tenant's mail flows, read with a handful of grouped queries (not one per mailbox), so it
stays cheap for a tenant with hundreds of mailboxes."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import case, func, select

from app.extensions import db
from app.health.mailbox_stats import mailbox_stats
from app.inbound.models import Receipt, ReceiptStatus
from app.outbound.models import OutgoingMail, OutgoingStatus
from app.queues.models import Queue
from app.tickets.models import Ticket, TicketStatus
from app.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from tenants.models import Tenant, utcnow


def tenant_health(tenant: Tenant) -> dict:
    return {"mailboxes": mailbox_rows(tenant), "queues": queue_rows(tenant),
            "quarantine": {"held": quarantine_count(tenant)},
            "outbox": outbox_counts(tenant), "webhooks": webhook_counts(tenant)}


def mailbox_rows(tenant: Tenant) -> list[dict]:
    """Each mailbox with its status, last successful sync and its last 24 hours of connections: the health page's
    figures (hourly roll-ups), so the API never reads the communication log itself either."""
    rows = []
    for item in mailbox_stats(tenant):
        mailbox, day = item.mailbox, item.windows["24h"]
        rows.append({"id": mailbox.id, "name": mailbox.name, "address": mailbox.address,
                     "status": mailbox.status.value, "last_sync_at": mailbox.last_synced_at,
                     "attempts_24h": day.attempts, "success_rate_24h": day.success_rate,
                     "failure_streak": mailbox.failure_streak, "failure_category": mailbox.last_failure_category})
    return rows


def queue_rows(tenant: Tenant) -> list[dict]:
    """Open and pending tickets per queue, and since when the longest-waiting open ticket has waited; tickets in
    no queue are the row with ``id`` null."""
    counts = {row.queue_id: row for row in db.session.execute(
        select(Ticket.queue_id,
               func.sum(case((Ticket.status == TicketStatus.OPEN, 1), else_=0)).label("open"),
               func.sum(case((Ticket.status == TicketStatus.PENDING, 1), else_=0)).label("pending"),
               func.min(case((Ticket.status == TicketStatus.OPEN, Ticket.updated_at))).label("oldest"))
        .where(Ticket.tenant_id == tenant.id, Ticket.status.in_([TicketStatus.OPEN, TicketStatus.PENDING]))
        .group_by(Ticket.queue_id))}
    queues = [(queue.id, queue.name) for queue in db.session.scalars(Queue.all(tenant).order_by(Queue.name))]
    if None in counts:
        queues.append((None, None))
    return [{"id": queue_id, "name": name, "open": int(counts[queue_id].open) if queue_id in counts else 0,
             "pending": int(counts[queue_id].pending) if queue_id in counts else 0,
             "oldest_waiting_since": counts[queue_id].oldest if queue_id in counts else None}
            for queue_id, name in queues]


def quarantine_count(tenant: Tenant) -> int:
    return _count(Receipt, tenant, Receipt.status == ReceiptStatus.QUARANTINED)


def outbox_counts(tenant: Tenant) -> dict:
    """Mail waiting for its first try, mail being retried, and mail that failed in the last 24 hours."""
    since = utcnow() - timedelta(hours=24)
    waiting = OutgoingMail.status.in_([OutgoingStatus.QUEUED, OutgoingStatus.SENDING])
    return {"pending": _count(OutgoingMail, tenant, waiting, OutgoingMail.attempts == 0),
            "retrying": _count(OutgoingMail, tenant, waiting, OutgoingMail.attempts > 0),
            "failed_24h": _count(OutgoingMail, tenant, OutgoingMail.status == OutgoingStatus.FAILED,
                                 OutgoingMail.created_at >= since)}


def webhook_counts(tenant: Tenant) -> dict:
    since = utcnow() - timedelta(hours=24)
    return {"pending": _count(WebhookDelivery, tenant, WebhookDelivery.status == DeliveryStatus.PENDING),
            "dead_24h": _count(WebhookDelivery, tenant, WebhookDelivery.status == DeliveryStatus.DEAD,
                               WebhookDelivery.created_at >= since),
            "disabled_endpoints": _count(WebhookEndpoint, tenant, WebhookEndpoint.active.is_(False),
                                         WebhookEndpoint.disabled_reason.is_not(None))}


def _count(model, tenant: Tenant, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(model.tenant_id == tenant.id, *where)) or 0
