"""Tenant routing rules: a regex on subject, body or sender sets queue, category and priority of a new ticket."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.queues.models import Queue
from tenants.models import utcnow
from tenants.scoping import TenantScoped

RULE_FIELDS = ("subject", "body", "sender", "any")


class RoutingRule(TenantScoped, db.Model):
    __tablename__ = "routing_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    position: Mapped[int] = mapped_column(Integer, default=0)
    field: Mapped[str] = mapped_column(String(16), default="subject")
    pattern: Mapped[str] = mapped_column(String(500))
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id", ondelete="SET NULL"))
    category: Mapped[str | None] = mapped_column(String(80))
    priority: Mapped[str | None] = mapped_column(String(16))
    stop: Mapped[bool] = mapped_column(default=False)  # no later rule applies after this one matched
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    queue: Mapped[Queue | None] = relationship()
