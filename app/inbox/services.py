"""The agent inbox: one ticket prepared for reading (thread, reasons, timeline); the list is in ``listing``."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

import nh3
from sqlalchemy.orm import defer, selectinload

from app.extensions import db
from app.inbox import labels
from app.inbox.timeline import Context, sentence
from app.outbound.models import OutgoingKind, OutgoingMail
from app.queues.models import Queue
from app.routing.services import is_vip
from app.tickets.models import Contact, Direction, Message, Ticket, TicketEvent
from tenants.models import Tenant

_BLOCK_ENDS = re.compile(r"<(?:br|/p|/div|/li|/tr|/h[1-6]|/blockquote)\b[^>]*>", re.IGNORECASE)


def ticket_by_reference(tenant: Tenant, reference: str) -> Ticket | None:
    """The tenant's ticket with this reference ("ACME-12", "#ACME-12" or "[#ACME-12]"), any case."""
    cleaned = (reference or "").strip().strip("[]").lstrip("#").upper()[:40]
    if not cleaned:
        return None
    return db.session.scalar(Ticket.all(tenant).where(Ticket.reference == cleaned))


def queue_names(tenant: Tenant) -> dict[int, str]:
    """The tenant's queues by id, read once per request (a page names them in several places)."""
    from flask import g

    if "queue_names" not in g:
        g.queue_names = {queue.id: queue.name for queue in db.session.scalars(Queue.all(tenant).order_by(Queue.name))}
    return g.queue_names


@dataclass
class MessageView:
    message: Message
    reason: str  # why it is on this ticket, as a sentence
    automatic: str | None  # why it counts as automatic, when it does
    body: str  # plain text, never HTML: the template escapes it
    body_from_html: bool = False
    withheld: int = 0
    delivery: OutgoingMail | None = None  # a reply's outbox row, with its attempts (the communication log)


@dataclass
class TicketView:
    ticket: Ticket
    requester: Contact | None
    vip: bool
    queue: str | None
    linked: Ticket | None
    messages: list[MessageView] = field(default_factory=list)
    timeline: list[tuple[TicketEvent, str]] = field(default_factory=list)
    assignee: str | None = None
    other_tickets: list[Ticket] = field(default_factory=list)
    actors: dict[int, str] = field(default_factory=dict)  # user id → name, for the timeline
    notices: list[OutgoingMail] = field(default_factory=list)  # acknowledgements and notices about this ticket


def ticket_view(tenant: Tenant, ticket_id: int) -> TicketView:
    """Everything the ticket page shows; another tenant's ticket is a 404."""
    ticket = Ticket.get_by_id_and_tenant(ticket_id, tenant)
    linked = db.session.scalar(Ticket.all(tenant).where(Ticket.id == ticket.linked_ticket_id)) \
        if ticket.linked_ticket_id else None
    names = queue_names(tenant)
    events = list(db.session.scalars(TicketEvent.all(tenant).where(TicketEvent.ticket_id == ticket.id)
                                     .order_by(TicketEvent.created_at, TicketEvent.id)))
    context = Context(names, linked.reference if linked else None)
    evidence, requester = _evidence(events), ticket.requester
    return TicketView(
        ticket=ticket, requester=requester, vip=bool(requester) and is_vip(tenant, requester, requester.email),
        queue=names.get(ticket.queue_id) if ticket.queue_id else None, linked=linked,
        messages=_with_delivery(tenant, [_message_view(m, evidence, context) for m in _messages(tenant, ticket)]),
        timeline=[(event, sentence(event, context)) for event in events],
        assignee=member_names(tenant).get(ticket.assignee_id), other_tickets=_other_tickets(tenant, ticket),
        actors=member_names(tenant), notices=_notices(tenant, ticket))


def member_names(tenant: Tenant) -> dict[int, str]:
    """Every member's display name, read once per request (the page names assignee, actors and choices)."""
    from flask import g

    from app.tickets.actions import members

    if "member_names" not in g:
        g.member_names = {user.id: user.name or user.email for user in members(tenant)}
    return g.member_names


def _other_tickets(tenant: Tenant, ticket: Ticket, limit: int = 10) -> list[Ticket]:
    if ticket.requester_id is None:
        return []
    return list(db.session.scalars(Ticket.all(tenant).where(
        Ticket.requester_id == ticket.requester_id, Ticket.id != ticket.id)
        .order_by(Ticket.last_message_at.desc()).limit(limit)))


def _messages(tenant: Tenant, ticket: Ticket) -> list[Message]:
    return list(db.session.scalars(Message.all(tenant).where(Message.ticket_id == ticket.id)
                                   .options(selectinload(Message.attachments)).order_by(Message.id)))


def _evidence(events: list[TicketEvent]) -> dict[int, str]:
    """The token or Message-ID each message threaded by (the "threaded" event of that message)."""
    return {e.message_id: (e.detail or {}).get("evidence", "") for e in events
            if e.kind == "threaded" and e.message_id is not None}


def _message_view(message: Message, evidence: dict[int, str], context: Context) -> MessageView:
    reason = labels.thread_reason(message.thread_reason, evidence=evidence.get(message.id, ""),
                                  linked_reference=context.linked_reference)
    automatic = labels.label(labels.AUTOMATIC, message.automatic_reason) if message.automatic else None
    body, from_html = message.text or "", False
    if not body.strip() and message.html:
        body, from_html = html_to_text(message.html), True
    return MessageView(message, reason, automatic, body, from_html,
                       withheld=sum(1 for a in message.attachments if a.withheld_reason))


def _notices(tenant: Tenant, ticket: Ticket) -> list[OutgoingMail]:
    """The automatic mail about this ticket (not the agents' replies, shown on their messages), newest first."""
    return list(db.session.scalars(OutgoingMail.all(tenant).where(
        OutgoingMail.ticket_id == ticket.id, OutgoingMail.kind != OutgoingKind.REPLY)
        .options(defer(OutgoingMail.raw)).order_by(OutgoingMail.id.desc()).limit(50)))


def _with_delivery(tenant: Tenant, views: list[MessageView]) -> list[MessageView]:
    """Each reply with its outbox row and attempts, read in two queries for the whole thread."""
    replies = {view.message.id: view for view in views if view.message.direction == Direction.OUTBOUND}
    if replies:
        rows = db.session.scalars(OutgoingMail.all(tenant).where(
            OutgoingMail.message_id.in_(list(replies)), OutgoingMail.kind == OutgoingKind.REPLY)
            .options(selectinload(OutgoingMail.attempts_log)))
        for row in rows:
            replies[row.message_id].delivery = row
    return views


def html_to_text(sanitized: str) -> str:
    """Readable text of an HTML-only message: block ends become line breaks, every tag goes. The result is text
    (the template escapes it); rendering the HTML itself is left to a sandboxed frame."""
    return html.unescape(nh3.clean(_BLOCK_ENDS.sub("\n", sanitized), tags=set())).strip()
