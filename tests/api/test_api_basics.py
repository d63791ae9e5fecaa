from sqlalchemy import func, select

from app.auth.models import User
from tenants.models import Tenant

PROBLEM = "application/problem+json"
GOOD = {"tenant_name": "Acme Corp", "slug": "acme", "name": "Ada Admin", "email": "ada@acme.test",
        "password": "a long passphrase 42"}


def _pointers(response) -> dict[str, str]:
    return {e["pointer"]: e["detail"] for e in response.json["errors"]}


def test_signup_returns_tenant_owner_and_a_token(client, db):
    response = client.post("/api/v1/signup", json=GOOD)
    assert response.status_code == 201
    body = response.json
    assert body["tenant"]["slug"] == "acme" and body["user"]["email"] == "ada@acme.test"
    assert "password" not in str(body)
    me = client.get("/api/v1/tenant", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.json["name"] == "Acme Corp"


def test_signup_bad_input_is_problem_json_with_fields_and_creates_nothing(client, db, create_tenant):
    create_tenant("taken")
    before = db.session.scalar(select(func.count()).select_from(Tenant)), db.session.scalar(
        select(func.count()).select_from(User))
    response = client.post("/api/v1/signup", json={**GOOD, "slug": "taken", "password": "password123",
                                                   "email": "nope", "tenant_name": "x" * 10_240},
                           headers={"Accept-Language": "de"})
    assert response.status_code == 422
    assert response.mimetype == PROBLEM
    assert response.json["type"] == "urn:postroom:problem:validation-error"
    assert response.json["status"] == 422
    fields = _pointers(response)
    assert set(fields) == {"#/slug", "#/password", "#/email", "#/tenant_name"}
    assert fields["#/slug"] == "Diese Adresse ist bereits vergeben."
    after = db.session.scalar(select(func.count()).select_from(Tenant)), db.session.scalar(
        select(func.count()).select_from(User))
    assert after == before


def test_unknown_and_mistyped_fields_are_field_errors(client, db):
    response = client.post("/api/v1/signup", json={**GOOD, "slug": 42, "colour": "blue"})
    assert response.status_code == 422 and response.mimetype == PROBLEM
    fields = _pointers(response)
    assert fields["#/slug"] == "Not a valid string." and fields["#/colour"] == "Unknown field."


def test_missing_or_bad_token_is_401_problem(client, db):
    for headers in ({}, {"Authorization": "Bearer prt_nope"}, {"Authorization": "Basic eDp5"}):
        response = client.get("/api/v1/tenant", headers=headers)
        assert response.status_code == 401 and response.mimetype == PROBLEM
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_unknown_route_is_404_problem(client, db):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404 and response.mimetype == PROBLEM
    assert response.json["title"] == "Not Found"


def test_patch_tenant_validates_like_the_portal(client, db, create_tenant, api_token):
    tenant = create_tenant("acme")
    headers = api_token(tenant)
    response = client.patch("/api/v1/tenant", json={"timezone": "Mars/Base"}, headers=headers)
    assert response.status_code == 422
    assert _pointers(response) == {"#/timezone": "Choose a time zone from the list."}
    response = client.patch("/api/v1/tenant", json={"name": "Acme EU", "default_locale": "de"}, headers=headers)
    assert response.status_code == 200 and response.json["name"] == "Acme EU"
    assert response.json["default_locale"] == "de" and response.json["timezone"] == "UTC"


def test_lists_are_paginated(client, db, create_tenant, add_member, api_token):
    tenant = create_tenant("acme")
    for i in range(4):
        add_member(tenant, name=f"Member {i}")
    headers = api_token(tenant)
    first = client.get("/api/v1/members?per_page=2", headers=headers).json
    assert first["meta"] == {"page": 1, "per_page": 2, "total": 5, "pages": 3}
    third = client.get("/api/v1/members?per_page=2&page=3", headers=headers).json
    assert len(third["items"]) == 1
    bad = client.get("/api/v1/members?per_page=1000", headers=headers)
    assert bad.status_code == 422 and "#/per_page" in _pointers(bad)


def test_invitations_and_tokens_through_the_api(client, db, create_tenant, api_token):
    tenant = create_tenant("acme")
    headers = api_token(tenant)
    created = client.post("/api/v1/invitations", json={"email": "new@acme.test", "role": "agent"}, headers=headers)
    assert created.status_code == 201 and "/invitations/" in created.json["link"]
    owner = client.post("/api/v1/invitations", json={"email": "boss@acme.test", "role": "owner"}, headers=headers)
    assert owner.status_code == 422 and _pointers(owner) == {"#/role": "You cannot grant this role."}
    listed = client.get("/api/v1/invitations", headers=headers).json
    assert [i["email"] for i in listed["items"]] == ["new@acme.test"]
    assert client.delete(f"/api/v1/invitations/{created.json['id']}", headers=headers).status_code == 204
    assert client.get("/api/v1/invitations", headers=headers).json["items"] == []

    token = client.post("/api/v1/tokens", json={"name": "CI"}, headers=headers)
    assert token.status_code == 201 and token.json["token"].startswith("prt_")
    listed = client.get("/api/v1/tokens", headers=headers).json["items"]
    assert all("token" not in t and "token_hash" not in t for t in listed)
    assert client.delete(f"/api/v1/tokens/{token.json['id']}", headers=headers).status_code == 204
    assert client.get("/api/v1/tenant", headers={"Authorization": f"Bearer {token.json['token']}"}).status_code == 401


def test_openapi_document_is_valid_and_complete(client, db):
    from openapi_spec_validator import validate

    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.json
    validate(spec)
    for path in ("/api/v1/signup", "/api/v1/tenant", "/api/v1/members", "/api/v1/invitations", "/api/v1/tokens"):
        assert path in spec["paths"], path
    assert "bearer" in spec["components"]["securitySchemes"]
