"""Tickets, their messages, attachments, requesters (contacts) and the timeline of automated decisions."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, BigInteger, Enum, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db, value_enum
from tenants.models import utcnow
from tenants.scoping import TenantScoped


def _enum(cls: type[enum.Enum]) -> Enum:
    return value_enum(cls, 16)


class TicketStatus(enum.StrEnum):
    OPEN = "open"
    PENDING = "pending"
    RESOLVED = "resolved"
    CLOSED = "closed"


# The statuses agents work on: the inbox's default view, and the predicate of its partial index.
ACTIVE_STATUSES = (TicketStatus.OPEN, TicketStatus.PENDING)
ACTIVE_PREDICATE = "status IN ('open', 'pending')"


class Priority(enum.StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"

    @property
    def rank(self) -> int:
        return list(Priority).index(self)


class Direction(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    NOTE = "note"


class ThreadReason(enum.StrEnum):
    """Why a message joined its ticket; shown to agents next to the message."""

    NEW = "new"
    IN_REPLY_TO = "in_reply_to"
    REFERENCES = "references"
    SUBJECT_TOKEN = "subject_token"  # noqa: S105 - a reason, not a secret
    THREAD_INDEX = "thread_index"
    SUBJECT = "subject"
    BOUNCE = "bounce"
    LINKED = "linked"  # answered a closed ticket; by tenant policy a new ticket linked to it was opened


class Contact(TenantScoped, db.Model):
    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("tenant_id", "email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(200), default="")
    vip: Mapped[bool] = mapped_column(default=False)
    bouncing: Mapped[bool] = mapped_column(default=False)
    bounce_reason: Mapped[str | None] = mapped_column(Text)
    locale: Mapped[str | None] = mapped_column(String(10))  # set by an agent, else detected from their mail
    timezone: Mapped[str | None] = mapped_column(String(64))
    notifications_opt_out: Mapped[bool] = mapped_column(default=False)  # non-essential notifications only
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Ticket(TenantScoped, db.Model):
    __tablename__ = "tickets"
    __table_args__ = (
        UniqueConstraint("tenant_id", "number"),
        Index("ix_tickets_tenant_id_status_updated_at", "tenant_id", "status", "updated_at"),
        Index("ix_tickets_tenant_id_requester_id_normalized_subject", "tenant_id", "requester_id",
              "normalized_subject"),
        # The inbox's list: newest activity first, within a status, a queue or an assignee (keyset pages).
        Index("ix_tickets_tenant_id_last_message_at_id", "tenant_id", "last_message_at", "id"),
        Index("ix_tickets_tenant_id_status_last_message_at", "tenant_id", "status", "last_message_at"),
        Index("ix_tickets_tenant_id_queue_id_last_message_at", "tenant_id", "queue_id", "last_message_at"),
        Index("ix_tickets_tenant_id_assignee_id_last_message_at", "tenant_id", "assignee_id", "last_message_at"),
        # The default view (open and pending) and the priority view, read in index order at any page depth
        # (migration 0007); a query must repeat ACTIVE_PREDICATE verbatim for the partial index to apply.
        Index("ix_tickets_tenant_id_active_last_message_at_id", "tenant_id", "last_message_at", "id",
              postgresql_where=text(ACTIVE_PREDICATE), sqlite_where=text(ACTIVE_PREDICATE)),
        Index("ix_tickets_tenant_id_priority_last_message_at_id", "tenant_id", "priority", "last_message_at", "id"),
        Index("ix_tickets_tenant_id_updated_at", "tenant_id", "updated_at"),  # the inbox's "changed since" poll
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(Integer)
    reference: Mapped[str] = mapped_column(String(40))  # "ACME-1042": the subject token is [#ACME-1042]
    subject: Mapped[str] = mapped_column(String(998), default="")
    normalized_subject: Mapped[str] = mapped_column(String(255), default="")
    status: Mapped[TicketStatus] = mapped_column(_enum(TicketStatus), default=TicketStatus.OPEN)
    priority: Mapped[Priority] = mapped_column(_enum(Priority), default=Priority.NORMAL)
    category: Mapped[str | None] = mapped_column(String(80))
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id", ondelete="SET NULL"), index=True)
    mailbox_id: Mapped[int | None] = mapped_column(ForeignKey("mailboxes.id", ondelete="SET NULL"))
    requester_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    linked_ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    sender_flagged: Mapped[bool] = mapped_column(default=False)  # DMARC failed on a message of this ticket
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_message_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column()
    # Bumped by every change agents should know of (a message, a note, a field): a form carries the version it was
    # opened at, and a stale one makes the agent look at what changed before anything is overwritten.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))

    requester: Mapped[Contact | None] = relationship()
    messages: Mapped[list[Message]] = relationship(back_populates="ticket", order_by="Message.id",
                                                   cascade="all, delete-orphan")


class Message(TenantScoped, db.Model):
    """One mail (or note) of a ticket. ``dedupe_key`` (the Message-ID, else the raw hash) makes the same mail
    delivered to two mailboxes of one tenant one message."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("tenant_id", "dedupe_key"),
        Index("ix_messages_tenant_id_message_id", "tenant_id", "message_id"),
        Index("ix_messages_tenant_id_thread_index_root", "tenant_id", "thread_index_root"),
        Index("ix_messages_tenant_id_from_address_created_at", "tenant_id", "from_address", "created_at"),
        # The outbox reconciler's look for acknowledgements still owed: a few rows a day.
        Index("ix_messages_acknowledge_created_at", "created_at", postgresql_where=text("acknowledge"),
              sqlite_where=text("acknowledge")),
        # PostgreSQL only, made by migration 0008 and not declared here (see app/tickets/search.py): the generated
        # column search_words and its GIN index ix_messages_search.
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    mailbox_id: Mapped[int | None] = mapped_column(ForeignKey("mailboxes.id", ondelete="SET NULL"))
    direction: Mapped[Direction] = mapped_column(_enum(Direction), default=Direction.INBOUND)
    dedupe_key: Mapped[str | None] = mapped_column(String(255))
    message_id: Mapped[str | None] = mapped_column(String(255))
    in_reply_to: Mapped[str | None] = mapped_column(String(255))
    references: Mapped[list] = mapped_column(JSON, default=list)
    thread_index_root: Mapped[str | None] = mapped_column(String(64))
    from_address: Mapped[str] = mapped_column(String(254), default="")
    from_name: Mapped[str] = mapped_column(String(200), default="")
    to: Mapped[list] = mapped_column(JSON, default=list)  # [[name, address], ...]
    cc: Mapped[list] = mapped_column(JSON, default=list)
    subject: Mapped[str] = mapped_column(String(998), default="")
    text: Mapped[str | None] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)  # sanitized with nh3 at parse time
    headers: Mapped[list] = mapped_column(JSON, default=list)
    sent_at: Mapped[datetime | None] = mapped_column()  # the Date header
    thread_reason: Mapped[ThreadReason] = mapped_column(_enum(ThreadReason), default=ThreadReason.NEW)
    automatic: Mapped[bool] = mapped_column(default=False)
    automatic_reason: Mapped[str | None] = mapped_column(String(80))
    acknowledge: Mapped[bool] = mapped_column(default=False)  # an acknowledgement is due (sent by the outbox)
    authenticity: Mapped[dict] = mapped_column(JSON, default=dict)  # {"spf": "pass", "dkim": ..., "dmarc": ...}
    sender_flagged: Mapped[bool] = mapped_column(default=False)
    bounce_of_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    raw_sha256: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    defects: Mapped[list] = mapped_column(JSON, default=list)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # An agent's reply: "queued" until the outbox sends it, then "sent" or "failed".
    delivery_status: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="messages")
    attachments: Mapped[list[MessageAttachment]] = relationship(
        back_populates="message", order_by="MessageAttachment.id", cascade="all, delete-orphan")


class MessageAttachment(TenantScoped, db.Model):
    __tablename__ = "message_attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(127))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))  # blob key; empty payload kept out of the store when withheld
    disposition: Mapped[str] = mapped_column(String(16), default="attachment")
    content_id: Mapped[str | None] = mapped_column(String(255))
    is_calendar: Mapped[bool] = mapped_column(default=False)
    withheld_reason: Mapped[str | None] = mapped_column(String(40))  # too_large | blocked_type

    message: Mapped[Message] = relationship(back_populates="attachments")


class TicketEvent(TenantScoped, db.Model):
    """The ticket's timeline: every automated decision (threaded, routed, rule, loop, authenticity, reopen)."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(40))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    # Set as objects, so a batch's events can be written in the same flush as their (new) ticket and message.
    ticket: Mapped[Ticket] = relationship()
    message: Mapped[Message | None] = relationship()


class TicketRead(TenantScoped, db.Model):
    """When an agent last opened a ticket: newer activity makes it unread for them."""

    __tablename__ = "ticket_reads"
    __table_args__ = (UniqueConstraint("user_id", "ticket_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    read_at: Mapped[datetime] = mapped_column(default=utcnow)
