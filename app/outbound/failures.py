"""What happens after a failed attempt: failed mail leaves an internal note on its ticket,
a notice to its author and an audit entry; a bounce that comes back later does the same."""

from __future__ import annotations

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select, update

from app import metrics
from app.audit.services import record
from app.auth.models import User
from app.extensions import db
from app.inbox.labels import NOTICE_REASONS, label
from app.mail.dsn import Bounce
from app.outbound.models import OutgoingKind, OutgoingMail, OutgoingStatus
from app.tickets.models import Contact, Direction, Message, Ticket
from app.tickets.services import log_event
from tenants.models import Tenant, utcnow


def mark_failed(tenant: Tenant, outgoing: OutgoingMail, reason: str, response: str) -> None:
    outgoing.status, outgoing.status_reason, outgoing.next_attempt_at = OutgoingStatus.FAILED, reason, None
    outgoing.last_error = response
    _message_status(outgoing, "failed")
    _tell(tenant, outgoing, reason, response)
    _event(tenant, outgoing, "message.failed", reason=reason, response=response[:1000])
    metrics.count_outbound(tenant.region, "failed")


def record_bounce(tenant: Tenant, bounce: Bounce) -> OutgoingMail | None:
    """An inbound bounce of one of our mails: the mail is marked bounced (with the remote server's words), and, for
    a permanent failure, its recipients' addresses as bouncing (nothing automatic goes to them again)."""
    if not bounce.original_message_id:
        return None
    outgoing = db.session.scalar(select(OutgoingMail).where(
        OutgoingMail.tenant_id == tenant.id, OutgoingMail.rfc_message_id == bounce.original_message_id.strip("<>")))
    if outgoing is None:
        return None
    words = "; ".join(filter(None, (f"{r.address}: {r.diagnostic or r.status or r.action}"
                                    for r in bounce.recipients[:10]))) or bounce.kind
    outgoing.bounce_reason = words[:4000]
    if bounce.kind == "permanent":
        outgoing.status, outgoing.status_reason = OutgoingStatus.FAILED, "bounced"
        _message_status(outgoing, "bounced")
        failed = {r.address.lower() for r in bounce.recipients if r.action == "failed" and r.address}
        if failed:
            db.session.execute(update(Contact).where(Contact.tenant_id == tenant.id, Contact.email.in_(failed))
                               .values(bouncing=True, bounce_reason=words[:4000])
                               .execution_options(synchronize_session="fetch"))
        _tell(tenant, outgoing, "bounced", words)
        _event(tenant, outgoing, "message.bounced", reason=words[:1000])
        metrics.count_outbound(tenant.region, "bounced")
    return outgoing


def _event(tenant: Tenant, outgoing: OutgoingMail, name: str, **extra) -> None:
    """A reply's fate, for webhooks (notifications are the desk's own business)."""
    from app.webhooks.payloads import message_event
    from app.webhooks.services import emit

    if outgoing.kind == OutgoingKind.REPLY and outgoing.message_id:
        emit(tenant, name, lambda: message_event(outgoing.message_id, **extra))


def _message_status(outgoing: OutgoingMail, status: str) -> None:
    """A reply's message on the thread shows how its delivery went (a notification's message is the inbound one
    it answers: that keeps its own status)."""
    if outgoing.message_id and outgoing.kind == OutgoingKind.REPLY:
        db.session.execute(update(Message).where(Message.id == outgoing.message_id)
                           .values(delivery_status=status).execution_options(synchronize_session="fetch"))


def _tell(tenant: Tenant, outgoing: OutgoingMail, reason: str, response: str) -> None:
    """A failed mail of a ticket: an internal note there (in the tenant's language), an entry on the timeline and
    in the audit log, and, for an agent's reply, a notice to that agent. A failed notice tells nobody (no loops)."""
    record(tenant, "mail.failed", object_type="outgoing_mail", object_id=outgoing.id, label=outgoing.recipient_key,
           changes={"reason": reason, "response": response[:500], "ticket_id": outgoing.ticket_id})
    ticket = db.session.get(Ticket, outgoing.ticket_id) if outgoing.ticket_id else None
    if ticket is None:
        return
    with force_locale(tenant.default_locale or "en"):
        note = _("Mail to %(recipients)s could not be delivered (%(reason)s): %(response)s",
                 recipients=", ".join(outgoing.recipients), reason=label(NOTICE_REASONS, reason),
                 response=response[:1000])
    now = utcnow()
    db.session.add(Message(tenant_id=tenant.id, ticket_id=ticket.id, direction=Direction.NOTE, text=note,
                           from_address="", from_name="Postroom", subject=ticket.subject, created_at=now,
                           sent_at=now, automatic=True))
    ticket.version = (ticket.version or 1) + 1
    ticket.updated_at = now
    log_event(ticket, "delivery_failed", {"reason": reason, "response": response[:500],
                                          "outgoing_id": outgoing.id}, actor_id=None)
    if outgoing.kind == OutgoingKind.REPLY and outgoing.author_id:
        author = db.session.get(User, outgoing.author_id)
        if author is not None:
            from app.outbound.notifications import delivery_failed_notice

            delivery_failed_notice(tenant, ticket, outgoing, author, response)

