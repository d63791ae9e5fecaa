from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Enum, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.crypto import EncryptedText
from app.extensions import db, value_enum
from app.queues.models import Queue
from tenants.models import utcnow
from tenants.scoping import TenantScoped


def _enum(cls: type[enum.Enum]) -> Enum:
    return value_enum(cls, 24)


class MailboxStatus(enum.StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    FAILING = "failing"
    REAUTH_REQUIRED = "reauth_required"


class Protocol(enum.StrEnum):
    IMAP = "imap"
    POP3 = "pop3"


class Security(enum.StrEnum):
    TLS = "tls"
    STARTTLS = "starttls"
    NONE = "none"


class AfterFetch(enum.StrEnum):
    KEEP = "keep"  # leave it, track by UID (default: the mailbox stays as the users know it)
    MARK_SEEN = "mark_seen"
    MOVE = "move"
    DELETE = "delete"


class SyncMode(enum.StrEnum):
    POLL = "poll"
    IDLE = "idle"


class OutboundMode(enum.StrEnum):
    OWN = "own"  # the tenant's own SMTP server
    RELAY = "relay"  # the region's relay
    NONE = "none"  # receive only


class Mailbox(TenantScoped, db.Model):
    """A mailbox the service desk reads (IMAP/POP3) and sends from (SMTP). Passwords are encrypted at rest."""

    __tablename__ = "mailboxes"
    __table_args__ = (UniqueConstraint("tenant_id", "address"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    address: Mapped[str] = mapped_column(String(254))
    default_queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id", ondelete="SET NULL"))
    status: Mapped[MailboxStatus] = mapped_column(_enum(MailboxStatus), default=MailboxStatus.ACTIVE)

    inbound_protocol: Mapped[Protocol] = mapped_column(_enum(Protocol), default=Protocol.IMAP)
    inbound_host: Mapped[str] = mapped_column(String(255))
    inbound_port: Mapped[int] = mapped_column(Integer)
    inbound_security: Mapped[Security] = mapped_column(_enum(Security), default=Security.TLS)
    inbound_username: Mapped[str] = mapped_column(String(254))
    inbound_password: Mapped[str | None] = mapped_column(EncryptedText)
    oauth_grant_id: Mapped[int | None] = mapped_column(ForeignKey("oauth_grants.id", ondelete="SET NULL"))
    folders: Mapped[list] = mapped_column(JSON, default=lambda: ["INBOX"])
    after_fetch: Mapped[AfterFetch] = mapped_column(_enum(AfterFetch), default=AfterFetch.KEEP)
    move_to_folder: Mapped[str | None] = mapped_column(String(255))
    sync_mode: Mapped[SyncMode] = mapped_column(_enum(SyncMode), default=SyncMode.POLL)
    poll_interval: Mapped[int] = mapped_column(Integer, default=60)
    # A new mailbox imports mail from this day on (None: everything in its folders); "backfill" moves it back.
    import_since: Mapped[datetime | None] = mapped_column()
    ca_pem: Mapped[str | None] = mapped_column(Text)

    outbound_mode: Mapped[OutboundMode] = mapped_column(_enum(OutboundMode), default=OutboundMode.OWN)
    outbound_host: Mapped[str | None] = mapped_column(String(255))
    outbound_port: Mapped[int | None] = mapped_column(Integer)
    outbound_security: Mapped[Security | None] = mapped_column(_enum(Security))
    outbound_username: Mapped[str | None] = mapped_column(String(254))
    outbound_password: Mapped[str | None] = mapped_column(EncryptedText)
    from_name: Mapped[str | None] = mapped_column(String(120))
    reply_to: Mapped[str | None] = mapped_column(String(254))
    signature: Mapped[str] = mapped_column(Text, default="")  # appended to replies and notifications
    disclaimer: Mapped[str] = mapped_column(Text, default="")  # appended below the signature
    sent_folder: Mapped[str | None] = mapped_column(String(255))  # IMAP folder for a copy of sent mail, if any

    failure_streak: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_category: Mapped[str | None] = mapped_column(String(40))
    # inbound | outbound: a working SMTP side must not hide a failing IMAP side (and vice versa)
    failure_direction: Mapped[str | None] = mapped_column(String(16))
    last_synced_at: Mapped[datetime | None] = mapped_column()  # the last successful sync (the health page's lag)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    default_queue: Mapped[Queue | None] = relationship()
    aliases: Mapped[list[MailboxAlias]] = relationship(back_populates="mailbox", cascade="all, delete-orphan",
                                                      order_by="MailboxAlias.address")


class MailboxAlias(TenantScoped, db.Model):
    """Another address delivered to the mailbox, routed to its own queue (or the mailbox's default)."""

    __tablename__ = "mailbox_aliases"
    __table_args__ = (UniqueConstraint("tenant_id", "address"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"), index=True)
    address: Mapped[str] = mapped_column(String(254))
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id", ondelete="SET NULL"))

    mailbox: Mapped[Mailbox] = relationship(back_populates="aliases")
    queue: Mapped[Queue | None] = relationship()
