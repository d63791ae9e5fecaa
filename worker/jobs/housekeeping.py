"""Housekeeping: expired invitations are withdrawn so their links stop working and lists stay short."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select, update

from app.extensions import db
from app.members.models import Invitation
from tenants.models import Tenant, utcnow
from tenants.queues import enqueue
from worker.jobs import job


@job
def expire_invitations(tenant_id: int) -> int:
    """Mark one tenant's overdue invitations revoked; returns how many. Running it twice changes nothing more."""
    now = utcnow()
    result = db.session.execute(
        update(Invitation)
        .where(Invitation.tenant_id == tenant_id, Invitation.expires_at <= now,
               Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    db.session.commit()
    return result.rowcount


@job
def expire_invitations_in_region(region: str) -> int:
    """Fan out: one ``expire_invitations`` job per tenant of ``region``, on that region's queue."""
    tenants = list(db.session.scalars(select(Tenant).where(Tenant.region == region)))
    for tenant in tenants:
        enqueue(tenant, "worker.jobs.housekeeping.expire_invitations", tenant.id)
    current_app.logger.info("invitation expiry fanned out", extra={"region": region, "tenants": len(tenants)})
    return len(tenants)


@job
def purge_old_logs_in_region(region: str) -> dict[str, int]:
    """Each tenant's communication log, audit log and health roll-ups beyond its retention, a batch per tenant."""
    from app.logs.retention import purge_tenant_logs

    totals: dict[str, int] = {}
    for tenant in db.session.scalars(select(Tenant).where(Tenant.region == region)).all():
        for table, count in purge_tenant_logs(tenant).items():
            totals[table] = totals.get(table, 0) + count
    current_app.logger.info("old log entries purged", extra={"region": region, **totals})
    return totals
