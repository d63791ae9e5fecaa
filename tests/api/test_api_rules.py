"""Routing rules through the API: round trip, ordering, problem+json pointers, tenancy, audit."""

import pytest
from sqlalchemy import func, select

from app.audit.models import AuditEvent
from app.queues.models import Queue
from app.routing.models import RoutingRule
from tests.api.problems import field_errors as _pointers

PROBLEM = "application/problem+json"
KEYS = {"id", "name", "position", "field", "pattern", "queue_id", "category", "priority", "stop", "active",
        "created_at"}



@pytest.fixture
def acme(db, create_tenant):
    return create_tenant("acme")


@pytest.fixture
def headers(acme, api_token):
    return api_token(acme)


@pytest.fixture
def ops(db, acme):
    queue = Queue(tenant_id=acme.id, name="Operations")
    db.session.add(queue)
    db.session.commit()
    return queue


def _names(client, headers) -> list[str]:
    return [rule["name"] for rule in client.get("/api/v1/rules", headers=headers).json["items"]]


def test_rule_round_trip(client, db, headers, ops):
    body = {"name": "Outages", "field": "subject", "pattern": r"outage|\bdown\b", "queue_id": ops.id,
            "category": "incident", "priority": "urgent", "stop": True, "active": True}
    created = client.post("/api/v1/rules", json=body, headers=headers)
    assert created.status_code == 201 and set(created.json) == KEYS
    assert {key: created.json[key] for key in body} == body and created.json["position"] == 1
    url = f"/api/v1/rules/{created.json['id']}"
    assert client.get(url, headers=headers).json == created.json
    minimal = client.post("/api/v1/rules", json={"name": "Invoices", "pattern": "invoice"}, headers=headers).json
    assert (minimal["field"], minimal["queue_id"], minimal["priority"], minimal["stop"], minimal["active"],
            minimal["position"]) == ("subject", None, None, False, True, 2)
    patched = client.patch(url, json={"priority": None, "queue_id": None, "active": False}, headers=headers)
    assert patched.status_code == 200
    assert (patched.json["priority"], patched.json["queue_id"], patched.json["active"], patched.json["pattern"]) == (
        None, None, False, r"outage|\bdown\b")
    assert client.get(url, headers=headers).json == patched.json
    assert client.delete(url, headers=headers).status_code == 204
    assert client.get(url, headers=headers).status_code == 404
    listed = client.get("/api/v1/rules", headers=headers).json
    assert [(r["name"], r["position"]) for r in listed["items"]] == [("Invoices", 1)] and listed["meta"]["total"] == 1


def test_positions_order_the_list(client, db, headers):
    for name in ("A", "B", "C"):
        client.post("/api/v1/rules", json={"name": name, "pattern": name}, headers=headers)
    first = client.post("/api/v1/rules", json={"name": "First", "pattern": "x", "position": 1}, headers=headers).json
    assert _names(client, headers) == ["First", "A", "B", "C"]
    moved = client.patch(f"/api/v1/rules/{first['id']}", json={"position": 3}, headers=headers)
    assert moved.json["position"] == 3
    assert _names(client, headers) == ["A", "B", "First", "C"]
    assert _pointers(client.patch(f"/api/v1/rules/{first['id']}", json={"position": 5}, headers=headers)) == {
        "#/position": "Choose a position between 1 and 4."}


def test_a_bad_regex_is_a_422_pointing_at_the_pattern(client, db, headers):
    response = client.post("/api/v1/rules", json={"name": "Broken", "pattern": "(unclosed"}, headers=headers)
    assert _pointers(response) == {"#/pattern": "This is not a valid regular expression: missing ) at position 9"}
    assert response.json["type"] == "urn:postroom:problem:validation-error"
    rule = client.post("/api/v1/rules", json={"name": "Fine", "pattern": "fine"}, headers=headers).json
    patched = client.patch(f"/api/v1/rules/{rule['id']}", json={"pattern": "a{2,1}", "name": "Renamed"},
                           headers=headers)
    assert set(_pointers(patched)) == {"#/pattern"}
    assert client.get(f"/api/v1/rules/{rule['id']}", headers=headers).json["name"] == "Fine"  # nothing changed


def test_every_field_error_has_its_pointer(client, db, headers, create_tenant):
    theirs = Queue(tenant_id=create_tenant("globex").id, name="Theirs")
    db.session.add(theirs)
    db.session.commit()
    response = client.post("/api/v1/rules", headers=headers, json={
        "name": "", "field": "headers", "pattern": "", "queue_id": theirs.id, "category": "c" * 81,
        "priority": "critical", "position": 7})
    assert _pointers(response) == {
        "#/name": "This field is required.", "#/field": "Choose one of: subject, body, sender, any.",
        "#/pattern": "This field is required.", "#/queue_id": "Choose one of your queues.",
        "#/category": "Use at most 80 characters.", "#/priority": "Choose one of: low, normal, high, urgent.",
        "#/position": "Choose a position between 1 and 1."}
    typed = client.post("/api/v1/rules", json={"name": 5, "stop": "sometimes", "colour": "red"}, headers=headers)
    assert set(_pointers(typed)) == {"#/name", "#/stop", "#/colour"}
    assert set(_pointers(client.post("/api/v1/rules", json={"name": "X", "pattern": "x", "queue_id": 2**40},
                                     headers=headers))) == {"#/queue_id"}
    assert db.session.scalar(select(func.count()).select_from(RoutingRule)) == 0


def test_another_tenants_rule_is_404(client, db, headers, create_tenant, api_token):
    other = api_token(create_tenant("globex"))
    rule = client.post("/api/v1/rules", json={"name": "Ours", "pattern": "x"}, headers=headers).json
    url = f"/api/v1/rules/{rule['id']}"
    assert client.get(url, headers=other).status_code == 404
    assert client.patch(url, json={"name": "Theirs"}, headers=other).status_code == 404
    assert client.delete(url, headers=other).status_code == 404
    assert client.get("/api/v1/rules", headers=other).json["items"] == []
    assert client.get(url, headers=headers).json["name"] == "Ours"


def test_changes_are_audited(client, db, acme, headers):
    rule = client.post("/api/v1/rules", json={"name": "R", "pattern": "x"}, headers=headers).json
    client.patch(f"/api/v1/rules/{rule['id']}", json={"pattern": "y"}, headers=headers)
    client.delete(f"/api/v1/rules/{rule['id']}", headers=headers)
    events = list(db.session.scalars(select(AuditEvent).where(
        AuditEvent.tenant_id == acme.id, AuditEvent.object_type == "routing_rule").order_by(AuditEvent.id)))
    assert [e.action for e in events] == ["rule.created", "rule.updated", "rule.deleted"]
    assert events[1].changes == {"pattern": ["x", "y"]} and events[1].actor == "API token “test”"
    assert all(e.object_id == rule["id"] and e.object_label == "R" for e in events)
