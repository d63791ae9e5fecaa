"""The tenant-wide communication log: every connection attempt of every mailbox, filtered."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select

from app.connections.models import ConnectionKind, ConnectionLog
from tenants.models import Tenant

KINDS = tuple(kind.value for kind in ConnectionKind)
OUTCOMES = ("ok", "failed")


def communication_log(tenant: Tenant, *, mailbox_id: int | None = None, kind: str | None = None,
                      outcome: str | None = None, category: str | None = None, since: datetime | None = None,
                      until: datetime | None = None) -> Select:
    """Newest first; ``since`` inclusive, ``until`` exclusive. Unknown kinds and outcomes filter nothing out."""
    query = ConnectionLog.all(tenant)
    if mailbox_id:
        query = query.where(ConnectionLog.mailbox_id == mailbox_id)
    if kind in KINDS:
        query = query.where(ConnectionLog.kind == ConnectionKind(kind))
    if outcome in OUTCOMES:
        query = query.where(ConnectionLog.ok.is_(outcome == "ok"))
    if category:
        query = query.where(ConnectionLog.category == category)
    if since:
        query = query.where(ConnectionLog.started_at >= since)
    if until:
        query = query.where(ConnectionLog.started_at < until)
    return query.order_by(ConnectionLog.started_at.desc(), ConnectionLog.id.desc())
