"""A mailbox's push subscription at its provider: a Microsoft Graph change-notification subscription, or a Gmail
``watch`` on its inbox. Either expires (Graph after at most ~3 days, Gmail after 7) and is renewed before then."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from tenants.models import utcnow
from tenants.scoping import TenantScoped


class PushSubscription(TenantScoped, db.Model):
    __tablename__ = "push_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # graph | gmail
    external_id: Mapped[str | None] = mapped_column(String(255))  # Graph: the subscription id; Gmail: historyId
    expires_at: Mapped[datetime | None] = mapped_column()
    renewed_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)  # the provider's last refusal; the mailbox still polls
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
