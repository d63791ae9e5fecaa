"""Tickets and contacts: numbering, requesters, status changes, and the timeline of automated decisions."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.tickets.models import Contact, Message, Ticket, TicketEvent, TicketStatus
from tenants.models import Tenant, utcnow

_PREFIX_CHARS = re.compile(r"[^A-Z0-9]")


def ticket_prefix(tenant: Tenant) -> str:
    """The tenant's reference prefix: its own setting, else its slug in capitals ("acme-corp" → "ACMECORP")."""
    prefix = tenant.ticket_prefix or _PREFIX_CHARS.sub("", tenant.slug.upper())
    return (prefix or "T")[:12]


def next_ticket_number(tenant: Tenant) -> int:
    """A per-tenant sequence: the row lock of this UPDATE orders concurrent workers, and it is never reused."""
    return db.session.execute(
        update(Tenant).where(Tenant.id == tenant.id).values(ticket_seq=Tenant.ticket_seq + 1)
        .returning(Tenant.ticket_seq).execution_options(synchronize_session=False)).scalar_one()


def contact_for(tenant: Tenant, email: str, name: str = "") -> Contact | None:
    """The requester with this address, created on first contact (race-safe: the address is unique per tenant)."""
    email = email.strip().lower()[:254]  # looked up as it is stored
    if not email:
        return None
    query = select(Contact).where(Contact.tenant_id == tenant.id, Contact.email == email)
    contact = db.session.scalar(query)
    if contact is not None:
        if name and not contact.name:
            contact.name = name[:200]
        return contact
    contact = Contact(tenant_id=tenant.id, email=email[:254], name=name[:200])
    try:
        with db.session.begin_nested():
            db.session.add(contact)
    except IntegrityError:  # another worker created it a moment ago
        return db.session.scalar(query)
    return contact


def open_ticket(tenant: Tenant, *, subject: str, normalized_subject: str, requester: Contact | None,
                mailbox_id: int | None, linked_ticket_id: int | None = None, **fields) -> Ticket:
    """A new ticket with the tenant's next number; ``fields``: more columns set at creation (queue, priority…)."""
    number = next_ticket_number(tenant)
    ticket = Ticket(tenant_id=tenant.id, number=number, reference=f"{ticket_prefix(tenant)}-{number}",
                    subject=subject[:998], normalized_subject=normalized_subject[:255],
                    requester_id=requester.id if requester else None, mailbox_id=mailbox_id,
                    linked_ticket_id=linked_ticket_id, **fields)
    db.session.add(ticket)
    db.session.flush()
    return ticket


def log_event(ticket: Ticket, kind: str, detail: dict | None = None, *, message: Message | None = None,
              actor_id: int | None = None) -> TicketEvent:
    """One entry of the ticket's timeline; every automated decision is written here."""
    event = TicketEvent(tenant_id=ticket.tenant_id, ticket_id=ticket.id, kind=kind, detail=detail or {},
                        message_id=message.id if message is not None else None, actor_id=actor_id)
    db.session.add(event)
    return event


def touch(ticket: Ticket, at: datetime | None = None) -> None:
    at = at or utcnow()
    ticket.updated_at = at
    ticket.last_message_at = at


def reopen(ticket: Ticket, message: Message, why: str) -> None:
    previous = ticket.status
    ticket.status = TicketStatus.OPEN
    ticket.closed_at = None
    log_event(ticket, "reopened", {"from": previous.value, "why": why}, message=message)
