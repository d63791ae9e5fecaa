"""Message trace: every step one message went through, in order, with its timings.

``find`` turns what an admin knows (a Message-ID, an address, a ticket, the SHA-256 of the raw mail) into
candidates; ``trace_message`` and ``trace_receipt`` gather the steps from the rows the pipeline writes anyway
(``app.trace.inbound``, ``app.trace.outbound``): nothing is recorded for the trace's sake.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select

from app.extensions import db
from app.inbound.models import Receipt
from app.quarantine.services import key_headers, original
from app.tickets.models import Message
from app.trace import search
from app.trace.inbound import event_steps, mailbox_addresses, message_step, receipt_steps, receipts_of
from app.trace.outbound import outgoing_steps, webhook_steps
from app.trace.search import Candidate
from app.trace.steps import Step, duration_text, elapsed_text, in_order
from tenants.models import Tenant

__all__ = ["Candidate", "Step", "Trace", "duration_text", "elapsed_text", "find", "find_page", "trace_message",
           "trace_receipt"]

MAX_CANDIDATES = 50
MAX_QUERY = 300


@dataclass
class Trace:
    subject: Candidate  # the message (or the receipt that never became one) traced
    steps: list[Step]
    message: Message | None = None
    receipt: Receipt | None = None
    bounce_of_id: int | None = None  # this message is a delivery report about that one

    @property
    def total(self) -> timedelta:
        return self.steps[-1].since_first if self.steps else timedelta(0)

    @property
    def ok(self) -> bool:
        return all(step.ok for step in self.steps)


def find(tenant: Tenant, query: str, limit: int = MAX_CANDIDATES) -> list[Candidate]:
    """What ``query`` names (see ``app.trace.search``), newest first, at most ``limit``."""
    rows = search.candidate_rows(tenant, query[:MAX_QUERY])
    if rows is None:
        return []
    return search.load(tenant, [tuple(row) for row in db.session.execute(rows.limit(limit))])


def find_page(tenant: Tenant, query: str, *, page: int, per_page: int) -> tuple[list[Candidate], int]:
    """One page of ``find``'s results, and how many there are in all."""
    rows = search.candidate_rows(tenant, query[:MAX_QUERY])
    if rows is None:
        return [], 0
    total = db.session.scalar(select(func.count()).select_from(rows.order_by(None).subquery())) or 0
    page_rows = db.session.execute(rows.limit(per_page).offset((page - 1) * per_page))
    return search.load(tenant, [tuple(row) for row in page_rows]), total


def trace_message(tenant: Tenant, message: Message) -> Trace:
    """Every step of ``message`` (of ``tenant``: the caller loaded it with ``get_by_id_and_tenant``), oldest first:
    fetched, stored, parsed, threaded, routed, acknowledged, sent, retried, bounced, webhooks delivered."""
    mailboxes = mailbox_addresses(tenant)
    steps = [item for receipt in receipts_of(tenant, message) for item in receipt_steps(tenant, receipt, mailboxes)]
    steps.append(message_step(message))
    steps += event_steps(tenant, message)
    steps += outgoing_steps(tenant, message)
    steps += webhook_steps(tenant, message, until=max(item.at for item in steps))
    return Trace(search.of_message(message), in_order(steps), message=message, bounce_of_id=message.bounce_of_id)


def trace_receipt(tenant: Tenant, receipt: Receipt) -> Trace:
    """A receipt's steps; one that became a message is traced as that message (which includes the receipt)."""
    if receipt.message_id is not None:
        return trace_message(tenant, Message.get_by_id_and_tenant(receipt.message_id, tenant))
    subject = search.of_receipt(receipt)
    _headers_into(tenant, receipt, subject)
    return Trace(subject, in_order(receipt_steps(tenant, receipt, mailbox_addresses(tenant))), receipt=receipt)


def _headers_into(tenant: Tenant, receipt: Receipt, subject: Candidate) -> None:
    """From, Subject and Message-ID of mail that never became a message: only its raw blob knows them."""
    try:
        headers = dict(key_headers(original(tenant, receipt)))
    except OSError:  # the blob is gone (a store restored from an older backup): the receipt still traces
        return
    subject.from_address = headers.get("From") or ""
    subject.subject = headers.get("Subject") or ""
    subject.message_id = (headers.get("Message-ID") or "").strip().strip("<>") or None
