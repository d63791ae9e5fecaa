"""Queues and the audit trail through the API."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.audit.models import AuditEvent
from app.queues.models import Queue
from tests.api.problems import field_errors as _pointers
from tests.api.test_api_mailboxes import GOOD, INBOUND_SECRET, OUTBOUND_SECRET

PROBLEM = "application/problem+json"



@pytest.fixture
def acme(db, create_tenant):
    return create_tenant("acme")


@pytest.fixture
def headers(acme, api_token):
    return api_token(acme)


def test_queue_crud(client, db, acme, headers):
    created = client.post("/api/v1/queues", json={"name": "IT", "description": "Laptops and logins"},
                          headers=headers)
    assert created.status_code == 201
    assert set(created.json) == {"id", "name", "description", "created_at"}
    assert created.json["name"] == "IT" and created.json["description"] == "Laptops and logins"
    client.post("/api/v1/queues", json={"name": "HR"}, headers=headers)
    listed = client.get("/api/v1/queues", headers=headers).json
    assert [q["name"] for q in listed["items"]] == ["HR", "IT"] and listed["meta"]["total"] == 2
    url = f"/api/v1/queues/{created.json['id']}"
    assert client.get(url, headers=headers).json["name"] == "IT"
    patched = client.patch(url, json={"description": "Everything with a plug"}, headers=headers)
    assert patched.status_code == 200
    assert patched.json["name"] == "IT" and patched.json["description"] == "Everything with a plug"
    assert client.patch(url, json={"name": "IT Help"}, headers=headers).json["name"] == "IT Help"
    assert client.delete(url, headers=headers).status_code == 204
    assert client.get(url, headers=headers).status_code == 404
    assert [q["name"] for q in client.get("/api/v1/queues", headers=headers).json["items"]] == ["HR"]


def test_queue_errors(client, db, acme, headers):
    client.post("/api/v1/queues", json={"name": "IT"}, headers=headers)
    assert set(_pointers(client.post("/api/v1/queues", json={"name": "it"}, headers=headers))) == {"#/name"}
    assert set(_pointers(client.post("/api/v1/queues", json={}, headers=headers))) == {"#/name"}
    assert set(_pointers(client.post("/api/v1/queues", json={"name": "X", "description": "d" * 501},
                                     headers=headers))) == {"#/description"}
    assert set(_pointers(client.post("/api/v1/queues", json={"name": 5, "colour": "red"}, headers=headers))) == {
        "#/name", "#/colour"}
    hr = client.post("/api/v1/queues", json={"name": "HR"}, headers=headers).json
    assert set(_pointers(client.patch(f"/api/v1/queues/{hr['id']}", json={"name": "IT"}, headers=headers))) == {
        "#/name"}
    assert db.session.scalar(select(func.count()).select_from(Queue)) == 2


def test_other_tenants_queues_are_invisible(client, db, acme, headers, create_tenant, api_token):
    queue = client.post("/api/v1/queues", json={"name": "IT"}, headers=headers).json
    other = api_token(create_tenant("globex"))
    url = f"/api/v1/queues/{queue['id']}"
    assert client.get(url, headers=other).status_code == 404
    assert client.patch(url, json={"name": "Ours"}, headers=other).status_code == 404
    assert client.delete(url, headers=other).status_code == 404
    assert client.get("/api/v1/queues", headers=other).json["items"] == []
    assert client.get(url, headers=headers).json["name"] == "IT"
    # the same name is free in another tenant
    assert client.post("/api/v1/queues", json={"name": "IT"}, headers=other).status_code == 201


def test_mailbox_changes_are_audited_without_secrets(client, db, acme, headers):
    client.post("/api/v1/queues", json={"name": "IT"}, headers=headers)
    mailbox = client.post("/api/v1/mailboxes", json=GOOD, headers=headers).json
    patched = client.patch(f"/api/v1/mailboxes/{mailbox['id']}",
                           json={"inbound": {"password": "a-new-secret", "host": "127.0.0.2"}}, headers=headers)
    assert patched.status_code == 200
    response = client.get("/api/v1/audit", headers=headers)
    assert response.status_code == 200
    raw = response.get_data(as_text=True)
    for secret in (INBOUND_SECRET, OUTBOUND_SECRET, "a-new-secret"):
        assert secret not in raw
    events = [e for e in response.json["items"] if not e["action"].startswith("api_token.")]  # the fixture's token
    assert [e["action"] for e in events] == ["mailbox.updated", "mailbox.created", "queue.created"]
    updated, created = events[0], events[1]
    assert set(updated) == {"id", "created_at", "actor", "action", "object_type", "object_id", "object_label",
                            "changes"}
    assert updated["object_type"] == "mailbox" and updated["object_id"] == mailbox["id"]
    assert updated["object_label"] == "support@acme.test" and updated["actor"].startswith("API token")
    assert updated["changes"]["inbound_password"] == "changed"
    assert updated["changes"]["inbound_host"] == ["127.0.0.1", "127.0.0.2"]
    assert "outbound_password" not in updated["changes"]
    assert created["changes"]["inbound_password"] == "changed" and created["changes"]["outbound_password"] == "changed"


def test_audit_filters(client, db, acme, headers):
    for name in ("IT", "HR"):
        client.post("/api/v1/queues", json={"name": name}, headers=headers)
    queue_id = client.get("/api/v1/queues", headers=headers).json["items"][0]["id"]
    client.patch(f"/api/v1/queues/{queue_id}", json={"description": "People"}, headers=headers)
    old = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "queue.created")
                            .order_by(AuditEvent.id).limit(1))
    old.created_at = datetime(2020, 6, 1, 12, 0, tzinfo=UTC)
    db.session.commit()

    def actions(**query) -> list[str]:
        response = client.get("/api/v1/audit", query_string=query, headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        # the fixture's token may be audited too; these assertions are about queue events
        return [e["action"] for e in response.json["items"] if not e["action"].startswith("api_token.")]

    assert actions(action="queue.created") == ["queue.created", "queue.created"]
    assert actions(action="queue.updated") == ["queue.updated"]
    assert actions(object_type="mailbox") == []
    assert actions(actor="API token") == ["queue.updated", "queue.created", "queue.created"]
    assert actions(since="2021-01-01T00:00:00Z") == ["queue.updated", "queue.created"]
    assert actions(until="2021-01-01T00:00:00+00:00") == ["queue.created"]
    assert actions(since="2020-06-01T12:00:00Z", until="2020-06-01T12:00:01Z") == ["queue.created"]
    assert actions(since="2020-06-01T14:00:00+02:00", until="2020-06-01T12:00:00") == []  # naive = UTC
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert actions(since=future) == []
    page = client.get("/api/v1/audit?object_type=queue&per_page=2&page=2", headers=headers).json
    assert page["meta"] == {"page": 2, "per_page": 2, "total": 3, "pages": 2} and len(page["items"]) == 1


@pytest.mark.parametrize(("query", "pointer"), [("since=yesterday", "#/since"), ("until=2024-13-45", "#/until"),
                                                ("per_page=0", "#/per_page")])
def test_bad_audit_filters_are_field_errors(client, db, acme, headers, query, pointer):
    assert set(_pointers(client.get(f"/api/v1/audit?{query}", headers=headers))) == {pointer}


def test_audit_is_per_tenant(client, db, acme, headers, create_tenant, api_token):
    client.post("/api/v1/queues", json={"name": "IT"}, headers=headers)
    other = api_token(create_tenant("globex"))
    theirs = client.get("/api/v1/audit", headers=other).json["items"]
    assert [e for e in theirs if not e["action"].startswith("api_token.")] == []  # at most their own token
    assert client.get("/api/v1/audit?object_type=queue", headers=other).json["meta"]["total"] == 0
    assert client.get("/api/v1/audit", headers={}).status_code == 401


def test_openapi_lists_queue_and_audit_paths(client, db):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    for path in ("/api/v1/queues", "/api/v1/queues/{queue_id}", "/api/v1/audit"):
        assert path in paths, path
    parameters = {p["name"] for p in paths["/api/v1/audit"]["get"]["parameters"]}
    assert {"action", "actor", "object_type", "since", "until", "page", "per_page"} <= parameters
