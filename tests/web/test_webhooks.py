"""The webhooks page (admins): the secret shown once at creation and rotation, field errors for bad URLs and event
choices, the delivery log and its replay button; another tenant's endpoint or delivery is a 404."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from app.webhooks.services import deliver, emit
from tenants.models import Role

BASE = "/t/acme/webhooks"


@pytest.fixture
def admin(db, create_tenant, login):
    tenant = create_tenant("acme")
    login(tenant.owner)
    return tenant


def _csrf(client, path: str = f"{BASE}/") -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', client.get(path).get_data(as_text=True))[1]


def test_create_shows_the_secret_once_and_refuses_bad_input(client, db, admin, receiver):
    token = _csrf(client)
    bad = client.post(f"{BASE}/", data={"csrf_token": token, "url": "ftp://x", "events": ["nonsense"]})
    assert bad.status_code == 422
    page = bad.get_data(as_text=True)
    assert "Enter an https:// address" in page and "Choose one or more events from the list." in page
    response = client.post(f"{BASE}/", data={"csrf_token": token, "url": receiver.url, "active": "y",
                                              "events": ["ticket.created", "message.received"]})
    assert response.status_code == 200
    secret = re.search(r'id="secret-value">(whsec_[\w-]+)<', response.get_data(as_text=True))[1]
    endpoint = db.session.scalar(select(WebhookEndpoint))
    assert endpoint.secret == secret and endpoint.events == ["ticket.created", "message.received"]
    assert secret not in client.get(f"{BASE}/").get_data(as_text=True)  # never again
    rotated = client.post(f"{BASE}/{endpoint.id}/rotate", data={"csrf_token": token}).get_data(as_text=True)
    new = re.search(r'id="secret-value">(whsec_[\w-]+)<', rotated)[1]
    db.session.expire_all()
    endpoint = db.session.get(WebhookEndpoint, endpoint.id)
    assert new != secret and endpoint.secret == new and endpoint.previous_secret == secret
    assert "keeps signing alongside it" in rotated


def test_edit_delete_and_the_delivery_log_with_replay(client, db, admin, receiver):
    token = _csrf(client)
    client.post(f"{BASE}/", data={"csrf_token": token, "url": receiver.url, "events": ["ticket.updated"],
                                  "active": "y"})
    endpoint = db.session.scalar(select(WebhookEndpoint))
    edited = client.post(f"{BASE}/{endpoint.id}/edit", data={
        "csrf_token": token, "url": receiver.url, "events": ["ticket.updated", "message.sent"], "active": "y",
        "description": "CRM"})
    assert edited.status_code == 302
    (delivery,) = emit(admin, "ticket.updated", {"n": 1})
    db.session.commit()
    deliver(delivery.id)
    log = client.get(f"{BASE}/{endpoint.id}/deliveries").get_data(as_text=True)
    assert delivery.event_id in log and "HTTP 200" in log
    replayed = client.post(f"{BASE}/{endpoint.id}/deliveries/{delivery.id}/replay", data={"csrf_token": token})
    assert replayed.status_code == 302
    db.session.expire_all()
    assert db.session.get(WebhookDelivery, delivery.id).status is DeliveryStatus.PENDING
    deliver(delivery.id)
    assert [r.headers["Postroom-Id"] for r in receiver.received] == [delivery.event_id] * 2  # same id again
    assert client.post(f"{BASE}/{endpoint.id}/delete", data={"csrf_token": token}).status_code == 302
    assert db.session.scalar(select(WebhookEndpoint)) is None


def test_agents_cannot_see_webhooks_and_other_tenants_ids_are_404(client, db, admin, create_tenant, add_member,
                                                                 login, receiver):
    from app.webhooks.endpoints import create_endpoint

    other = create_tenant("other")
    theirs, _secret = create_endpoint(other, url=receiver.url, events=["ticket.created"])
    (their_delivery,) = emit(other, "ticket.created", {})
    db.session.commit()
    token = _csrf(client)
    assert client.get(f"{BASE}/{theirs.id}/edit").status_code == 404
    assert client.get(f"{BASE}/{theirs.id}/deliveries").status_code == 404
    assert client.post(f"{BASE}/{theirs.id}/deliveries/{their_delivery.id}/replay",
                       data={"csrf_token": token}).status_code == 404
    assert client.post(f"{BASE}/{theirs.id}/rotate", data={"csrf_token": token}).status_code == 404
    agent = add_member(admin, Role.AGENT)
    client.post("/logout")
    login(agent)
    assert client.get(f"{BASE}/").status_code == 403
