"""Webhook events: one delivery row per subscribed endpoint (in the caller's transaction), a job per delivery,
retries over hours, endpoints that keep failing switched off with their admins told.

At least once: a delivery is ``delivered`` only after a 2xx answer was recorded; a worker that dies before that
leaves it ``delivering`` until the reconciler takes it back, and it is sent again with the same ``Postroom-Id``
(the idempotency id receivers de-duplicate on).
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Callable
from datetime import timedelta

from flask import current_app
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from app import metrics
from app.audit.services import record
from app.extensions import db
from app.webhooks import signing, transport
from app.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from tenants.models import Tenant, utcnow

DELIVER_JOB = "worker.jobs.webhooks.deliver_webhook"
_KICKS = "webhook_kicks"


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def listening(tenant: Tenant) -> bool:
    """Whether ``tenant`` has an active endpoint at all (one indexed look-up)."""
    return db.session.scalar(select(WebhookEndpoint.id).where(
        WebhookEndpoint.tenant_id == tenant.id, WebhookEndpoint.active).limit(1)) is not None


def subscribed(tenant: Tenant, event_name: str) -> list[WebhookEndpoint]:
    endpoints = db.session.scalars(WebhookEndpoint.all(tenant).where(WebhookEndpoint.active))
    return [endpoint for endpoint in endpoints if event_name in (endpoint.events or [])]


def emit(tenant: Tenant, event_name: str, data: dict | Callable[[], dict]) -> list[WebhookDelivery]:
    """The event for every active endpoint of ``tenant`` that subscribed to it (added to the session; the
    caller's commit makes them durable and enqueues their jobs). ``data`` may be a function: it is only called
    when somebody listens."""
    chosen = subscribed(tenant, event_name)
    if not chosen:
        return []
    data = data() if callable(data) else data
    event_id = f"evt_{uuid.uuid4().hex}"
    body = json.dumps({"id": event_id, "type": event_name, "created_at": utcnow().isoformat(),
                       "tenant": tenant.slug, "data": data}, separators=(",", ":"), default=str).encode()
    deliveries = [WebhookDelivery(tenant_id=tenant.id, endpoint_id=endpoint.id, event=event_name, event_id=event_id,
                                  body=body, status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=utcnow())
                  for endpoint in chosen]
    db.session.add_all(deliveries)
    db.session.flush()
    for delivery in deliveries:
        _kick_after_commit(tenant.region, tenant.id, delivery.id, delivery.endpoint_id)
    return deliveries


def deliver(delivery_id: int) -> str:
    """One attempt at one delivery; its outcome, recorded. Returns the delivery's status."""
    delivery = _claim(delivery_id)
    if delivery is None:
        return "skipped"
    endpoint = delivery.endpoint
    headers = {"Postroom-Id": delivery.event_id, "Postroom-Event": delivery.event,
               signing.HEADER: signing.sign(_signing_secrets(endpoint), delivery.body),
               "User-Agent": "Postroom-Webhooks/1"}
    answer = transport.post(endpoint.url, delivery.body, headers, timeout=current_app.config["WEBHOOK_TIMEOUT"],
                            allow_private=current_app.config["ALLOW_PRIVATE_HOSTS"])
    delivery.attempts += 1
    db.session.add(WebhookAttempt(tenant_id=delivery.tenant_id, delivery_id=delivery.id, number=delivery.attempts,
                                  status_code=answer.status, error=answer.error, response=answer.body,
                                  latency_ms=answer.latency_ms, started_at=utcnow()))
    delivery.claimed_at, delivery.last_status, delivery.last_error = None, answer.status, answer.error
    if answer.ok:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = DeliveryStatus.DELIVERED, utcnow(), None
        endpoint.failure_streak = 0
    else:
        _failed(delivery, endpoint)
    tenant = db.session.get(Tenant, delivery.tenant_id)
    metrics.count_webhook(tenant.region, delivery.status.value)
    db.session.commit()
    if delivery.status == DeliveryStatus.PENDING:
        wait = max(1, int((delivery.next_attempt_at - utcnow()).total_seconds()))
        kick(tenant.region, tenant.id, delivery.id, delivery.endpoint_id, wait)
    return delivery.status.value


def _claim(delivery_id: int) -> WebhookDelivery | None:
    claimed = db.session.execute(update(WebhookDelivery).where(
        WebhookDelivery.id == delivery_id, WebhookDelivery.status == DeliveryStatus.PENDING,
        WebhookDelivery.next_attempt_at <= utcnow()).values(status=DeliveryStatus.DELIVERING, claimed_at=utcnow())
        .execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    return db.session.get(WebhookDelivery, delivery_id) if claimed else None


def _signing_secrets(endpoint: WebhookEndpoint) -> list[str]:
    """The current secret, and during a rotation's overlap the previous one too."""
    overlap = endpoint.previous_secret and endpoint.previous_until and endpoint.previous_until > utcnow()
    return [endpoint.secret, endpoint.previous_secret] if overlap else [endpoint.secret]


def _failed(delivery: WebhookDelivery, endpoint: WebhookEndpoint) -> None:
    schedule = current_app.config["WEBHOOK_RETRY_SCHEDULE"]
    endpoint.failure_streak = (endpoint.failure_streak or 0) + 1
    if delivery.attempts <= len(schedule):
        delivery.status = DeliveryStatus.PENDING
        delivery.next_attempt_at = utcnow() + timedelta(seconds=schedule[delivery.attempts - 1])
    else:
        delivery.status, delivery.next_attempt_at = DeliveryStatus.DEAD, None
    if endpoint.active and endpoint.failure_streak >= current_app.config["WEBHOOK_DISABLE_AFTER"]:
        disable(endpoint, f"{endpoint.failure_streak} failed attempts in a row")


def disable(endpoint: WebhookEndpoint, reason: str) -> None:
    """Switch off an endpoint that keeps failing: what it still owes becomes dead letters (replayable), and the
    tenant's admins are told by mail."""
    from app.outbound import notifications

    tenant = db.session.get(Tenant, endpoint.tenant_id)
    endpoint.active, endpoint.disabled_reason = False, reason[:200]
    db.session.execute(update(WebhookDelivery).where(
        WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.status == DeliveryStatus.PENDING)
        .values(status=DeliveryStatus.DEAD, next_attempt_at=None).execution_options(synchronize_session=False))
    record(tenant, "webhook.disabled", object_type="webhook_endpoint", object_id=endpoint.id, label=endpoint.url,
           changes={"active": [True, False], "reason": reason})
    notifications.webhook_disabled(tenant, endpoint, notifications.admins(tenant), reason)


def delivery_of(tenant: Tenant, endpoint: WebhookEndpoint, delivery_id: int) -> WebhookDelivery | None:
    """One of ``endpoint``'s deliveries (``None`` for another endpoint's or tenant's)."""
    return db.session.scalar(select(WebhookDelivery).where(
        WebhookDelivery.tenant_id == tenant.id, WebhookDelivery.endpoint_id == endpoint.id,
        WebhookDelivery.id == delivery_id))


def replay(tenant: Tenant, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again (a dead letter, or one already delivered): same body, same idempotency id."""
    delivery.status, delivery.next_attempt_at, delivery.claimed_at = DeliveryStatus.PENDING, utcnow(), None
    record(tenant, "webhook.replayed", object_type="webhook_delivery", object_id=delivery.id,
           label=delivery.event_id)
    _kick_after_commit(tenant.region, tenant.id, delivery.id, delivery.endpoint_id)
    return delivery


def due(region: str, *, stale_after: int = 300) -> list[tuple[int, int, int]]:
    """(tenant id, delivery id, endpoint id) of pending deliveries whose time has come, after taking back those a
    dead worker had claimed; the reconciler enqueues them."""
    in_region = select(Tenant.id).where(Tenant.region == region)
    db.session.execute(update(WebhookDelivery).where(
        WebhookDelivery.status == DeliveryStatus.DELIVERING, WebhookDelivery.tenant_id.in_(in_region),
        WebhookDelivery.claimed_at < utcnow() - timedelta(seconds=stale_after))
        .values(status=DeliveryStatus.PENDING, claimed_at=None, next_attempt_at=utcnow())
        .execution_options(synchronize_session=False))
    rows = db.session.execute(select(WebhookDelivery.tenant_id, WebhookDelivery.id, WebhookDelivery.endpoint_id)
                              .where(WebhookDelivery.status == DeliveryStatus.PENDING,
                                     WebhookDelivery.next_attempt_at <= utcnow(),
                                     WebhookDelivery.tenant_id.in_(in_region)).limit(5000)).all()
    db.session.commit()
    return [tuple(row) for row in rows]



def _kick_after_commit(region: str, tenant_id: int, delivery_id: int, endpoint_id: int) -> None:
    db.session.info.setdefault(_KICKS, []).append((region, tenant_id, delivery_id, endpoint_id))


@event.listens_for(Session, "after_commit")
def _enqueue_kicks(session: Session) -> None:
    for region, tenant_id, delivery_id, endpoint_id in session.info.pop(_KICKS, []):
        try:
            kick(region, tenant_id, delivery_id, endpoint_id)
        except Exception:  # Redis away: the reconciler finds the pending delivery
            current_app.logger.warning("webhook job not enqueued", exc_info=True, extra={"delivery_id": delivery_id})


@event.listens_for(Session, "after_rollback")
def _drop_kicks(session: Session) -> None:
    session.info.pop(_KICKS, None)


def kick(region: str, tenant_id: int, delivery_id: int, endpoint_id: int, delay: int = 0) -> None:
    """The delivery's job on the region's ``webhooks`` queue, at most ``WEBHOOK_CONCURRENCY`` per endpoint."""
    from rq.rate_limit import RateLimit

    from tenants.queues import region_queue
    from tenants.regions import get_region

    queue = region_queue(get_region(region), "webhooks")
    options = {"meta": {"tenant_id": tenant_id, "kind": "webhook"},
               "rate_limit": RateLimit(f"postroom:webhook:{endpoint_id}", current_app.config["WEBHOOK_CONCURRENCY"])}
    if delay > 0:
        queue.enqueue_in(timedelta(seconds=delay), DELIVER_JOB, delivery_id, **options)
    else:
        queue.enqueue(DELIVER_JOB, delivery_id, **options)
