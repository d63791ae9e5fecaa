from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import JSON, Date, Enum, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.crypto import EncryptedText
from app.extensions import db
from tenants.models import utcnow
from tenants.scoping import TenantScoped


class GrantStatus(enum.StrEnum):
    ACTIVE = "active"  # also while the app (client) is refused: that is mended by fixing the app, not the grant
    REVOKED = "revoked"  # invalid_grant: revoked, password changed, expired — a person must re-connect


class OAuthGrant(TenantScoped, db.Model):
    """A mailbox owner's consent: encrypted tokens, granted scopes, and what we know about their lifetime."""

    __tablename__ = "oauth_grants"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))
    directory: Mapped[str | None] = mapped_column(String(100))  # Microsoft: the tenant (directory) id or "common"
    app_id: Mapped[int | None] = mapped_column(ForeignKey("oauth_apps.id", ondelete="SET NULL"))
    # The client that issued the tokens: only it can refresh them, whatever app is configured later.
    client_id: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str | None] = mapped_column(String(255))
    email: Mapped[str] = mapped_column(String(254))
    scopes: Mapped[list] = mapped_column(JSON, default=list)
    access_token: Mapped[str | None] = mapped_column(EncryptedText)
    access_expires_at: Mapped[datetime | None] = mapped_column()
    refresh_token: Mapped[str | None] = mapped_column(EncryptedText)
    refresh_issued_at: Mapped[datetime | None] = mapped_column()
    refresh_expires_at: Mapped[datetime | None] = mapped_column()
    status: Mapped[GrantStatus] = mapped_column(Enum(GrantStatus, native_enum=False, length=20,
                                                     values_callable=lambda e: [m.value for m in e]),
                                                default=GrantStatus.ACTIVE)
    last_refresh_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    expiry_warned_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OAuthApp(TenantScoped, db.Model):
    """A tenant's own OAuth app (their Azure app registration or Google Cloud project), used instead of ours."""

    __tablename__ = "oauth_apps"
    __table_args__ = (UniqueConstraint("tenant_id", "provider"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))
    client_id: Mapped[str] = mapped_column(String(255))
    client_secret: Mapped[str] = mapped_column(EncryptedText)
    secret_expires_on: Mapped[date | None] = mapped_column(Date)
    directory: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OperatorAlert(db.Model):
    """Platform-level trouble a tenant cannot fix (our OAuth client secret expired…). Not tenant-owned."""

    __tablename__ = "operator_alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(60))
    key: Mapped[str] = mapped_column(String(120), index=True)  # de-duplication: one open alert per cause
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column()
