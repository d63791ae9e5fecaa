"""Deleting log entries older than the tenant's retention, in bounded batches so one run never holds a long lock
or a huge transaction; what is left goes in the next run (hourly)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select

from app.audit.models import AuditEvent
from app.connections.models import ConnectionLog
from app.extensions import db
from app.health.models import MailboxHour
from tenants.models import Tenant, utcnow

BATCH = 5000
ROLLUP_DAYS = 35  # the health page reads 7 days of hourly roll-ups; a month is kept for context


def purge_tenant_logs(tenant: Tenant, batch: int = BATCH) -> dict[str, int]:
    now = utcnow()
    removed = {
        "connection_logs": _purge(ConnectionLog, ConnectionLog.started_at, tenant,
                                  now - timedelta(days=tenant.commlog_retention_days), batch),
        "audit_events": _purge(AuditEvent, AuditEvent.created_at, tenant,
                               now - timedelta(days=tenant.audit_retention_days), batch),
        "mailbox_hours": _purge(MailboxHour, MailboxHour.hour, tenant,
                                now - timedelta(days=max(ROLLUP_DAYS, tenant.commlog_retention_days)), batch),
    }
    db.session.commit()
    return removed


def _purge(model, time_column, tenant: Tenant, before, batch: int) -> int:
    ids = select(model.id).where(model.tenant_id == tenant.id, time_column < before).limit(batch)
    return db.session.execute(delete(model).where(model.id.in_(ids.scalar_subquery()))).rowcount or 0
