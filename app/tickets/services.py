"""Tickets and contacts: numbering, requesters, status changes, and the timeline of automated decisions."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.bulk import among, insert_ignoring_conflicts
from app.extensions import db
from app.tickets.models import Contact, Message, Ticket, TicketEvent, TicketStatus
from tenants.models import Tenant, utcnow

_PREFIX_CHARS = re.compile(r"[^A-Z0-9]")


def ticket_prefix(tenant: Tenant) -> str:
    """The tenant's reference prefix: its own setting, else its slug in capitals ("acme-corp" → "ACMECORP")."""
    prefix = tenant.ticket_prefix or _PREFIX_CHARS.sub("", tenant.slug.upper())
    return (prefix or "T")[:12]


class TicketNumbers:
    """The tenant's next ticket numbers. Reading the counter with an UPDATE locks the tenant's row until commit, so
    concurrent writers of one tenant take turns (ingestion relies on that) and a number is never reused."""

    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant
        self.first = self.last = db.session.execute(
            update(Tenant).where(Tenant.id == tenant.id).values(ticket_seq=Tenant.ticket_seq)
            .returning(Tenant.ticket_seq).execution_options(synchronize_session=False)).scalar_one()

    def take(self) -> int:
        self.last += 1
        return self.last

    def save(self) -> None:
        if self.last != self.first:
            db.session.execute(update(Tenant).where(Tenant.id == self.tenant.id).values(ticket_seq=self.last)
                               .execution_options(synchronize_session=False))


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


class Contacts:
    """A batch's requesters by address: read in one query, the missing ones created together (``load``)."""

    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant
        self.by_email: dict[str, Contact] = {}

    def load(self, names: dict[str, str], *, create: set[str]) -> None:
        """``names``: address (lower case) → display name; the addresses in ``create`` become contacts if new."""
        self.by_email = self._read(list(names))
        missing = sorted(create - set(self.by_email))  # sorted: two writers creating the same ones lock in one order
        if missing:
            rows = [{"tenant_id": self.tenant.id, "email": email, "name": names.get(email, "")[:200], "vip": False,
                     "bouncing": False, "created_at": utcnow()} for email in missing]
            db.session.execute(insert_ignoring_conflicts(Contact.__table__, rows, ["tenant_id", "email"]))
            self.by_email.update(self._read(missing))  # the ones inserted, and any another writer inserted first

    def _read(self, emails: list[str]) -> dict[str, Contact]:
        if not emails:
            return {}
        return {c.email: c for c in db.session.scalars(select(Contact).where(
            Contact.tenant_id == self.tenant.id, among(Contact.email, emails)))}

    def known(self, email: str) -> Contact | None:
        return self.by_email.get(email)

    def get(self, email: str, name: str = "") -> Contact | None:
        """The contact for ``email``, created if need be; its name filled in when it had none."""
        contact = self.by_email.get(email)
        if contact is None:
            contact = contact_for(self.tenant, email, name)
            if contact is not None:
                self.by_email[email] = contact
        elif name and not contact.name:
            contact.name = name[:200]
        return contact


def open_ticket(tenant: Tenant, numbers: TicketNumbers, *, subject: str, normalized_subject: str,
                requester: Contact | None, mailbox_id: int | None, linked_ticket_id: int | None = None,
                **fields) -> Ticket:
    """A new ticket (added, not flushed) with the tenant's next number; ``fields``: more columns (queue, priority…)."""
    number, now = numbers.take(), utcnow()
    ticket = Ticket(tenant_id=tenant.id, number=number, reference=f"{ticket_prefix(tenant)}-{number}",
                    subject=subject[:998], normalized_subject=normalized_subject[:255], requester=requester,
                    mailbox_id=mailbox_id, linked_ticket_id=linked_ticket_id, status=TicketStatus.OPEN,
                    created_at=now, updated_at=now, last_message_at=now, **fields)
    db.session.add(ticket)
    return ticket


def log_event(ticket: Ticket, kind: str, detail: dict | None = None, *, message: Message | None = None,
              actor_id: int | None = None) -> TicketEvent:
    """One entry of the ticket's timeline; every automated decision is written here."""
    event = TicketEvent(tenant_id=ticket.tenant_id, ticket=ticket, kind=kind, detail=detail or {}, message=message,
                        actor_id=actor_id)
    db.session.add(event)
    return event


def touch(ticket: Ticket, at: datetime | None = None) -> None:
    at = at or utcnow()
    ticket.updated_at = at
    ticket.last_message_at = at
    ticket.version = (ticket.version or 1) + 1


def reopen(ticket: Ticket, message, why: str, *, log=log_event) -> None:
    """Open ``ticket`` again; ``log``: where the timeline entry goes (ingestion writes its batch's at once)."""
    previous = ticket.status
    ticket.status = TicketStatus.OPEN
    ticket.closed_at = None
    log(ticket, "reopened", {"from": previous.value, "why": why}, message=message)
