"""Data-loss-prevention rules (admins)."""

from __future__ import annotations

from tenants.models import Role
from tenants.resolver import tenant_blueprint

bp = tenant_blueprint("dlp", __name__, "/dlp", role=Role.ADMIN)
