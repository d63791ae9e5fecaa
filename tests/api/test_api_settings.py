"""Data-protection rules and notification templates through the API: round trips, problem+json pointers (a bad
pattern, a template with a syntax error shows its line), the check of a text, and tenancy."""

from __future__ import annotations

import pytest

from app.notify.events import EVENTS
from tests.api.problems import field_errors


@pytest.fixture
def acme(db, create_tenant):
    return create_tenant("acme")


@pytest.fixture
def headers(acme, api_token):
    return api_token(acme)


def test_dlp_rules_round_trip_and_the_check(client, db, headers):
    bad = client.post("/api/v1/dlp-rules", json={"name": "Slow", "kind": "regex", "pattern": "(a|aa)+$"},
                      headers=headers)
    assert "#/pattern" in field_errors(bad)
    created = client.post("/api/v1/dlp-rules", json={"name": "Cards", "kind": "card_number", "action": "block"},
                          headers=headers)
    assert created.status_code == 201
    rule_id = created.get_json()["id"]
    client.post("/api/v1/dlp-rules", json={"name": "Passwords", "kind": "password", "action": "redact"},
                headers=headers)
    verdict = client.post("/api/v1/dlp-rules/check", json={"text": "Card 4111 1111 1111 1111, password: Hunter22"},
                          headers=headers).get_json()
    assert verdict["blocked"] and verdict["blocked_by"][0]["rule"] == "Cards"
    assert "4111 1111 1111 1111" not in str(verdict["blocked_by"]) and "Hunter22" not in verdict["text"]
    assert client.patch(f"/api/v1/dlp-rules/{rule_id}", json={"enabled": False}, headers=headers).get_json()[
        "enabled"] is False
    assert not client.post("/api/v1/dlp-rules/check", json={"text": "4111 1111 1111 1111"},
                           headers=headers).get_json()["blocked"]
    assert client.delete(f"/api/v1/dlp-rules/{rule_id}", headers=headers).status_code == 204
    assert len(client.get("/api/v1/dlp-rules", headers=headers).get_json()["items"]) == 1


def test_notification_templates_round_trip_with_line_numbered_errors(client, db, headers):
    listed = client.get("/api/v1/notification-templates", headers=headers).get_json()
    assert len(listed) == len(EVENTS) * 5 and not any(t["customized"] for t in listed)
    url = "/api/v1/notification-templates/acknowledgement/de"
    assert "Ihre Anfrage" in client.get(url, headers=headers).get_json()["subject"]
    bad = client.put(url, json={"subject": "Hallo", "body": "Zeile eins\n{{ ticket_reference }\n"}, headers=headers)
    assert "Line 2" in field_errors(bad)["#/body"]
    sneaky = client.put(url, json={"subject": "{{ config }}", "body": "x"}, headers=headers)
    assert "#/subject" in field_errors(sneaky)
    saved = client.put(url, json={"subject": "Eingegangen: {{ ticket_subject }}", "body": "Danke!\n"},
                       headers=headers)
    assert saved.status_code == 200 and saved.get_json()["customized"]
    assert client.delete(url, headers=headers).status_code == 204
    assert not client.get(url, headers=headers).get_json()["customized"]
    assert client.get("/api/v1/notification-templates/nonsense/de", headers=headers).status_code == 404


def test_another_tenants_rules_are_out_of_reach(client, db, create_tenant, headers):
    from app.dlp.services import create_rule

    theirs = create_rule(create_tenant("other"), name="Theirs", kind="iban")
    for method in ("GET", "PATCH", "DELETE"):
        assert client.open(f"/api/v1/dlp-rules/{theirs.id}", method=method, json={},
                           headers=headers).status_code == 404
    assert client.get("/api/v1/dlp-rules", headers=headers).get_json()["items"] == []
