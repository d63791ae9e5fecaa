"""A NUL character anywhere in a request is a field error, never a database error (PostgreSQL's text refuses it)."""

from __future__ import annotations

PROBLEM = "application/problem+json"


def test_nul_in_query_or_json_is_a_422_naming_the_field(client, db, create_tenant, api_token):
    headers = api_token(create_tenant())
    listed = client.get("/api/v1/audit?action=log%00in", headers=headers)
    assert listed.status_code == 422 and listed.mimetype == PROBLEM
    assert listed.json["errors"] == [{"pointer": "#/action", "detail": "Must not contain a NUL character."}]
    created = client.post("/api/v1/queues", json={"name": "IT", "x": ["ok", "b\x00d"]}, headers=headers)
    assert created.status_code == 422
    assert [e["pointer"] for e in created.json["errors"]] == ["#/x/1"]
    assert client.get("/api/v1/queues", headers=headers).json["items"] == []


def test_nul_in_a_portal_form_is_a_400_page_and_changes_nothing(client, db, create_tenant, login, api_token):
    tenant = create_tenant()
    login(tenant.owner)
    response = client.post(f"/t/{tenant.slug}/queues/", data={"name": "I\x00T"})
    assert response.status_code == 400
    assert client.get("/api/v1/queues", headers=api_token(tenant)).json["items"] == []
    assert "<code>name</code>: Must not contain a NUL character." in response.get_data(as_text=True)


def test_a_name_differing_only_in_non_ascii_case_is_a_field_error_on_every_database(client, db, create_tenant,
                                                                                    api_token):
    """SQLite's lower() folds ASCII only: the duplicate check must still see the exact name, not leave it to the
    unique constraint (a 500)."""
    headers = api_token(create_tenant())
    assert client.post("/api/v1/queues", json={"name": "Équipe"}, headers=headers).status_code == 201
    again = client.post("/api/v1/queues", json={"name": "Équipe"}, headers=headers)
    assert again.status_code == 422 and [e["pointer"] for e in again.json["errors"]] == ["#/name"]
