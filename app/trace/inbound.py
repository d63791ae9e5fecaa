"""Steps of mail coming in: the sync that fetched it, its receipts, the parse, and the ticket timeline's decisions."""

from __future__ import annotations

from datetime import timedelta

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import and_, or_, select

from app.audit.models import AuditEvent
from app.connections.models import ConnectionKind, ConnectionLog
from app.extensions import db
from app.inbound.models import Receipt, ReceiptStatus
from app.inbox.labels import AUTOMATIC, label
from app.inbox.services import queue_names
from app.inbox.timeline import Context, sentence
from app.mailboxes.models import Mailbox
from app.quarantine.reasons import describe
from app.tickets.models import Direction, Message, ThreadReason, Ticket, TicketEvent
from app.trace.steps import ACKNOWLEDGEMENT, THREADED, Step, duration_text, step
from tenants.models import Tenant

# Duplicates (the same Message-ID from another mailbox) have bytes of their own: they are looked for among the
# receipts of this window, by (tenant, received_at); the original is found by its hash whenever it came.
DUPLICATE_WINDOW = (timedelta(days=1), timedelta(days=7))
SYNC_LOGS_LOOKED_AT = 5
# Same moment as the message: the reply or note itself (the "written" step says so).
_SAME_AS_WRITTEN = {"reply_queued", "note_added"}
_WARNINGS = {"rule_error", "sender_flagged", "attachment_withheld"}


def mailbox_addresses(tenant: Tenant) -> dict[int, str]:
    return dict(db.session.execute(select(Mailbox.id, Mailbox.address).where(Mailbox.tenant_id == tenant.id)).all())


def receipts_of(tenant: Tenant, message: Message) -> list[Receipt]:
    """The receipts that became ``message`` or were found to duplicate it, oldest first."""
    if not message.raw_sha256:
        return []
    same_bytes = and_(Receipt.mailbox_id.in_(select(Mailbox.id).where(Mailbox.tenant_id == tenant.id)),
                      Receipt.sha256 == message.raw_sha256)
    before, after = DUPLICATE_WINDOW
    nearby = Receipt.received_at.between(message.created_at - before, message.created_at + after)
    return list(db.session.scalars(Receipt.all(tenant).where(Receipt.message_id == message.id,
                                                             or_(same_bytes, nearby)).order_by(Receipt.id)))


def receipt_steps(tenant: Tenant, receipt: Receipt, mailboxes: dict[int, str]) -> list[Step]:
    """Fetched, stored, and what ingestion decided: a duplicate, held, or done (``ingested``)."""
    where = mailboxes.get(receipt.mailbox_id, "—")
    steps = [step("released", event.created_at, _("by %(actor)s", actor=event.actor))
             for event in _releases(tenant, receipt)]
    # Released mail was fetched long before: the replay gave the receipt new times, so no sync matches them.
    fetched = None if receipt.accepted else _sync_step(tenant, receipt, where)
    steps += [fetched] if fetched else []
    steps.append(step("stored", receipt.received_at, _(
        "%(mailbox)s, folder %(folder)s, UID %(uid)s · %(size)s bytes · SHA-256 %(sha256)s", mailbox=where,
        folder=receipt.folder, uid=receipt.uidl or receipt.uid, size=receipt.size, sha256=receipt.sha256)))
    if receipt.processed_at is None:
        return steps
    attempts = ngettext("after %(num)d attempt", "after %(num)d attempts", receipt.attempts or 1)
    if receipt.status == ReceiptStatus.QUARANTINED:
        reason = " · ".join(filter(None, (describe(receipt.quarantine_reason), receipt.quarantine_detail)))
        steps.append(step("quarantined", receipt.processed_at, f"{reason} ({attempts})", ok=False))
    elif receipt.status == ReceiptStatus.DUPLICATE:
        steps.append(step("duplicate", receipt.processed_at, _("Already a message: it was not added again.")))
    else:
        steps.append(step("ingested", receipt.processed_at, attempts))
    return steps


