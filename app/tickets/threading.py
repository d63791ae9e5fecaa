"""Which ticket an inbound mail belongs to, and why.

Order (strongest evidence first): In-Reply-To, then References (newest first) against every Message-ID Postroom
stored or sent; a ticket token in the subject (``[#ACME-1042]``); Outlook's Thread-Index conversation; finally the
same normalized subject from the same requester within the tenant's window. The last one trusts the sender's
address, so mail that failed DMARC never threads by subject.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from app.extensions import db
from app.mail.parse import Parsed
from app.mail.threading_keys import find_ticket_references, normalize_subject, thread_index_root
from app.tickets.models import Contact, Message, ThreadReason, Ticket, TicketStatus
from tenants.models import Tenant, utcnow

MAX_REFERENCES = 50  # a References header can be long; the newest ones are the useful ones


@dataclass
class ThreadMatch:
    ticket: Ticket | None
    reason: ThreadReason
    evidence: str = ""  # the Message-ID, token or subject that matched (shown in the timeline)


def _tickets_by_message_id(tenant: Tenant, message_ids: list[str]) -> dict[str, int]:
    """Message-ID → ticket id of the newest message carrying it, for all candidates in one query."""
    rows = db.session.execute(
        select(Message.message_id, Message.ticket_id)
        .where(Message.tenant_id == tenant.id, Message.message_id.in_(message_ids))
        .order_by(Message.id)).all()
    return {message_id: ticket_id for message_id, ticket_id in rows}  # later (newer) rows win


def _by_headers(tenant: Tenant, parsed: Parsed) -> ThreadMatch | None:
    candidates = [(ThreadReason.IN_REPLY_TO, parsed.in_reply_to)] if parsed.in_reply_to else []
    candidates += [(ThreadReason.REFERENCES, ref) for ref in reversed(parsed.references[-MAX_REFERENCES:])]
    if not candidates:
        return None
    found = _tickets_by_message_id(tenant, list({ref[:255] for _reason, ref in candidates}))
    for reason, reference in candidates:
        ticket_id = found.get(reference[:255])
        if ticket_id is not None:
            return ThreadMatch(db.session.get(Ticket, ticket_id), reason, reference)
    return None


def _by_token(tenant: Tenant, parsed: Parsed) -> ThreadMatch | None:
    for reference in find_ticket_references(parsed.subject):
        ticket = db.session.scalar(select(Ticket).where(Ticket.tenant_id == tenant.id,
                                                        Ticket.reference == reference.upper()))
        if ticket is not None:
            return ThreadMatch(ticket, ThreadReason.SUBJECT_TOKEN, reference)
    return None


def _by_thread_index(tenant: Tenant, root: str | None) -> ThreadMatch | None:
    if not root:
        return None
    ticket = db.session.scalar(
        select(Ticket).join(Message, Message.ticket_id == Ticket.id)
        .where(Message.tenant_id == tenant.id, Message.thread_index_root == root)
        .order_by(Message.id.desc()).limit(1))
    return ThreadMatch(ticket, ThreadReason.THREAD_INDEX, root) if ticket is not None else None


def _by_subject(tenant: Tenant, requester: Contact | None, normalized: str) -> ThreadMatch | None:
    if requester is None or len(normalized) < 3:  # "hi", "" or "re:" alone say nothing about a thread
        return None
    since = utcnow() - timedelta(hours=tenant.subject_window_hours)
    ticket = db.session.scalar(
        select(Ticket).where(Ticket.tenant_id == tenant.id, Ticket.requester_id == requester.id,
                             Ticket.normalized_subject == normalized, Ticket.last_message_at >= since,
                             Ticket.status != TicketStatus.CLOSED)
        .order_by(Ticket.last_message_at.desc()).limit(1))
    return ThreadMatch(ticket, ThreadReason.SUBJECT, normalized) if ticket is not None else None


def find_thread(tenant: Tenant, parsed: Parsed, requester: Contact | None, *, trust_sender: bool) -> ThreadMatch:
    """The ticket ``parsed`` continues (``ticket=None``: a new one), with the reason."""
    root = thread_index_root(_first(parsed.loop_headers.get("Thread-Index")))
    match = _by_headers(tenant, parsed) or _by_token(tenant, parsed) or _by_thread_index(tenant, root)
    if match is None and trust_sender:
        match = _by_subject(tenant, requester, normalize_subject(parsed.subject))
    return match or ThreadMatch(None, ThreadReason.NEW)


def _first(values: list[str] | None) -> str | None:
    return values[0] if values else None
