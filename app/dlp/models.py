"""A tenant's data-loss-prevention rule: what to look for in outgoing mail, and whether to block or redact it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from tenants.models import utcnow
from tenants.scoping import TenantScoped

KINDS = ("card_number", "iban", "password", "regex")
ACTIONS = ("block", "redact")


class DlpRule(TenantScoped, db.Model):
    __tablename__ = "dlp_rules"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(16))  # one of KINDS
    pattern: Mapped[str | None] = mapped_column(String(500))  # kind "regex" only
    action: Mapped[str] = mapped_column(String(16), default="block")  # one of ACTIONS
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
