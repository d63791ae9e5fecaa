"""Listing tickets and quarantined mail of one tenant (the inbox of a later issue builds on these)."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import Select, or_, select

from app.errors import FieldErrors
from app.inbound.models import Receipt, ReceiptStatus
from app.tickets.models import Contact, Ticket, TicketStatus
from tenants.models import Tenant


def ticket_query(tenant: Tenant, *, status: str | None = None, queue_id: int | None = None,
                 q: str | None = None) -> Select:
    """Newest activity first; ``status`` and ``queue_id`` filter, ``q`` matches reference, subject or requester."""
    query = select(Ticket).where(Ticket.tenant_id == tenant.id)
    if status:
        if status not in TicketStatus._value2member_map_:
            raise FieldErrors({"status": _("Choose one of: %(choices)s.",
                                           choices=", ".join(s.value for s in TicketStatus))})
        query = query.where(Ticket.status == status)
    if queue_id is not None:
        query = query.where(Ticket.queue_id == queue_id)
    if q and q.strip():
        like = like_pattern(q)
        requesters = select(Contact.id).where(Contact.tenant_id == tenant.id, Contact.email.ilike(like, escape="\\"))
        query = query.where(or_(Ticket.subject.ilike(like, escape="\\"), Ticket.reference.ilike(like, escape="\\"),
                                Ticket.requester_id.in_(requesters)))
    return query.order_by(Ticket.last_message_at.desc(), Ticket.id.desc())


def like_pattern(q: str) -> str:
    """``%q%`` for ``LIKE … ESCAPE '\\'``: the user's ``%`` and ``_`` match themselves."""
    escaped = q.strip()[:200].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def quarantine_query(tenant: Tenant, *, reason: str | None = None, mailbox_id: int | None = None) -> Select:
    query = select(Receipt).where(Receipt.tenant_id == tenant.id, Receipt.status == ReceiptStatus.QUARANTINED)
    if reason:
        query = query.where(Receipt.quarantine_reason == reason)
    if mailbox_id is not None:
        query = query.where(Receipt.mailbox_id == mailbox_id)
    return query.order_by(Receipt.id.desc())


def quarantined_ids(tenant: Tenant, *, ids: list[int] | None = None, reason: str | None = None) -> list[int]:
    query = quarantine_query(tenant, reason=reason).with_only_columns(Receipt.id)
    if ids is not None:
        query = query.where(Receipt.id.in_(ids))
    from app.extensions import db

    return list(db.session.scalars(query.limit(10_000)))