def _sync_step(tenant: Tenant, receipt: Receipt, where: str) -> Step | None:
    """The sync session that stored ``receipt``, from the communication log.

    A sync is logged when it ends (``started_at`` is written then), with its duration: the session that stored the
    receipt is the first one logged after it that had begun before it.
    """
    logs = db.session.scalars(ConnectionLog.all(tenant).where(
        ConnectionLog.mailbox_id == receipt.mailbox_id, ConnectionLog.kind == ConnectionKind.SYNC,
        ConnectionLog.started_at >= receipt.received_at).order_by(ConnectionLog.started_at)
        .limit(SYNC_LOGS_LOOKED_AT))
    for log in logs:
        began = log.started_at - timedelta(milliseconds=log.duration_ms or 0)
        if began <= receipt.received_at:
            detail = _("Sync of %(mailbox)s, %(duration)s in all", mailbox=where,
                       duration=duration_text(timedelta(milliseconds=log.duration_ms or 0)))
            if log.job_id:
                detail += " · " + _("job %(id)s", id=log.job_id)
            if not log.ok:  # the receipt was stored before the session failed: kept, and counted as received
                detail += " · " + _("the session then failed: %(category)s", category=log.category or "—")
            return step("received", began, detail)
    return None


def _releases(tenant: Tenant, receipt: Receipt) -> list[AuditEvent]:
    """An admin's "accept and ingest" of held mail; a replay starts the receipt over (its times are the replay's)."""
    if not receipt.accepted:
        return []
    return list(db.session.scalars(AuditEvent.all(tenant).where(
        AuditEvent.action == "quarantine.accepted", AuditEvent.object_type == "receipt",
        AuditEvent.object_id == receipt.id).order_by(AuditEvent.id)))


def message_step(message: Message) -> Step:
    """Parsed (inbound mail), or written (a reply or note by an agent)."""
    if message.direction != Direction.INBOUND:
        return step("written", message.created_at, _("by %(actor)s", actor=message.from_name or message.from_address))
    parts = [_("from %(address)s", address=message.from_address or "—")]
    if message.attachments:
        parts.append(ngettext("%(num)d attachment", "%(num)d attachments", len(message.attachments)))
    if message.authenticity:
        parts.append(", ".join(f"{k}={v}" for k, v in sorted(message.authenticity.items())))
    if message.automatic_reason:
        parts.append(_("automatic: %(reason)s", reason=label(AUTOMATIC, message.automatic_reason)))
    if message.defects:
        parts.append(ngettext("%(num)d defect", "%(num)d defects", len(message.defects)))
    return step("parsed", message.created_at, " · ".join(parts), ok=not message.sender_flagged)


def event_steps(tenant: Tenant, message: Message) -> list[Step]:
    """The ticket timeline's entries about ``message``: threading, routing, rules, the acknowledgement decision."""
    ticket = message.ticket
    linked = db.session.scalar(select(Ticket.reference).where(Ticket.tenant_id == tenant.id,
                                                              Ticket.id == ticket.linked_ticket_id)) \
        if ticket.linked_ticket_id else None
    context = Context(queue_names(tenant), linked)
    events = db.session.scalars(TicketEvent.all(tenant).where(
        TicketEvent.ticket_id == message.ticket_id, TicketEvent.message_id == message.id).order_by(TicketEvent.id))
    return [_event_step(event, context, ticket) for event in events if event.kind not in _SAME_AS_WRITTEN]


def _event_step(event: TicketEvent, context: Context, ticket: Ticket) -> Step:
    said = sentence(event, context)
    detail = event.detail or {}
    if event.kind == "threaded":
        opened = detail.get("reason") in (ThreadReason.NEW.value, ThreadReason.LINKED.value)
        return step("threaded", event.created_at, f"{ticket.reference} · {said}", label=THREADED[opened])
    if event.kind == "acknowledgement":
        return step("acknowledgement", event.created_at, said, label=ACKNOWLEDGEMENT[bool(detail.get("due"))])
    return step(event.kind, event.created_at, said, ok=event.kind not in _WARNINGS)
