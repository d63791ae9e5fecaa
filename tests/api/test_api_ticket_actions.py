"""Agents' actions through the API: field changes (with the version check), notes never sent, replies into the
outbox (a DLP block is a 422 at #/body, nothing queued), the ticket's deliveries, and another tenant's ticket."""

from __future__ import annotations

import pytest

from app.outbound.models import OutgoingMail
from tests.api.problems import field_errors
from tests.fixtures.inbox import make_mail


@pytest.fixture
def ticket(inbox):
    return inbox.message_of(inbox.deliver(make_mail(sender="Ann <ann@client.test>"))).ticket


@pytest.fixture
def headers(inbox, api_token):
    return api_token(inbox.tenant)


def test_change_fields_with_the_version_check(client, db, inbox, ticket, headers):
    url = f"/api/v1/tickets/{ticket.id}"
    version = ticket.version
    changed = client.patch(url, json={"status": "pending", "priority": "high", "queue_id": inbox.queue.id,
                                      "version": version}, headers=headers)
    assert changed.status_code == 200
    assert (changed.get_json()["status"], changed.get_json()["priority"]) == ("pending", "high")
    stale = client.patch(url, json={"status": "closed", "version": version}, headers=headers)
    assert stale.status_code == 409 and stale.mimetype == "application/problem+json"
    assert "changed since version" in stale.get_json()["detail"]
    bad = client.patch(url, json={"status": "gone", "assignee_id": 999999, "queue_id": 999999}, headers=headers)
    assert set(field_errors(bad)) == {"#/status", "#/assignee_id", "#/queue_id"}


def test_notes_are_never_sent_and_replies_go_to_the_outbox(client, db, inbox, ticket, headers):
    note = client.post(f"/api/v1/tickets/{ticket.id}/notes", json={"body": "Call them back."}, headers=headers)
    assert note.status_code == 201 and note.get_json()["direction"] == "note"
    before = db.session.query(OutgoingMail).count()
    assert db.session.query(OutgoingMail).filter(OutgoingMail.event == "agent_reply").count() == 0
    reply = client.post(f"/api/v1/tickets/{ticket.id}/replies", json={"body": "We are on it."}, headers=headers)
    assert reply.status_code == 201
    body = reply.get_json()
    assert body["direction"] == "outbound" and body["delivery_status"] == "queued"
    assert db.session.query(OutgoingMail).count() == before + 1
    logged = client.get(f"/api/v1/tickets/{ticket.id}/deliveries", headers=headers).get_json()
    assert logged[0]["kind"] == "reply" and logged[0]["recipients"] == ["ann@client.test"]
    assert logged[0]["status"] == "queued" and logged[0]["attempt_log"] == []


def test_a_dlp_block_is_a_422_at_the_body_and_nothing_is_queued(client, db, inbox, ticket, headers):
    from app.dlp.services import create_rule

    create_rule(inbox.tenant, name="Cards", kind="card_number", action="block")
    before = db.session.query(OutgoingMail).count()
    blocked = client.post(f"/api/v1/tickets/{ticket.id}/replies", json={"body": "Card: 4111 1111 1111 1111"},
                          headers=headers)
    assert "Cards" in field_errors(blocked)["#/body"]
    assert db.session.query(OutgoingMail).count() == before


def test_another_tenants_ticket_is_a_404(client, db, create_tenant, api_token, ticket):
    headers = api_token(create_tenant("other"))
    for method, path, body in (("PATCH", "", {"status": "closed"}), ("POST", "/notes", {"body": "x"}),
                               ("POST", "/replies", {"body": "x"}), ("GET", "/deliveries", None)):
        response = client.open(f"/api/v1/tickets/{ticket.id}{path}", method=method, json=body, headers=headers)
        assert response.status_code == 404, (method, path)
