"""Hourly roll-ups of each mailbox's connection attempts, so the health page reads at most 168 small rows per
mailbox for a week instead of every attempt (a mailbox synced each minute logs 10,000 a week)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from tenants.scoping import TenantScoped

# Upper bounds (ms) of the latency buckets; the last catches everything slower. The median is read from them.
LATENCY_BOUNDS = (50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, None)


class MailboxHour(TenantScoped, db.Model):
    __tablename__ = "mailbox_hours"
    __table_args__ = (UniqueConstraint("mailbox_id", "hour"),
                      Index("ix_mailbox_hours_tenant_id_hour", "tenant_id", "hour"))  # the health page's week

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"))
    hour: Mapped[datetime] = mapped_column()  # the start of the hour, UTC
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    ok: Mapped[int] = mapped_column(Integer, default=0)
    lat_0: Mapped[int] = mapped_column(Integer, default=0)
    lat_1: Mapped[int] = mapped_column(Integer, default=0)
    lat_2: Mapped[int] = mapped_column(Integer, default=0)
    lat_3: Mapped[int] = mapped_column(Integer, default=0)
    lat_4: Mapped[int] = mapped_column(Integer, default=0)
    lat_5: Mapped[int] = mapped_column(Integer, default=0)
    lat_6: Mapped[int] = mapped_column(Integer, default=0)
    lat_7: Mapped[int] = mapped_column(Integer, default=0)
    lat_8: Mapped[int] = mapped_column(Integer, default=0)
    lat_9: Mapped[int] = mapped_column(Integer, default=0)


BUCKET_COLUMNS = [f"lat_{index}" for index in range(len(LATENCY_BOUNDS))]
