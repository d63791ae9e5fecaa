"""Ingestion jobs: stored receipts → ticket messages, and the reconciler that finds what a killed worker left."""

from __future__ import annotations

from worker.jobs import job


@job
def ingest_receipts_job(receipt_ids: list[int], accept: bool = False) -> dict:
    from app.inbound.ingest import ingest_one, ingest_receipts

    if accept:  # an admin released these from quarantine: sender policies waived
        return {str(receipt_id): ingest_one(receipt_id, accept=True) for receipt_id in receipt_ids}
    return ingest_receipts(receipt_ids)


@job
def reconcile_receipts(region: str) -> dict:
    from app.inbound.pipeline import reconcile

    return reconcile(region)
