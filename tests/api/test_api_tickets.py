"""Tickets and quarantine through the API: shapes, filters, replay, and another tenant's objects are 404."""

from __future__ import annotations

from tests.inbound.conftest import make_mail

PROBLEM = "application/problem+json"


def test_tickets_list_filters_and_detail_with_thread_reasons(client, db, inbox, api_token):
    headers = api_token(inbox.tenant)
    first = inbox.message_of(inbox.deliver(make_mail(subject="VPN broken", message_id="<a1@client.test>",
                                                     sender="Ann <ann@client.test>")))
    inbox.deliver(make_mail(subject="Re: VPN broken", headers={"In-Reply-To": "<a1@client.test>"}))
    inbox.deliver(make_mail(subject="Printer", sender="bob@client.test"))
    listed = client.get("/api/v1/tickets", headers=headers).json
    assert listed["meta"]["total"] == 2 and {t["subject"] for t in listed["items"]} == {"VPN broken", "Printer"}
    found = client.get("/api/v1/tickets?q=ann@client", headers=headers).json["items"]
    assert [t["reference"] for t in found] == [first.ticket.reference]
    assert client.get("/api/v1/tickets?status=closed", headers=headers).json["meta"]["total"] == 0
    assert client.get(f"/api/v1/tickets?queue={inbox.queue.id}&status=open", headers=headers).json["meta"]["total"] == 2
    bad = client.get("/api/v1/tickets?status=sleeping", headers=headers)
    assert bad.status_code == 422 and bad.mimetype == PROBLEM and bad.json["errors"][0]["pointer"] == "#/status"

    detail = client.get(f"/api/v1/tickets/{first.ticket_id}", headers=headers).json
    assert detail["requester"]["email"] == "ann@client.test"
    messages = detail["messages"]
    assert [m["thread_reason"] for m in messages] == ["new", "in_reply_to"]
    assert messages[0]["from"] == {"name": "Ann", "address": "ann@client.test"}
    assert messages[0]["to"] == [{"name": "", "address": "support@acme.test"}]
    assert messages[0]["message_id"] == "a1@client.test" and "floor 3" in messages[0]["text"]
    assert {e["kind"] for e in detail["events"]} >= {"threaded", "routed", "acknowledgement"}


def test_quarantine_lists_reasons_and_replays(client, db, inbox, api_token, run_jobs):
    from app.inbound.models import Receipt

    headers = api_token(inbox.tenant)
    inbox.tenant.allowed_sender_domains = ["client.test"]
    db.session.commit()
    held = inbox.deliver(make_mail(sender="x@stranger.test"))
    page = client.get("/api/v1/quarantine", headers=headers).json
    assert page["meta"]["total"] == 1
    item = page["items"][0]
    assert item["id"] == held.id and item["reason"] == "sender_not_allowed" and item["detail"] == "x@stranger.test"
    assert client.get("/api/v1/quarantine?reason=too_deep", headers=headers).json["meta"]["total"] == 0
    replayed = client.post(f"/api/v1/quarantine/{held.id}/replay", json={}, headers=headers)
    assert replayed.status_code == 202 and replayed.json == {"replayed": [held.id]}
    run_jobs()
    db.session.expire_all()
    assert db.session.get(Receipt, held.id).quarantine_reason == "sender_not_allowed"  # the policy still holds
    accepted = client.post("/api/v1/quarantine/replay", json={"reason": "sender_not_allowed", "accept": True},
                           headers=headers)
    assert accepted.json == {"replayed": [held.id]}
    run_jobs()
    db.session.expire_all()
    assert db.session.get(Receipt, held.id).status == "ingested"
    assert client.post(f"/api/v1/quarantine/{held.id}/replay", json={}, headers=headers).status_code == 404


def test_another_tenants_tickets_and_quarantine_are_404(client, db, inbox, api_token, create_tenant):
    message = inbox.message_of(inbox.deliver(make_mail()))
    inbox.tenant.allowed_sender_domains = ["nowhere.test"]
    db.session.commit()
    held = inbox.deliver(make_mail(sender="x@elsewhere.test"))
    other = api_token(create_tenant("other"))
    assert client.get(f"/api/v1/tickets/{message.ticket_id}", headers=other).status_code == 404
    assert client.get(f"/api/v1/quarantine/{held.id}", headers=other).status_code == 404
    assert client.post(f"/api/v1/quarantine/{held.id}/replay", json={}, headers=other).status_code == 404
    assert client.post("/api/v1/quarantine/replay", json={"ids": [held.id]}, headers=other).json == {"replayed": []}
    assert client.get("/api/v1/tickets", headers=other).json["meta"]["total"] == 0
