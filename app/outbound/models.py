"""The outbox: every outgoing mail is a row (with its composed bytes) before anything tries to send it, and every
attempt is a row of the communication log."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db, value_enum
from tenants.models import utcnow
from tenants.scoping import TenantScoped


class OutgoingStatus(enum.StrEnum):
    QUEUED = "queued"  # waiting for its next attempt (``next_attempt_at``)
    SENDING = "sending"  # claimed by a worker (``claimed_at``); the reconciler takes it back if that worker died
    SENT = "sent"
    FAILED = "failed"  # refused for good (5xx) or out of attempts
    BLOCKED = "blocked"  # stopped by a data-loss-prevention rule before it was queued
    SUPPRESSED = "suppressed"  # an automatic mail held back: recipient limit, opt-out, bouncing address


class OutgoingKind(enum.StrEnum):
    REPLY = "reply"  # an agent's reply
    NOTIFICATION = "notification"  # to a requester or agents, from a template
    SYSTEM = "system"  # invitations and alerts through the region's relay


FINISHED = (OutgoingStatus.SENT, OutgoingStatus.FAILED, OutgoingStatus.BLOCKED, OutgoingStatus.SUPPRESSED)


class OutgoingMail(TenantScoped, db.Model):
    __tablename__ = "outgoing_mails"
    __table_args__ = (
        UniqueConstraint("tenant_id", "rfc_message_id"),
        UniqueConstraint("message_id", "event"),  # one acknowledgement (or reply) per message, whatever re-runs
        # At most one pending notification per key: rapid ticket changes update it instead of adding mail.
        Index("ix_outgoing_mails_pending_key", "tenant_id", "dedupe_key", unique=True,
              postgresql_where=text("status = 'queued' AND dedupe_key IS NOT NULL"),
              sqlite_where=text("status = 'queued' AND dedupe_key IS NOT NULL")),
        Index("ix_outgoing_mails_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_outgoing_mails_tenant_id_recipient_key_created_at", "tenant_id", "recipient_key", "created_at"),
        Index("ix_outgoing_mails_tenant_id_created_at", "tenant_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox_id: Mapped[int | None] = mapped_column(ForeignKey("mailboxes.id", ondelete="SET NULL"), index=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"), index=True)
    kind: Mapped[OutgoingKind] = mapped_column(value_enum(OutgoingKind, 16))
    event: Mapped[str | None] = mapped_column(String(40))  # the notification's event, e.g. "acknowledgement"
    automatic: Mapped[bool] = mapped_column(default=False)  # Auto-Submitted: auto-replied, counted per recipient
    rfc_message_id: Mapped[str] = mapped_column(String(255))
    mail_from: Mapped[str] = mapped_column(String(254))  # the envelope sender
    recipients: Mapped[list] = mapped_column(JSON, default=list)  # envelope recipients (To, Cc and Bcc)
    recipient_key: Mapped[str] = mapped_column(String(254), default="")  # the first recipient, lower-cased
    subject: Mapped[str] = mapped_column(String(998), default="")
    raw: Mapped[bytes] = mapped_column(LargeBinary)  # composed once: every attempt sends the same bytes
    status: Mapped[OutgoingStatus] = mapped_column(value_enum(OutgoingStatus, 16), default=OutgoingStatus.QUEUED)
    status_reason: Mapped[str | None] = mapped_column(String(80))  # e.g. recipient_limit, smtp_5xx, dlp:<rule>
    dedupe_key: Mapped[str | None] = mapped_column(String(120))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    bounce_reason: Mapped[str | None] = mapped_column(Text)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column()

    attempts_log: Mapped[list[DeliveryAttempt]] = relationship(
        back_populates="outgoing", order_by="DeliveryAttempt.id", cascade="all, delete-orphan", passive_deletes=True)


class DeliveryAttempt(TenantScoped, db.Model):
    """One try at handing a mail to an SMTP server: the communication log."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    outgoing_id: Mapped[int] = mapped_column(ForeignKey("outgoing_mails.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(16))  # sent | deferred | failed
    code: Mapped[int | None] = mapped_column(Integer)  # the SMTP reply code, when there was one
    response: Mapped[str] = mapped_column(Text, default="")  # the server's words, or the network error
    server: Mapped[str] = mapped_column(String(255), default="")
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)

    outgoing: Mapped[OutgoingMail] = relationship(back_populates="attempts_log")
