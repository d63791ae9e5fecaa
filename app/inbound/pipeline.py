"""Moving receipts through ingestion: enqueueing, replaying quarantined mail, and the reconciler.

RQ is only a trigger (a job whose worker was SIGKILLed is never re-run, see FINDINGS.md); the database says what is
unfinished. The reconciler re-enqueues every receipt still ``stored`` after a grace period, in batches; one whose
batch died twice is retried alone (so a poisonous mail stops taking its batch down), then quarantined as
``processing_failed``.
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.inbound.models import Receipt, ReceiptStatus
from tenants.models import Tenant, utcnow

INGEST_JOB = "worker.jobs.ingest.ingest_receipts_job"


def enqueue_ingest(tenant: Tenant, receipt_ids: list[int]) -> list:
    from tenants.queues import enqueue

    size = current_app.config["INGEST_BATCH"]
    return [enqueue(tenant, INGEST_JOB, receipt_ids[i:i + size], kind="ingest",
                    meta={"kind": "ingest", "receipts": len(receipt_ids[i:i + size])}, job_timeout=600)
            for i in range(0, len(receipt_ids), size)]


def replay(tenant: Tenant, receipt_ids: list[int], *, accept: bool = False) -> list[int]:
    """Put quarantined receipts of ``tenant`` back into ingestion; returns the ids that were replayed."""
    receipts = list(db.session.scalars(select(Receipt).where(
        Receipt.tenant_id == tenant.id, Receipt.id.in_(receipt_ids), Receipt.status == ReceiptStatus.QUARANTINED)))
    for receipt in receipts:
        receipt.status = ReceiptStatus.STORED
        receipt.quarantine_reason = receipt.quarantine_detail = receipt.processed_at = None
        receipt.attempts = 0
        receipt.accepted = receipt.accepted or accept
        receipt.received_at = utcnow()  # the reconciler's grace starts again: the replay job goes first
    db.session.commit()
    ids = [r.id for r in receipts]
    from tenants.queues import enqueue

    size = current_app.config["INGEST_BATCH"]
    for start in range(0, len(ids), size):
        batch = ids[start:start + size]
        enqueue(tenant, INGEST_JOB, batch, accept=accept, kind="ingest",
                meta={"kind": "replay", "receipts": len(batch)}, job_timeout=600)
    return ids


def reconcile(region: str) -> dict[str, int]:
    """Re-enqueue unfinished receipts of ``region``; quarantine those that used up their attempts."""
    from app.inbound.ingest import quarantine

    limit = current_app.config["INGEST_MAX_ATTEMPTS"]
    # Longer than a normal ingest takes: do not race the job that is running it.
    cutoff = utcnow() - timedelta(seconds=current_app.config["INGEST_GRACE"])
    rows = db.session.execute(
        select(Receipt.id, Receipt.tenant_id, Receipt.attempts).join(Tenant, Tenant.id == Receipt.tenant_id)
        .where(Tenant.region == region, Receipt.status == ReceiptStatus.STORED, Receipt.received_at < cutoff)
        .order_by(Receipt.id).limit(10_000)).all()
    batches: dict[int, list[int]] = {}
    alone: list[tuple[int, int]] = []
    given_up = 0
    for receipt_id, tenant_id, attempts in rows:
        if attempts >= limit:
            quarantine(receipt_id, "processing_failed", f"stopped its worker {attempts} times")
            given_up += 1
        elif attempts >= 2:  # its batch died twice: find the culprit by running each alone
            alone.append((tenant_id, receipt_id))
        else:
            batches.setdefault(tenant_id, []).append(receipt_id)
    for tenant_id, ids in batches.items():
        enqueue_ingest(db.session.get(Tenant, tenant_id), ids)
    for tenant_id, receipt_id in alone:
        enqueue_ingest(db.session.get(Tenant, tenant_id), [receipt_id])
    return {"enqueued": sum(map(len, batches.values())) + len(alone), "quarantined": given_up}
