from __future__ import annotations

from datetime import datetime

from sqlalchemy import Enum, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import EMAIL_MAX, User
from app.extensions import db
from tenants.models import Role, Tenant, utcnow
from tenants.scoping import TenantScoped


class Invitation(TenantScoped, db.Model):
    """An invitation to join a tenant; the link carries a signed, expiring reference to this row (single use)."""

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(EMAIL_MAX))
    role: Mapped[Role] = mapped_column(Enum(Role, native_enum=False, length=16,
                                            values_callable=lambda e: [r.value for r in e]))
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    accepted_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()

    invited_by: Mapped[User | None] = relationship()
    tenant: Mapped[Tenant] = relationship()

    @property
    def tenant_name(self) -> str:
        return self.tenant.name

    @property
    def tenant_slug(self) -> str:
        return self.tenant.slug

    @property
    def pending(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None and self.expires_at > utcnow()

