from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Enum, Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from tenants.models import utcnow
from tenants.scoping import TenantScoped


class ConnectionKind(enum.StrEnum):
    TEST = "test"
    SYNC = "sync"
    SEND = "send"
    TOKEN = "token"  # noqa: S105 (an OAuth token refresh, not a secret)


class ConnectionLog(TenantScoped, db.Model):
    """One connection attempt of any job: the communication log behind mailbox health."""

    __tablename__ = "connection_logs"
    __table_args__ = (Index("ix_connection_logs_tenant_id_mailbox_id_started_at", "tenant_id", "mailbox_id",
                            "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"))
    kind: Mapped[ConnectionKind] = mapped_column(Enum(ConnectionKind, native_enum=False, length=16,
                                                      values_callable=lambda e: [m.value for m in e]))
    direction: Mapped[str] = mapped_column(String(16))  # inbound | outbound
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    duration_ms: Mapped[float] = mapped_column(Float)
    ok: Mapped[bool] = mapped_column()
    category: Mapped[str | None] = mapped_column(String(40))
    step: Mapped[str | None] = mapped_column(String(40))
    server_response: Mapped[str | None] = mapped_column(Text)
    job_id: Mapped[str | None] = mapped_column(String(64))


class ConnectionTest(TenantScoped, db.Model):
    """A connection test run; its steps are written as they finish, so the portal and API can follow it live."""

    __tablename__ = "connection_tests"

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"), index=True)
    job_id: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued | running | passed | failed
    steps: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()
