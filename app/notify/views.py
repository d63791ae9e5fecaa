"""The notification-template editor (admins)."""

from __future__ import annotations

from tenants.models import Role
from tenants.resolver import tenant_blueprint

bp = tenant_blueprint("notifications", __name__, "/notification-templates", role=Role.ADMIN)
