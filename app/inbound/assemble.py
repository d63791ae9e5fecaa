"""Putting a screened mail on its ticket: thread, apply the closed-ticket policy, route new tickets, store the
message and its attachments, and write every decision to the ticket's timeline.

Nothing here queries per message: a ``Batch`` carries what the batch's mail can thread onto, its requesters, the
sender counts and the tenant's ticket numbers, all read up front. Objects are added to the session unflushed; the
caller writes the whole batch in one flush.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update

from app.extensions import db
from app.inbound.batch import Batch, NewMessage
from app.inbound.models import Receipt
from app.inbound.screening import Screening, withheld_reason
from app.mail.parse import Parsed
from app.mail.threading_keys import normalize_subject, thread_index_root
from app.mailboxes.models import Mailbox, OutboundMode
from app.routing.services import route_new_ticket
from app.tickets.models import Contact, Direction, ThreadReason, Ticket, TicketStatus
from app.tickets.services import open_ticket, reopen, touch
from app.tickets.threading import ThreadMatch
from tenants.models import Tenant, utcnow


def build_message(batch: Batch, mailbox: Mailbox, receipt: Receipt, parsed: Parsed, screening: Screening, *,
                  dedupe_key: str, may_open: bool) -> NewMessage | None:
    """The new message (part of ``batch``), or ``None`` when it would open a ticket its sender may not open."""
    tenant = batch.tenant
    sender, sender_name = parsed.from_[1].lower()[:254], parsed.from_[0]
    match = _bounce_match(batch, screening) or batch.lookups.find(parsed, sender or None,
                                                                  trust_sender=not screening.dmarc_failed)
    if match.ticket is None and not may_open:
        return None
    requester = batch.contacts.get(sender, sender_name) if sender else None
    automatic = screening.automatic_reason
    ticket, reason, route = _ticket_for(batch, mailbox, parsed, requester, match, automatic is not None)
    message = _new_message(batch, mailbox, receipt, parsed, screening, ticket, reason, dedupe_key)
    _store_attachments(batch, message, parsed)
    _log_decisions(batch, ticket, message, match, route, screening)
    if match.ticket is ticket and ticket.status != TicketStatus.OPEN and not message.automatic:
        # A closed one only when the tenant's policy says reopen (else it got a linked ticket above).
        reopen(ticket, message, why="customer_replied", log=batch.log)
    if screening.bounce is not None:
        _note_bounce(tenant, screening)
    _acknowledgement(batch, ticket, message, requester, new_ticket=reason in (ThreadReason.NEW, ThreadReason.LINKED))
    if screening.dmarc_failed:
        ticket.sender_flagged = True
    touch(ticket)
    batch.lookups.register(message, ticket, requester.email if requester else None,
                           new_ticket=reason in (ThreadReason.NEW, ThreadReason.LINKED))
    return message


def bounce_original(screening: Screening) -> str | None:
    """The Message-ID a bounce reports on, as stored."""
    bounce = screening.bounce
    return bounce.original_message_id[:255] if bounce is not None and bounce.original_message_id else None


def _bounce_match(batch: Batch, screening: Screening) -> ThreadMatch | None:
    original = batch.lookups.by_message_id.get(bounce_original(screening) or "")
    if original is None:
        return None
    return ThreadMatch(original[1], ThreadReason.BOUNCE, screening.bounce.original_message_id)


def _ticket_for(batch: Batch, mailbox: Mailbox, parsed: Parsed, requester: Contact | None, match: ThreadMatch,
                automatic: bool):
    tenant, ticket = batch.tenant, match.ticket
    subject, normalized = parsed.subject, normalize_subject(parsed.subject)
    if ticket is not None and ticket.status == TicketStatus.CLOSED and not automatic \
            and tenant.reopen_policy == "new_linked":
        route = route_new_ticket(tenant, mailbox, parsed, requester)
        linked = open_ticket(tenant, batch.numbers, subject=subject, normalized_subject=normalized, requester=requester,
                             mailbox_id=mailbox.id, linked_ticket_id=ticket.id, **_routed(route))
        return linked, ThreadReason.LINKED, route
    if ticket is not None:
        return ticket, match.reason, None
    route = route_new_ticket(tenant, mailbox, parsed, requester)
    ticket = open_ticket(tenant, batch.numbers, subject=subject, normalized_subject=normalized, requester=requester,
                         mailbox_id=mailbox.id, **_routed(route))
    return ticket, ThreadReason.NEW, route


def _routed(route) -> dict:
    """What routing decides about a new ticket, set when it is created (not updated right after)."""
    return {"queue_id": route.queue_id, "category": route.category, "priority": route.priority}


def _new_message(batch: Batch, mailbox: Mailbox, receipt: Receipt, parsed: Parsed, screening: Screening,
                 ticket: Ticket, reason: ThreadReason, dedupe_key: str) -> NewMessage:
    thread_index = parsed.loop_headers.get("Thread-Index")
    message = NewMessage(ticket=ticket, row=dict(
        tenant_id=batch.tenant.id, mailbox_id=mailbox.id, direction=Direction.INBOUND,
        dedupe_key=dedupe_key, message_id=(parsed.message_id or None) and parsed.message_id[:255],
        in_reply_to=(parsed.in_reply_to or None) and parsed.in_reply_to[:255], references=parsed.references[-50:],
        thread_index_root=thread_index_root(thread_index[0] if thread_index else None),
        from_address=parsed.from_[1].lower()[:254], from_name=parsed.from_[0][:200],
        to=[list(pair) for pair in parsed.to], cc=[list(pair) for pair in parsed.cc], subject=parsed.subject[:998],
        text=parsed.text, html=parsed.html_sanitized, headers=[list(pair) for pair in parsed.headers],
        sent_at=parsed.date, thread_reason=reason, automatic=screening.automatic_reason is not None,
        automatic_reason=screening.automatic_reason, authenticity=screening.authenticity,
        sender_flagged=screening.dmarc_failed, raw_sha256=receipt.sha256, size=receipt.size,
        defects=parsed.defects[:50], acknowledge=False, bounce_of_id=None, author_id=None, created_at=utcnow()))
    if reason == ThreadReason.BOUNCE:
        original = batch.lookups.by_message_id[bounce_original(screening)][0]
        if isinstance(original, NewMessage):
            message.bounce_of = original
        else:
            message.row["bounce_of_id"] = original
    batch.messages.append(message)
    batch.rates.add(message.row["from_address"])
    return message


def _store_attachments(batch: Batch, message: NewMessage, parsed: Parsed) -> None:
    for attachment in parsed.attachments:
        reason = withheld_reason(batch.tenant, attachment)
        if reason is None:
            batch.blobs.append(attachment.payload)
        message.attachments.append(dict(
            tenant_id=batch.tenant.id, filename=attachment.filename, content_type=attachment.content_type[:127],
            size=attachment.size, sha256=attachment.sha256, disposition=attachment.disposition,
            content_id=(attachment.content_id or None) and attachment.content_id[:255],
            is_calendar=attachment.is_calendar, withheld_reason=reason))


def _log_decisions(batch: Batch, ticket: Ticket, message: NewMessage, match: ThreadMatch, route,
                   screening: Screening) -> None:
    log_event = batch.log
    log_event(ticket, "threaded", {"reason": message.thread_reason.value, "evidence": match.evidence[:255]},
              message=message)
    if message.thread_reason == ThreadReason.LINKED and match.ticket is not None:
        log_event(match.ticket, "linked_ticket_opened", {"ticket": ticket.reference}, message=None)
    for kind, detail in route.decisions if route else ():
        log_event(ticket, kind, detail, message=message)
    if screening.automatic_reason:
        log_event(ticket, "automatic", {"reason": screening.automatic_reason}, message=message)
    if screening.dmarc_failed:
        log_event(ticket, "sender_flagged", {"authenticity": screening.authenticity}, message=message)
    if screening.bounce is not None:
        log_event(ticket, "bounce", {"kind": screening.bounce.kind, "recipients": [
            [r.address, r.action, r.status] for r in screening.bounce.recipients[:20]]}, message=message)
    withheld = [[a["filename"], a["withheld_reason"]] for a in message.attachments if a["withheld_reason"]]
    if withheld:
        log_event(ticket, "attachment_withheld", {"attachments": withheld}, message=message)


def _note_bounce(tenant: Tenant, screening: Screening) -> None:
    """Permanent failures mark the address as bouncing, so nothing automatic is sent to it again."""
    failed = {r.address.lower() for r in screening.bounce.recipients  # no Status line: a failure is permanent
              if r.action == "failed" and (r.status or "5").startswith("5") and r.address}
    if failed:  # only contacts we know; creating rows here, after the ticket-number lock, could deadlock
        db.session.execute(update(Contact).where(Contact.tenant_id == tenant.id, Contact.email.in_(failed))
                           .values(bouncing=True).execution_options(synchronize_session="fetch"))
    from app.outbound.failures import record_bounce

    record_bounce(tenant, screening.bounce)  # one of our mails bounced: it says so, with the server's words


def _acknowledgement(batch: Batch, ticket: Ticket, message: NewMessage, requester: Contact | None, *,
                     new_ticket: bool) -> None:
    """Decide whether the outbox owes the sender an acknowledgement; automatic mail never gets one."""
    if not new_ticket:
        return
    reason = None
    if message.automatic:
        reason = "automatic"
    elif requester is None:
        reason = "no_sender"
    elif requester.bouncing:
        reason = "sender_bouncing"
    elif message.sender_flagged:
        reason = "sender_unverified"  # DMARC failed: the address may be forged, and we would mail a bystander
    elif batch.rates.over(requester.email):
        reason = "sender_rate_limited"
    elif not _mailbox_sends(batch, ticket):
        reason = "mailbox_receive_only"
    elif _old(message.row.get("sent_at")):
        reason = "old_mail"  # an import of last month's mail must not answer it today
    message.row["acknowledge"] = reason is None
    batch.log(ticket, "acknowledgement", {"due": reason is None, "suppressed": reason}, message=message)


ACKNOWLEDGE_MAX_AGE = timedelta(days=1)


def _mailbox_sends(batch: Batch, ticket: Ticket) -> bool:
    mailbox = batch.mailbox(ticket.mailbox_id) if ticket.mailbox_id else None
    return mailbox is not None and mailbox.outbound_mode != OutboundMode.NONE


def _old(sent_at: datetime | None) -> bool:
    return sent_at is not None and sent_at < utcnow() - ACKNOWLEDGE_MAX_AGE  # parse made it aware
