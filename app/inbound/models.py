from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from tenants.models import utcnow
from tenants.scoping import TenantScoped


class FolderCursor(TenantScoped, db.Model):
    """How far a mailbox folder was read: UIDVALIDITY, the last UID stored, and HIGHESTMODSEQ when offered."""

    __tablename__ = "folder_cursors"
    __table_args__ = (UniqueConstraint("tenant_id", "mailbox_id", "folder"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"))
    folder: Mapped[str] = mapped_column(String(255))
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    highestmodseq: Mapped[int | None] = mapped_column(BigInteger)
    # A first sync that starts at the mailbox's import_since is under way: until it ends, a resumed sync keeps the
    # date filter (UIDs above the cursor may still hold older mail, e.g. an archive moved in).
    since_pending: Mapped[bool] = mapped_column(default=False, server_default=sa_false())
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ReceiptStatus:
    STORED = "stored"  # raw is durable, not yet turned into a ticket message
    INGESTED = "ingested"  # a Message exists for it (receipt.message_id)
    DUPLICATE = "duplicate"  # the same message was already ingested (same bytes, or the same Message-ID)
    QUARANTINED = "quarantined"  # kept aside with a reason; replayable


class Receipt(TenantScoped, db.Model):
    """One message as it came off the server, stored raw *before* anything else happens to it.

    The unique constraint is what makes a sync exactly-once: a crashed sync that fetches the same UID again finds
    its receipt and moves on. ``status``: see ``ReceiptStatus``.
    """

    __tablename__ = "receipts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "mailbox_id", "folder", "uidvalidity", "uid"),
        Index("ix_receipts_tenant_id_mailbox_id_sha256", "tenant_id", "mailbox_id", "sha256"),
        Index("ix_receipts_tenant_id_status", "tenant_id", "status"),
        Index("ix_receipts_tenant_id_received_at", "tenant_id", "received_at"),  # mail in per hour (health)
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"))
    folder: Mapped[str] = mapped_column(String(255))
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    uid: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="stored")
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    # POP3 has no UIDs: the UIDL string is kept here and ``uid`` is a stable number derived from it.
    uidl: Mapped[str | None] = mapped_column(String(255))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    quarantine_reason: Mapped[str | None] = mapped_column(String(40))
    quarantine_detail: Mapped[str | None] = mapped_column(String(500))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    processed_at: Mapped[datetime | None] = mapped_column()
    # An admin released it from quarantine "as it is" (sender policies waived): kept here, not only in the replay
    # job, so the reconciler's re-run of a lost job decides the same.
    accepted: Mapped[bool] = mapped_column(default=False, server_default=sa_false())
