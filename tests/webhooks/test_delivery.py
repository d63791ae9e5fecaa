"""Signed webhook deliveries to a real receiver: every signature verifies with the documented check, tampering, a
wrong secret and a stale timestamp do not; rotation signs with both secrets during the overlap; a receiver that is
down for a while gets every event once it is up (never twice per id); one that fails forever is switched off and
the admins are told."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.audit.models import AuditEvent
from app.outbound.models import OutgoingMail
from app.webhooks import signing
from app.webhooks.endpoints import create_endpoint, rotate_secret
from app.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from app.webhooks.services import deliver, due, emit
from tenants.models import utcnow


@pytest.fixture
def tenant(db, create_tenant):
    return create_tenant("acme")


def _run_due(db) -> None:
    """What the reconciler and RQ's scheduler do when the time has come: every pending delivery, one attempt."""
    db.session.execute(update(WebhookDelivery).where(WebhookDelivery.status == DeliveryStatus.PENDING)
                       .values(next_attempt_at=utcnow()))
    db.session.commit()
    for _tenant_id, delivery_id, _endpoint_id in due("default"):
        deliver(delivery_id)


def test_every_delivery_is_signed_and_the_documented_check_accepts_only_the_real_thing(db, tenant, receiver):
    _endpoint, secret = create_endpoint(tenant, url=receiver.url, events=["ticket.created"])
    emit(tenant, "ticket.created", {"ticket": {"reference": "ACME-1"}})
    emit(tenant, "message.sent", {"ignored": True})  # not subscribed
    db.session.commit()
    _run_due(db)
    (got,) = receiver.received
    header = got.headers[signing.HEADER]
    assert signing.verify(secret, got.body, header)
    event = json.loads(got.body)
    assert event["type"] == "ticket.created" and event["id"] == got.headers["Postroom-Id"]
    assert event["data"] == {"ticket": {"reference": "ACME-1"}} and event["tenant"] == "acme"
    assert not signing.verify(secret, got.body.replace(b"ACME-1", b"ACME-2"), header)  # tampered body
    assert not signing.verify("whsec_wrong", got.body, header)  # wrong secret
    stamp = int(header.split(",")[0].removeprefix("t="))
    assert not signing.verify(secret, got.body, header, now=stamp + signing.TOLERANCE + 1)  # a replay, too late
    (delivery,) = db.session.scalars(select(WebhookDelivery))
    assert delivery.status is DeliveryStatus.DELIVERED and delivery.attempts_log[0].status_code == 200


def test_after_rotation_both_secrets_verify_during_the_overlap_then_only_the_new(db, tenant, receiver):
    endpoint, old = create_endpoint(tenant, url=receiver.url, events=["ticket.updated"])
    new = rotate_secret(tenant, endpoint)
    emit(tenant, "ticket.updated", {"n": 1})
    db.session.commit()
    _run_due(db)
    during = receiver.received[-1]
    assert signing.verify(new, during.body, during.headers[signing.HEADER])
    assert signing.verify(old, during.body, during.headers[signing.HEADER])
    endpoint.previous_until = utcnow() - timedelta(seconds=1)  # the overlap is over
    emit(tenant, "ticket.updated", {"n": 2})
    db.session.commit()
    _run_due(db)
    after = receiver.received[-1]
    assert signing.verify(new, after.body, after.headers[signing.HEADER])
    assert not signing.verify(old, after.body, after.headers[signing.HEADER])


def test_a_receiver_down_for_a_while_gets_every_event_once_it_is_up(db, tenant, receiver):
    create_endpoint(tenant, url=receiver.url, events=["message.received"])
    db.session.commit()
    receiver.down()
    for n in range(5):
        emit(tenant, "message.received", {"n": n})
        db.session.commit()
    for _round in range(3):  # three rounds of retries while it is down: every attempt refused
        _run_due(db)
    pending = list(db.session.scalars(select(WebhookDelivery)))
    assert {d.status for d in pending} == {DeliveryStatus.PENDING} and {d.attempts for d in pending} == {3}
    assert all(d.last_status is None and "Connect" in d.last_error for d in pending)
    receiver.up()
    _run_due(db)
    _run_due(db)  # nothing left: a delivered event is never sent again
    ids = [r.headers["Postroom-Id"] for r in receiver.received]
    assert len(ids) == 5 and len(set(ids)) == 5
    assert sorted(json.loads(r.body)["data"]["n"] for r in receiver.received) == [0, 1, 2, 3, 4]
    assert db.session.scalar(select(WebhookAttempt).where(WebhookAttempt.status_code == 200)) is not None


def test_a_delivery_lost_with_its_worker_is_sent_again_with_the_same_id(db, tenant, receiver):
    create_endpoint(tenant, url=receiver.url, events=["message.sent"])
    (delivery,) = emit(tenant, "message.sent", {"n": 1})
    db.session.commit()
    db.session.execute(update(WebhookDelivery).values(status=DeliveryStatus.DELIVERING,
                                                      claimed_at=utcnow() - timedelta(hours=1)))
    db.session.commit()  # claimed by a worker that died before it could record anything
    for _tenant_id, delivery_id, _endpoint_id in due("default"):
        deliver(delivery_id)
    (got,) = receiver.received
    assert got.headers["Postroom-Id"] == delivery.event_id


def test_a_receiver_failing_forever_is_switched_off_and_the_admins_told(app, db, tenant, receiver, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOK_DISABLE_AFTER", 4)
    receiver.status = 500
    endpoint, _secret = create_endpoint(tenant, url=receiver.url, events=["ticket.created"])
    for n in range(2):
        emit(tenant, "ticket.created", {"n": n})
    db.session.commit()
    for _round in range(3):
        _run_due(db)
    endpoint = db.session.get(WebhookEndpoint, endpoint.id)
    assert not endpoint.active and "failed attempts in a row" in endpoint.disabled_reason
    assert {d.status for d in db.session.scalars(select(WebhookDelivery))} == {DeliveryStatus.DEAD}  # kept
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "webhook.disabled")) is not None
    notice = db.session.scalar(select(OutgoingMail).where(OutgoingMail.event == "webhook_disabled"))
    assert notice.recipients == [tenant.owner.email] and endpoint.url in notice.subject
    assert emit(tenant, "ticket.created", {"n": 9}) == []  # a switched-off endpoint gets nothing new


def test_the_url_is_refused_at_save_and_at_send_when_it_points_inside(app, db, tenant, receiver, monkeypatch):
    from app.errors import FieldErrors

    monkeypatch.setitem(app.config, "ALLOW_PRIVATE_HOSTS", False)
    with pytest.raises(FieldErrors) as refused:
        create_endpoint(tenant, url="https://127.0.0.1/hook", events=["ticket.created"])
    assert "url" in refused.value.errors
    with pytest.raises(FieldErrors):
        create_endpoint(tenant, url="http://example.com/hook", events=["ticket.created"])  # https only
    monkeypatch.setitem(app.config, "ALLOW_PRIVATE_HOSTS", True)
    inside = receiver.url.replace("http://", "https://")
    create_endpoint(tenant, url=inside, events=["ticket.created"])  # saved while allowed (dev) ...
    emit(tenant, "ticket.created", {})
    db.session.commit()
    monkeypatch.setitem(app.config, "ALLOW_PRIVATE_HOSTS", False)  # ... then refused at send
    _run_due(db)
    assert receiver.received == []
    (delivery,) = db.session.scalars(select(WebhookDelivery))
    assert "BlockedAddress" in delivery.last_error and delivery.status is DeliveryStatus.PENDING
