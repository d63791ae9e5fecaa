"""Contacts through the API: search, and marking VIPs (whose new tickets start high and skip rules)."""

import pytest
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.routing.models import RoutingRule
from app.tickets.models import Contact
from tests.fixtures.inbox import make_mail


def _contact(db, tenant, email: str, name: str = "", vip: bool = False) -> Contact:
    contact = Contact(tenant_id=tenant.id, email=email, name=name, vip=vip)
    db.session.add(contact)
    db.session.commit()
    return contact


@pytest.fixture
def acme(db, create_tenant):
    return create_tenant("acme")


def _emails(client, headers, query: str = "") -> list[str]:
    response = client.get(f"/api/v1/contacts{query}", headers=headers)
    assert response.status_code == 200
    return [c["email"] for c in response.json["items"]]


def test_list_and_search(client, db, acme, api_token):
    headers = api_token(acme)
    _contact(db, acme, "jo@client.test", "Jo Smith")
    _contact(db, acme, "ceo@board.test", "Chair", vip=True)
    _contact(db, acme, "100%_sure@client.test")
    assert _emails(client, headers) == ["100%_sure@client.test", "ceo@board.test", "jo@client.test"]
    assert _emails(client, headers, "?q=smith") == ["jo@client.test"]
    assert _emails(client, headers, "?q=BOARD") == ["ceo@board.test"]
    assert _emails(client, headers, "?q=%25_") == ["100%_sure@client.test"]  # % and _ are literal
    assert _emails(client, headers, "?vip=true") == ["ceo@board.test"]
    item = client.get("/api/v1/contacts?q=jo@", headers=headers).json["items"][0]
    assert set(item) == {"id", "email", "name", "vip", "bouncing"}


def test_marking_a_vip_is_audited_and_takes_effect(client, db, inbox, api_token):
    headers = api_token(inbox.tenant)
    db.session.add(RoutingRule(tenant_id=inbox.tenant.id, name="Low", field="any", pattern=".", priority="low"))
    contact = _contact(db, inbox.tenant, "jo@client.test")
    response = client.patch(f"/api/v1/contacts/{contact.id}", json={"vip": True}, headers=headers)
    assert response.status_code == 200 and response.json["vip"] is True
    ticket = inbox.message_of(inbox.deliver(make_mail(sender="jo@client.test"))).ticket
    assert ticket.priority.value == "high"
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "contact.updated"))
    assert event.changes == {"vip": [False, True]} and event.object_label == "jo@client.test"
    assert client.patch(f"/api/v1/contacts/{contact.id}", json={"vip": False}, headers=headers).json["vip"] is False


def test_errors_and_other_tenants(client, db, acme, create_tenant, api_token):
    headers = api_token(acme)
    theirs = _contact(db, create_tenant("globex"), "secret@globex.test")
    assert client.patch(f"/api/v1/contacts/{theirs.id}", json={"vip": True}, headers=headers).status_code == 404
    assert "secret" not in client.get("/api/v1/contacts", headers=headers).get_data(as_text=True)
    ours = _contact(db, acme, "jo@client.test")
    for body, pointer in (({}, "#/vip"), ({"vip": "maybe"}, "#/vip"), ({"vip": True, "email": "x@y.test"},
                                                                        "#/email")):
        response = client.patch(f"/api/v1/contacts/{ours.id}", json=body, headers=headers)
        assert response.status_code == 422 and pointer in {e["pointer"] for e in response.json["errors"]}
    db.session.refresh(theirs)
    assert theirs.vip is False
