"""Webhooks through the API: the secret in the create and rotate answers only, problem+json pointers for a bad
URL or event, the delivery log with dead letters and a replay, and another tenant's endpoint is a 404."""

from __future__ import annotations

import pytest

from app.webhooks.services import deliver, emit
from tests.api.problems import field_errors


@pytest.fixture
def acme(db, create_tenant):
    return create_tenant("acme")


@pytest.fixture
def headers(acme, api_token):
    return api_token(acme)


def test_endpoint_round_trip_with_the_secret_shown_once(client, db, acme, headers, receiver):
    bad = client.post("/api/v1/webhooks", json={"url": "ftp://example.com", "events": ["nope"]}, headers=headers)
    assert set(field_errors(bad)) >= {"#/url", "#/events"}
    created = client.post("/api/v1/webhooks", json={"url": receiver.url, "events": ["ticket.created"]},
                          headers=headers)
    assert created.status_code == 201
    body = created.get_json()
    assert body["secret"].startswith("whsec_") and body["events"] == ["ticket.created"] and body["active"]
    endpoint_id = body["id"]
    shown = client.get(f"/api/v1/webhooks/{endpoint_id}", headers=headers).get_json()
    listed = str(client.get("/api/v1/webhooks", headers=headers).get_json())
    assert "secret" not in shown and body["secret"] not in str(shown) and body["secret"] not in listed
    patched = client.patch(f"/api/v1/webhooks/{endpoint_id}", json={"events": ["ticket.created", "message.sent"]},
                           headers=headers)
    assert patched.status_code == 200 and patched.get_json()["url"] == receiver.url
    rotated = client.post(f"/api/v1/webhooks/{endpoint_id}/rotate-secret", headers=headers).get_json()
    assert rotated["secret"] != body["secret"] and rotated["previous_secret_until"]


def test_delivery_log_dead_letters_and_replay(client, db, acme, headers, receiver):
    endpoint_id = client.post("/api/v1/webhooks", json={"url": receiver.url, "events": ["ticket.created"]},
                              headers=headers).get_json()["id"]
    (delivery,) = emit(acme, "ticket.created", {"n": 1})
    db.session.commit()
    deliver(delivery.id)
    log = client.get(f"/api/v1/webhooks/{endpoint_id}/deliveries", headers=headers).get_json()
    (item,) = log["items"]
    assert item["status"] == "delivered" and item["attempt_log"][0]["status_code"] == 200
    assert client.get(f"/api/v1/webhooks/{endpoint_id}/deliveries?status=dead", headers=headers).get_json()[
        "items"] == []
    replayed = client.post(f"/api/v1/webhooks/{endpoint_id}/deliveries/{delivery.id}/replay", headers=headers)
    assert replayed.status_code == 202 and replayed.get_json()["status"] == "pending"
    deliver(delivery.id)
    assert [r.headers["Postroom-Id"] for r in receiver.received] == [delivery.event_id] * 2


def test_another_tenants_endpoint_is_a_404(client, db, create_tenant, headers, receiver):
    from app.webhooks.endpoints import create_endpoint

    theirs, _secret = create_endpoint(create_tenant("other"), url=receiver.url, events=["ticket.created"])
    db.session.commit()
    for method, path in (("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/rotate-secret"),
                         ("GET", "/deliveries"), ("POST", "/deliveries/1/replay")):
        response = client.open(f"/api/v1/webhooks/{theirs.id}{path}", method=method, json={}, headers=headers)
        assert response.status_code == 404, (method, path)
