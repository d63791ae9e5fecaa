"""Reply templates (canned replies) through the API."""

import pytest
from sqlalchemy import func, select

from app.audit.models import AuditEvent
from app.replies.models import ReplyTemplate
from tests.api.problems import field_errors

URL = "/api/v1/reply-templates"
GREETING = {"name": "Greeting", "body": "Hello {{ requester_name }},\n\nthanks for writing."}


@pytest.fixture
def acme(db, create_tenant):
    return create_tenant("acme")


@pytest.fixture
def headers(acme, api_token):
    return api_token(acme)


def _create(client, headers, **body) -> dict:
    response = client.post(URL, json=body or GREETING, headers=headers)
    assert response.status_code == 201, response.json
    return response.json


def test_reply_template_crud(client, db, headers):
    created = _create(client, headers)
    assert set(created) == {"id", "name", "body", "created_at", "updated_at"}
    assert (created["name"], created["body"]) == (GREETING["name"], GREETING["body"])
    _create(client, headers, name="Closing", body="Regards, {{ agent_name }}")
    listed = client.get(URL, headers=headers).json
    assert [t["name"] for t in listed["items"]] == ["Closing", "Greeting"] and listed["meta"]["total"] == 2
    second_page = client.get(URL, query_string={"per_page": 1, "page": 2}, headers=headers).json
    assert [t["name"] for t in second_page["items"]] == ["Greeting"] and second_page["meta"]["pages"] == 2
    url = f"{URL}/{created['id']}"
    assert client.get(url, headers=headers).json == created
    patched = client.patch(url, json={"body": "Hi {{ requester_name }}"}, headers=headers)
    assert patched.status_code == 200
    assert (patched.json["name"], patched.json["body"]) == ("Greeting", "Hi {{ requester_name }}")
    assert client.patch(url, json={"name": "Hello"}, headers=headers).json["body"] == "Hi {{ requester_name }}"
    assert client.patch(url, json={}, headers=headers).json["name"] == "Hello"
    assert client.delete(url, headers=headers).status_code == 204
    assert client.get(url, headers=headers).status_code == 404
    assert [t["name"] for t in client.get(URL, headers=headers).json["items"]] == ["Closing"]


def test_reply_template_field_errors(client, db, headers):
    assert set(field_errors(client.post(URL, json={}, headers=headers))) == {"#/name", "#/body"}
    _create(client, headers)
    taken = field_errors(client.post(URL, json={**GREETING, "name": "greeting"}, headers=headers))
    assert taken == {"#/name": "A template with this name already exists."}
    unknown = field_errors(client.post(URL, json={"name": "X", "body": "Hi {{ password }}"}, headers=headers))
    assert set(unknown) == {"#/body"} and "{{ password }}" in unknown["#/body"]
    assert set(field_errors(client.post(URL, json={"name": "n" * 121, "body": "x"}, headers=headers))) == {
        "#/name"}
    assert set(field_errors(client.post(URL, json={"name": 5, "body": "x", "colour": "red"}, headers=headers))) == {
        "#/name", "#/colour"}
    other = _create(client, headers, name="Other", body="Text")
    url = f"{URL}/{other['id']}"
    assert set(field_errors(client.patch(url, json={"name": "GREETING"}, headers=headers))) == {"#/name"}
    assert set(field_errors(client.patch(url, json={"body": ""}, headers=headers))) == {"#/body"}
    assert client.get(url, headers=headers).json == other  # a refused change changes nothing
    assert db.session.scalar(select(func.count()).select_from(ReplyTemplate)) == 2


def test_other_tenants_reply_templates_are_invisible(client, db, headers, create_tenant, api_token):
    template = _create(client, headers)
    other = api_token(create_tenant("globex"))
    url = f"{URL}/{template['id']}"
    assert client.get(url, headers=other).status_code == 404
    assert client.patch(url, json={"name": "Ours"}, headers=other).status_code == 404
    assert client.delete(url, headers=other).status_code == 404
    assert client.get(URL, headers=other).json["items"] == []
    assert client.get(url, headers=headers).json == template
    # the same name is free in another tenant
    assert client.post(URL, json=GREETING, headers=other).status_code == 201


def test_unknown_template_ids_are_404(client, db, headers):
    for url in (f"{URL}/999999", f"{URL}/{2**31 - 1}"):
        assert client.get(url, headers=headers).status_code == 404
        assert client.patch(url, json={"name": "X"}, headers=headers).status_code == 404
        assert client.delete(url, headers=headers).status_code == 404


def test_reply_template_changes_are_audited_once(client, db, acme, headers):
    template = _create(client, headers)
    url = f"{URL}/{template['id']}"
    client.patch(url, json={"name": "Welcome", "body": "Secret-ish text"}, headers=headers)
    client.delete(url, headers=headers)
    events = list(db.session.scalars(select(AuditEvent).where(AuditEvent.tenant_id == acme.id,
                                                               AuditEvent.object_type == "reply_template")
                                     .order_by(AuditEvent.id)))
    assert [e.action for e in events] == ["reply_template.created", "reply_template.updated",
                                          "reply_template.deleted"]
    assert {e.actor for e in events} == {"API token “test”"}
    assert events[1].changes == {"name": ["Greeting", "Welcome"], "body": "changed"}


def test_reply_templates_need_a_token(client, db):
    response = client.get(URL)
    assert response.status_code == 401 and response.mimetype == "application/problem+json"
