"""Webhook jobs: one delivery attempt, and the reconciler that finds deliveries whose job was lost."""

from __future__ import annotations

from worker.jobs import job


@job
def deliver_webhook(delivery_id: int) -> str:
    from app.webhooks.services import deliver

    return deliver(delivery_id)


@job
def reconcile_webhooks(region: str) -> int:
    from app.webhooks.services import due, kick

    rows = due(region)
    for tenant_id, delivery_id, endpoint_id in rows:
        kick(region, tenant_id, delivery_id, endpoint_id)
    return len(rows)


@job
def inbound_events(message_ids: list[int]) -> int:
    from app.outbound.inbound_notices import inbound_events as emit_events

    return emit_events(message_ids)
