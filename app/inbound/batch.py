"""What one ingest transaction builds, and writing it in a handful of statements.

Tickets are ORM objects (threading reads and updates them: status, last message, the subject key); a batch's new
messages, their attachments and the timeline entries are plain rows, inserted together once the tickets have ids.
A batch of 200 mails is a few INSERTs, not a few thousand.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import bindparam, update

from app.bulk import insert_rows
from app.extensions import db
from app.inbound.blobs import BlobStore
from app.inbound.screening import SenderRates
from app.mailboxes.models import Mailbox
from app.tickets.models import Message, MessageAttachment, ThreadReason, Ticket, TicketEvent
from app.tickets.services import Contacts, TicketNumbers
from app.tickets.threading import ThreadLookups
from tenants.models import Tenant, utcnow


@dataclass(eq=False)
class NewMessage:
    """An inbound message of the batch, as the row it becomes (``id`` once written)."""

    row: dict
    ticket: Ticket
    attachments: list[dict] = field(default_factory=list)
    bounce_of: NewMessage | None = None  # it reports on a message of this very batch
    id: int | None = None

    @property
    def message_id(self) -> str | None:
        return self.row["message_id"]

    @property
    def thread_index_root(self) -> str | None:
        return self.row["thread_index_root"]

    @property
    def thread_reason(self) -> ThreadReason:
        return self.row["thread_reason"]

    @property
    def automatic(self) -> bool:
        return self.row["automatic"]

    @property
    def sender_flagged(self) -> bool:
        return self.row["sender_flagged"]


@dataclass
class Batch:
    tenant: Tenant
    store: BlobStore
    numbers: TicketNumbers
    lookups: ThreadLookups
    contacts: Contacts
    rates: SenderRates
    messages: list[NewMessage] = field(default_factory=list)
    events: list[tuple[Ticket, NewMessage | None, str, dict]] = field(default_factory=list)
    blobs: list[bytes] = field(default_factory=list)  # attachments to store before the batch commits
    mailboxes: dict[int, Mailbox] = field(default_factory=dict)

    def mailbox(self, mailbox_id: int) -> Mailbox:
        if mailbox_id not in self.mailboxes:  # held here: the session's identity map would let it go
            self.mailboxes[mailbox_id] = db.session.get(Mailbox, mailbox_id)
        return self.mailboxes[mailbox_id]

    def log(self, ticket: Ticket, kind: str, detail: dict | None = None, *, message: NewMessage | None = None) -> None:
        """A timeline entry (``log_event``'s signature), written with the batch."""
        self.events.append((ticket, message, kind, detail or {}))

    def write(self) -> None:
        """Tickets (and contact changes) by the ORM, then the rows that point at them."""
        self.numbers.save()
        self.store.put_many(self.blobs)  # attachments on disk before the rows that point at them
        db.session.flush()
        self._insert_messages()
        insert_rows(MessageAttachment.__table__, [{**row, "message_id": message.id} for message in self.messages
                                                  for row in message.attachments])
        now = utcnow()
        insert_rows(TicketEvent.__table__, [
            {"tenant_id": self.tenant.id, "ticket_id": ticket.id, "kind": kind, "detail": detail,
             "message_id": message.id if message is not None else None, "actor_id": None, "created_at": now}
            for ticket, message, kind, detail in self.events])

    def _insert_messages(self) -> None:
        if not self.messages:
            return
        rows = [{**message.row, "ticket_id": message.ticket.id} for message in self.messages]
        table = Message.__table__
        ids = insert_rows(table, rows, returning_ids=True)
        for message, message_id in zip(self.messages, ids, strict=True):
            message.id = message_id
        bounces = [{"b_id": m.id, "b_of": m.bounce_of.id} for m in self.messages if m.bounce_of is not None]
        if bounces:
            db.session.execute(update(table).where(table.c.id == bindparam("b_id"))
                               .values(bounce_of_id=bindparam("b_of")), bounces)

