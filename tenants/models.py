from __future__ import annotations

import enum
from datetime import UTC, datetime

from sqlalchemy import JSON, Enum, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db

SLUG_MAX = 40
NAME_MAX = 120


def utcnow() -> datetime:
    return datetime.now(UTC)


class Role(enum.StrEnum):
    """Tenant roles, weakest first: a role may do everything the roles before it may."""

    AGENT = "agent"
    ADMIN = "admin"
    OWNER = "owner"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def at_least(self, other: Role) -> bool:
        return self.rank >= other.rank


class Tenant(db.Model):
    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(SLUG_MAX), unique=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    region: Mapped[str] = mapped_column(String(40), default="default")
    default_locale: Mapped[str] = mapped_column(String(10), default="en")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    allow_plaintext: Mapped[bool] = mapped_column(default=False)
    # Empty lists mean "any": sender domains that may open tickets, domains mailboxes may be configured for.
    allowed_sender_domains: Mapped[list] = mapped_column(JSON, default=list)
    allowed_mailbox_domains: Mapped[list] = mapped_column(JSON, default=list)
    failure_threshold: Mapped[int] = mapped_column(default=3)
    # Inbound policy (issue 5): ticket references, threading, loops, authenticity, attachments.
    ticket_prefix: Mapped[str] = mapped_column(String(12), default="")
    ticket_seq: Mapped[int] = mapped_column(default=0)
    reopen_policy: Mapped[str] = mapped_column(String(16), default="reopen")  # reopen | new_linked
    subject_window_hours: Mapped[int] = mapped_column(default=72)
    sender_rate_limit: Mapped[int] = mapped_column(default=20)  # mails per sender per hour before acks stop
    trusted_authserv_ids: Mapped[list] = mapped_column(JSON, default=list)
    dmarc_policy: Mapped[str] = mapped_column(String(16), default="flag")  # flag | quarantine
    max_attachment_bytes: Mapped[int] = mapped_column(default=25 * 1024 * 1024)
    blocked_attachment_types: Mapped[list] = mapped_column(JSON, default=list)  # extensions: ["exe", "js"]
    vip_senders: Mapped[list] = mapped_column(JSON, default=list)  # addresses or "@domain"
    # Days the communication log and the audit log are kept (housekeeping deletes older entries daily).
    commlog_retention_days: Mapped[int] = mapped_column(default=90)
    audit_retention_days: Mapped[int] = mapped_column(default=365)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    memberships: Mapped[list[Membership]] = relationship(back_populates="tenant", cascade="all, delete-orphan")

    def __repr__(self) -> str:
        return f"<Tenant {self.slug}>"


class Membership(db.Model):
    """A user's role in one tenant. Users are global; what they may see is decided here."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("tenant_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[Role] = mapped_column(Enum(Role, native_enum=False, length=16, values_callable=lambda e: [
        r.value for r in e]))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    tenant: Mapped[Tenant] = relationship(back_populates="memberships")
    user: Mapped[User] = relationship("User", back_populates="memberships")  # type: ignore[name-defined]  # noqa: F821
