from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
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
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Receipt(TenantScoped, db.Model):
    """One message as it came off the server, stored raw *before* anything else happens to it.

    The unique constraint is what makes a sync exactly-once: a crashed sync that fetches the same UID again finds
    its receipt and moves on. ``status``: stored → parsed (or quarantined, or duplicate of an earlier receipt).
    """

    __tablename__ = "receipts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "mailbox_id", "folder", "uidvalidity", "uid"),
        Index("ix_receipts_tenant_id_mailbox_id_sha256", "tenant_id", "mailbox_id", "sha256"),
        Index("ix_receipts_tenant_id_status", "tenant_id", "status"),
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
