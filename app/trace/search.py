"""Finding what to trace: a Message-ID, an address, a ticket, or the SHA-256 of the raw mail.

Candidates are messages, and receipts that never became one (quarantined, or still waiting for ingestion). Only
the raw blob of such a receipt knows its Message-ID, and reading every held blob on a search is too costly, so a
receipt is found by its SHA-256 (shown on the quarantine API and on every trace).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, literal_column, or_, select, union_all
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.inbound.models import Receipt
from app.inbox.services import ticket_by_reference
from app.mailboxes.models import Mailbox
from app.outbound.models import OutgoingMail
from app.tickets.models import Direction, Message, Ticket
from tenants.models import Tenant

_SHA256 = re.compile(r"[0-9a-f]{64}")
_NUMBER = re.compile(r"#?(\d{1,10})")
_MAX_ID = 2**31 - 1


@dataclass
class Candidate:
    """One row of the search results: enough to tell similar mail apart before tracing one."""

    kind: str  # message | receipt
    id: int
    at: datetime
    direction: str | None = None
    from_address: str = ""
    subject: str = ""
    message_id: str | None = None  # the Message-ID header, without angle brackets
    ticket_id: int | None = None
    ticket_reference: str | None = None
    status: str | None = None  # a receipt's status, a reply's delivery status
    sha256: str | None = None


def candidate_rows(tenant: Tenant, query: str) -> Select | None:
    """``(kind, id, at)`` of everything ``query`` names, newest first; ``None`` when it names nothing we search."""
    messages = _message_matches(tenant, query)
    parts = []
    if messages is not None:
        parts.append(select(literal_column("'message'").label("kind"), Message.id.label("id"),
                            Message.created_at.label("at"))
                     .where(Message.tenant_id == tenant.id, Message.direction != Direction.NOTE, messages))
    sha256 = query.strip().lower()
    if _SHA256.fullmatch(sha256):
        parts.append(select(literal_column("'receipt'").label("kind"), Receipt.id.label("id"),
                            Receipt.received_at.label("at"))
                     .where(Receipt.tenant_id == tenant.id, Receipt.sha256 == sha256, Receipt.message_id.is_(None)))
    if not parts:
        return None
    rows = union_all(*parts).subquery()
    return select(rows.c.kind, rows.c.id).order_by(rows.c.at.desc(), rows.c.id.desc())


def load(tenant: Tenant, rows: list[tuple[str, int]]) -> list[Candidate]:
    """The candidates of ``rows`` (from ``candidate_rows``), in the same order."""
    wanted = {kind: [row_id for row_kind, row_id in rows if row_kind == kind] for kind in ("message", "receipt")}
    found: dict[tuple[str, int], Candidate] = {}
    if wanted["message"]:
        for message in db.session.scalars(Message.all(tenant).where(Message.id.in_(wanted["message"]))
                                          .options(selectinload(Message.ticket))):
            found["message", message.id] = of_message(message)
    if wanted["receipt"]:
        for receipt in db.session.scalars(Receipt.all(tenant).where(Receipt.id.in_(wanted["receipt"]))):
            found["receipt", receipt.id] = of_receipt(receipt)
    return [found[kind, row_id] for kind, row_id in rows if (kind, row_id) in found]


def of_message(message: Message) -> Candidate:
    ticket = message.ticket
    return Candidate("message", message.id, message.created_at, direction=message.direction.value,
                     from_address=message.from_address, subject=message.subject, message_id=message.message_id,
                     ticket_id=message.ticket_id, ticket_reference=ticket.reference if ticket else None,
                     status=message.delivery_status, sha256=message.raw_sha256)


def of_receipt(receipt: Receipt) -> Candidate:
    return Candidate("receipt", receipt.id, receipt.received_at, direction=Direction.INBOUND.value,
                     status=receipt.status, sha256=receipt.sha256)


def _message_matches(tenant: Tenant, query: str):
    """The WHERE clause for messages that ``query`` names, or ``None``."""
    text = query.strip()
    clauses = []
    if "@" in text and not any(c.isspace() for c in text):
        clauses += _by_message_id(tenant, text.strip("<>"))
        if not text.startswith("<"):  # angle brackets: a Message-ID, never an address
            clauses += _by_address(tenant, text.lower())
    clauses += _by_ticket(tenant, text)
    sha256 = text.lower()
    if _SHA256.fullmatch(sha256):
        clauses.append(Message.raw_sha256 == sha256)
    return or_(*clauses) if clauses else None


def _by_message_id(tenant: Tenant, message_id: str) -> list:
    # Our own mail (an acknowledgement, a notice) leads to the message it was about.
    ours = select(OutgoingMail.message_id).where(OutgoingMail.tenant_id == tenant.id,
                                                 OutgoingMail.rfc_message_id == message_id)
    return [Message.message_id == message_id, Message.id.in_(ours)]


def _by_address(tenant: Tenant, address: str) -> list:
    """Mail from it, mail we sent to it, and mail received by the mailbox with this address."""
    sent_to = select(OutgoingMail.message_id).where(OutgoingMail.tenant_id == tenant.id,
                                                    OutgoingMail.recipient_key == address)
    mailboxes = select(Mailbox.id).where(Mailbox.tenant_id == tenant.id, func.lower(Mailbox.address) == address)
    return [Message.from_address == address, Message.id.in_(sent_to),
            (Message.mailbox_id.in_(mailboxes)) & (Message.direction == Direction.INBOUND)]


def _by_ticket(tenant: Tenant, text: str) -> list:
    """A reference ("ACME-12", "[#ACME-12]"), or a number: the ticket's number, or its id."""
    tickets = []
    if "-" in text:
        ticket = ticket_by_reference(tenant, text)
        tickets += [ticket.id] if ticket else []
    number = _NUMBER.fullmatch(text)
    if number and 0 < int(number[1]) <= _MAX_ID:
        value = int(number[1])
        tickets += db.session.scalars(select(Ticket.id).where(
            Ticket.tenant_id == tenant.id, or_(Ticket.number == value, Ticket.id == value))).all()
    return [Message.ticket_id.in_(tickets)] if tickets else []
