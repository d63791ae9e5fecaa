"""Delivery jobs: one mailbox's due mail over one SMTP connection, and the outbox reconciler."""

from __future__ import annotations

from rq import Retry

from worker.jobs import job

# A job that crashed (the database away for a moment): try again soon; the rows' own schedule is untouched.
CRASH_RETRY = Retry(max=3, interval=[5, 30, 120])


@job
def deliver_mailbox(tenant_id: int, mailbox_id: int | None) -> dict:
    from app.outbound.delivery import deliver_mailbox as deliver

    return deliver(tenant_id, mailbox_id)


@job
def reconcile_outbox(region: str) -> dict:
    from app.outbound.reconcile import reconcile

    return reconcile(region)


@job
def inbound_notices(message_ids: list[int]) -> int:
    from app.outbound.inbound_notices import send_notices

    return send_notices(message_ids)
