"""Which ticket an inbound mail belongs to, and why.

Order (strongest evidence first): In-Reply-To, then References (newest first) against every Message-ID Postroom
stored or sent; a ticket token in the subject (``[#ACME-1042]``); Outlook's Thread-Index conversation; finally the
same normalized subject from the same requester within the tenant's window. The last one trusts the sender's
address, so mail that failed DMARC never threads by subject.

Ingestion threads a whole batch of mail at once: ``ThreadLookups.prefetch`` reads everything the batch could match
in a few queries, and every message the batch adds is registered, so a reply finds an original that arrived in the
same batch. The answers are the ones a query per message would give: the newest match wins.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select

from app.bulk import among
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


def header_candidates(parsed: Parsed) -> list[tuple[ThreadReason, str]]:
    """In-Reply-To first, then References newest first: the order in which they decide."""
    candidates = [(ThreadReason.IN_REPLY_TO, parsed.in_reply_to)] if parsed.in_reply_to else []
    candidates += [(ThreadReason.REFERENCES, ref) for ref in reversed(parsed.references[-MAX_REFERENCES:])]
    return [(reason, reference[:255]) for reason, reference in candidates]


def thread_root(parsed: Parsed) -> str | None:
    values = parsed.loop_headers.get("Thread-Index")
    return thread_index_root(values[0] if values else None)


@dataclass
class ThreadLookups:
    """What a batch of mail can thread onto: known Message-IDs, ticket references, Thread-Index roots and subjects."""

    tenant: Tenant
    since: datetime  # the subject window's start
    by_message_id: dict[str, tuple[object, Ticket]] = field(default_factory=dict)  # → (message or its id, ticket)
    by_reference: dict[str, Ticket] = field(default_factory=dict)
    by_root: dict[str, Ticket] = field(default_factory=dict)
    by_subject: dict[str, list[tuple[str, Ticket]]] = field(default_factory=lambda: defaultdict(list))

    @classmethod
    def prefetch(cls, tenant: Tenant, batch: Iterable[Parsed], extra_message_ids: Iterable[str] = ()) -> ThreadLookups:
        """Everything ``batch`` could match, in one query per kind of evidence (plus one for the tickets)."""
        batch = list(batch)
        lookups = cls(tenant, utcnow() - timedelta(hours=tenant.subject_window_hours))
        message_ids = {ref for parsed in batch for _reason, ref in header_candidates(parsed)} | set(extra_message_ids)
        references = {ref.upper() for parsed in batch for ref in find_ticket_references(parsed.subject)}
        roots = {root for parsed in batch if (root := thread_root(parsed))}
        subjects = {key for parsed in batch if len(key := normalize_subject(parsed.subject)) >= 3}
        senders = {parsed.from_[1].lower()[:254] for parsed in batch if parsed.from_[1]}
        found_messages = _rows(select(Message.message_id, Message.id, Message.ticket_id).where(
            Message.tenant_id == tenant.id, among(Message.message_id, message_ids)).order_by(Message.id), message_ids)
        found_roots = _rows(select(Message.thread_index_root, Message.ticket_id).where(
            Message.tenant_id == tenant.id, among(Message.thread_index_root, roots)).order_by(Message.id), roots)
        ticket_ids = {ticket_id for _mid, _id, ticket_id in found_messages} | {t for _root, t in found_roots}
        tickets = {t.id: t for t in db.session.scalars(select(Ticket).where(
            Ticket.tenant_id == tenant.id, among(Ticket.id, ticket_ids) | among(Ticket.reference, references)))} \
            if ticket_ids or references else {}
        for message_id, row_id, ticket_id in found_messages:  # ordered by id: the newest wins
            lookups.by_message_id[message_id] = (row_id, tickets[ticket_id])
        for root, ticket_id in found_roots:
            lookups.by_root[root] = tickets[ticket_id]
        lookups.by_reference = {t.reference: t for t in tickets.values() if t.reference in references}
        if subjects and senders:
            newest = _newest_by_subject(tenant, subjects, senders, lookups.since)
            known = {t.id: t for t in db.session.scalars(select(Ticket).where(
                Ticket.tenant_id == tenant.id, among(Ticket.id, [i for i in newest.values() if i not in tickets])))}
            for (email, subject), ticket_id in newest.items():
                lookups.by_subject[subject].append((email, tickets.get(ticket_id) or known[ticket_id]))
        return lookups

    def register(self, message, ticket: Ticket, requester_email: str | None, new_ticket: bool) -> None:
        """``message`` (not yet flushed) joined ``ticket``: later mail of the batch may thread onto it."""
        if message.message_id:
            self.by_message_id[message.message_id] = (message, ticket)
        if message.thread_index_root:
            self.by_root[message.thread_index_root] = ticket
        if new_ticket:
            self.by_reference[ticket.reference] = ticket
            if requester_email and len(ticket.normalized_subject) >= 3:
                self.by_subject[ticket.normalized_subject].append((requester_email, ticket))

    def find(self, parsed: Parsed, requester_email: str | None, *, trust_sender: bool) -> ThreadMatch:
        """The ticket ``parsed`` continues (``ticket=None``: a new one), with the reason."""
        match = self._by_headers(parsed) or self._by_token(parsed) or self._by_root(thread_root(parsed))
        if match is None and trust_sender:
            match = self._by_subject(requester_email, normalize_subject(parsed.subject))
        return match or ThreadMatch(None, ThreadReason.NEW)

    def _by_headers(self, parsed: Parsed) -> ThreadMatch | None:
        for reason, reference in header_candidates(parsed):
            if reference in self.by_message_id:
                return ThreadMatch(self.by_message_id[reference][1], reason, reference)
        return None

    def _by_token(self, parsed: Parsed) -> ThreadMatch | None:
        for reference in find_ticket_references(parsed.subject):
            ticket = self.by_reference.get(reference.upper())
            if ticket is not None:
                return ThreadMatch(ticket, ThreadReason.SUBJECT_TOKEN, reference)
        return None

    def _by_root(self, root: str | None) -> ThreadMatch | None:
        ticket = self.by_root.get(root) if root else None
        return ThreadMatch(ticket, ThreadReason.THREAD_INDEX, root) if ticket is not None else None

    def _by_subject(self, requester_email: str | None, normalized: str) -> ThreadMatch | None:
        if not requester_email or len(normalized) < 3:  # "hi", "" or "re:" alone say nothing about a thread
            return None
        candidates = [ticket for email, ticket in self.by_subject.get(normalized, ())
                      if email == requester_email and ticket.status != TicketStatus.CLOSED
                      and ticket.last_message_at >= self.since]
        if not candidates:
            return None
        newest = max(candidates, key=lambda ticket: ticket.last_message_at)
        return ThreadMatch(newest, ThreadReason.SUBJECT, normalized)


def _newest_by_subject(tenant: Tenant, subjects: set[str], senders: set[str], since: datetime) -> dict:
    """(requester address, subject key) → the id of that requester's ticket with the newest mail, among open ones.

    Only ids are read for all candidates (a busy requester may have many): the tickets themselves are loaded once.
    """
    rows = db.session.execute(
        select(Contact.email, Ticket.normalized_subject, Ticket.id, Ticket.last_message_at)
        .join(Contact, Contact.id == Ticket.requester_id)
        .where(Ticket.tenant_id == tenant.id, among(Ticket.normalized_subject, subjects), among(Contact.email, senders),
               Ticket.last_message_at >= since, Ticket.status != TicketStatus.CLOSED))
    newest: dict[tuple[str, str], tuple[datetime, int]] = {}
    for email, subject, ticket_id, last in rows:
        if (email, subject) not in newest or last > newest[email, subject][0]:
            newest[email, subject] = (last, ticket_id)
    return {key: ticket_id for key, (_last, ticket_id) in newest.items()}


def _rows(statement, wanted: set) -> list:
    return db.session.execute(statement).all() if wanted else []
