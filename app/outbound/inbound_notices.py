"""The mail an ingest batch owes its senders: acknowledgements of new tickets and notices of withheld attachments.

Ingestion only decides (``Message.acknowledge``, the attachments' ``withheld_reason``) and, once its batch has
committed, enqueues one job with the ids of the mail that needs a notice: rendering and composing stay out of the
ingest transaction, which keeps its handful of statements. The job is idempotent (one acknowledgement per message,
by the outbox's unique (message, event)); the reconciler finds acknowledgements whose job was lost.
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.inbound.batch import Batch
from app.inbox.labels import WITHHELD, label
from app.outbound import notifications
from app.outbound.models import OutgoingMail
from app.tickets.models import Message, MessageAttachment
from tenants.models import Tenant, utcnow

NOTICES_JOB = "worker.jobs.deliver.inbound_notices"
EVENTS_JOB = "worker.jobs.webhooks.inbound_events"
_PENDING = "outbox_inbound_notices"
_EVENTS = "webhook_inbound_events"


def queue_for_batch(batch: Batch) -> None:
    """After the batch commits: a job for the messages that need a notice (none: nothing is enqueued)."""
    ids = [new.id for new in batch.messages if new.row.get("acknowledge") or (
        not new.automatic and any(a.get("withheld_reason") for a in new.attachments))]
    if ids:
        pending = db.session.info.setdefault(_PENDING, [])
        pending.append((batch.tenant.region, batch.tenant.id, ids))
    from app.webhooks.services import listening

    if batch.messages and listening(batch.tenant):  # one look-up per batch
        events = db.session.info.setdefault(_EVENTS, [])
        events.append((batch.tenant.region, batch.tenant.id, [new.id for new in batch.messages]))


def enqueue_pending(session) -> None:
    """Called after a commit (``app.outbound.outbox``): no SQL here, the transaction is over."""
    from tenants.queues import region_queue
    from tenants.regions import get_region

    for region, tenant_id, ids in session.info.pop(_PENDING, []):
        try:
            region_queue(get_region(region), "deliver").enqueue(
                NOTICES_JOB, ids, meta={"tenant_id": tenant_id, "kind": "notices"})
        except Exception:  # Redis away: the reconciler finds the acknowledgements that are still owed
            current_app.logger.warning("notice job not enqueued", exc_info=True, extra={"tenant_id": tenant_id})
    for region, tenant_id, ids in session.info.pop(_EVENTS, []):
        try:
            region_queue(get_region(region), "webhooks").enqueue(
                EVENTS_JOB, ids, meta={"tenant_id": tenant_id, "kind": "webhook_events"})
        except Exception:
            current_app.logger.warning("webhook events not enqueued", exc_info=True, extra={"tenant_id": tenant_id})


def inbound_events(message_ids: list[int]) -> int:
    """``message.received`` for each new mail and ``ticket.created`` for each mail that opened a ticket."""
    from app.tickets.models import ThreadReason
    from app.webhooks.payloads import message_data, ticket_data
    from app.webhooks.services import emit

    emitted = 0
    for message in db.session.scalars(select(Message).where(Message.id.in_(message_ids)).order_by(Message.id)):
        tenant = db.session.get(Tenant, message.tenant_id)
        if message.thread_reason in (ThreadReason.NEW, ThreadReason.LINKED):
            emitted += len(emit(tenant, "ticket.created", lambda m=message: {"ticket": ticket_data(m.ticket)}))
        emitted += len(emit(tenant, "message.received", lambda m=message: {
            "message": message_data(m), "ticket": ticket_data(m.ticket)}))
    db.session.commit()
    return emitted


def send_notices(message_ids: list[int]) -> int:
    """Queue the acknowledgements and withheld-attachment notices of ``message_ids``; how many mails."""
    queued = 0
    for message in db.session.scalars(select(Message).where(Message.id.in_(message_ids)).order_by(Message.id)):
        tenant = db.session.get(Tenant, message.tenant_id)
        if message.acknowledge and not _already(message, "acknowledgement"):
            queued += notifications.acknowledgement(tenant, message) is not None
        withheld = list(db.session.scalars(select(MessageAttachment).where(
            MessageAttachment.message_id == message.id, MessageAttachment.withheld_reason.is_not(None))))
        if withheld and not message.automatic and not _already(message, "attachment_withheld"):
            names = [f"{a.filename} ({label(WITHHELD, a.withheld_reason)})" for a in withheld]
            queued += notifications.attachment_withheld(tenant, message, names) is not None
        db.session.commit()
    return queued


def owed_acknowledgements(region: str, *, grace: int = 120) -> list[tuple[int, int]]:
    """(tenant id, message id) of acknowledgements due for a day but never queued (their job was lost)."""
    now = utcnow()
    return list(db.session.execute(
        select(Message.tenant_id, Message.id).join(Tenant, Tenant.id == Message.tenant_id)
        .where(Tenant.region == region, Message.acknowledge, Message.created_at > now - timedelta(days=1),
               Message.created_at < now - timedelta(seconds=grace),
               ~select(OutgoingMail.id).where(OutgoingMail.message_id == Message.id,
                                              OutgoingMail.event == "acknowledgement").exists())
        .order_by(Message.id).limit(1000)).all())


def _already(message: Message, event: str) -> bool:
    return db.session.scalar(select(OutgoingMail.id).where(
        OutgoingMail.message_id == message.id, OutgoingMail.event == event).limit(1)) is not None
