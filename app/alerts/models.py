"""A tenant's changes to the built-in alert rules, and the alerts they opened (and resolved)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from tenants.models import utcnow
from tenants.scoping import TenantScoped

KINDS = ("mailbox_failing", "mailbox_silent", "outbox_backlog", "quarantine_growing", "oauth_expiring")
_OPEN = text("resolved_at IS NULL")


class AlertRule(TenantScoped, db.Model):
    """A kind without a row runs with its defaults: every rule is on for every tenant until an admin changes it."""

    __tablename__ = "alert_rules"
    __table_args__ = (UniqueConstraint("tenant_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # one of KINDS
    enabled: Mapped[bool] = mapped_column(default=True)
    threshold: Mapped[int | None] = mapped_column(Integer)  # None: the kind's default
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Alert(TenantScoped, db.Model):
    """One episode of a problem with one subject (``subject_key``: "mailbox:12", "outbox", "grant:3" …), from the
    evaluation that found it to the one that found it gone. A problem that comes back is a new alert."""

    __tablename__ = "alerts"
    __table_args__ = (
        # At most one open alert per subject. Two evaluators racing to open the same alert both insert; the second
        # insert fails here (on PostgreSQL it waits for the first to commit), so only the first notifies.
        Index("uq_alerts_open_subject", "tenant_id", "kind", "subject_key", unique=True,
              postgresql_where=_OPEN, sqlite_where=_OPEN),
        Index("ix_alerts_tenant_id_opened_at", "tenant_id", "opened_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    subject_key: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(300), default="")  # what it concerns, as people know it
    detail: Mapped[dict] = mapped_column(JSON, default=dict)  # the figures found when it opened
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column()
    # "cleared": the condition went away (admins were told). Closed without a notice: "rule_disabled" (with its
    # rule), "withdrawn" (its mailbox was paused or removed).
    resolution: Mapped[str | None] = mapped_column(String(16))

    @property
    def open(self) -> bool:
        return self.resolved_at is None
