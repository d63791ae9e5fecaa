"""The tenant's own OAuth apps through the API: the client secret goes in, and never comes out."""

import pytest
from sqlalchemy import select, text

from app.audit.models import AuditEvent
from app.oauth.models import OAuthApp
from app.oauth.providers import GOOGLE, MICROSOFT
from app.oauth.services import credentials_for
from tests.api.problems import PROBLEM, field_errors

URL = "/api/v1/oauth-apps"
SECRET = "very secret value"
DIRECTORY = "6f1d2a3b-1111-2222-3333-444455556666"
UNCONFIGURED = {"configured": False, "client_id": None, "secret_set": False, "secret_expires_on": None,
                "directory": None, "created_at": None}


@pytest.fixture
def acme(db, create_tenant):
    return create_tenant("acme")


@pytest.fixture
def headers(acme, api_token):
    return api_token(acme)


def _put(client, headers, provider="google", **body):
    return client.put(f"{URL}/{provider}", json={"client_id": "acme-client", "client_secret": SECRET, **body},
                      headers=headers)


def test_nothing_configured(client, db, headers):
    assert client.get(URL, headers=headers).json == [{"provider": "google", **UNCONFIGURED},
                                                     {"provider": "microsoft", **UNCONFIGURED}]
    assert client.get(f"{URL}/microsoft", headers=headers).json == {"provider": "microsoft", **UNCONFIGURED}


def test_create_replace_and_delete(client, db, acme, headers):
    created = _put(client, headers, "microsoft", secret_expires_on="2031-02-28", directory=DIRECTORY)
    assert created.status_code == 201
    assert created.json["configured"] and created.json["secret_set"] and "client_secret" not in created.json
    assert (created.json["client_id"], created.json["secret_expires_on"], created.json["directory"]) == (
        "acme-client", "2031-02-28", DIRECTORY)
    assert client.get(f"{URL}/microsoft", headers=headers).json == created.json
    assert credentials_for(acme, MICROSOFT).client_secret == SECRET
    # Replacing without a secret (omitted or empty) keeps the stored one; omitted fields are cleared.
    replaced = client.put(f"{URL}/microsoft", json={"client_id": "acme-client-2"}, headers=headers)
    assert replaced.status_code == 200
    assert (replaced.json["client_id"], replaced.json["directory"], replaced.json["secret_expires_on"]) == (
        "acme-client-2", None, None)
    assert client.put(f"{URL}/microsoft", json={"client_id": "acme-client-2", "client_secret": ""},
                      headers=headers).status_code == 200
    assert credentials_for(acme, MICROSOFT).client_secret == SECRET
    assert _put(client, headers, "microsoft", client_secret="rotated").status_code == 200
    assert credentials_for(acme, MICROSOFT).client_secret == "rotated"
    assert [a["configured"] for a in client.get(URL, headers=headers).json] == [False, True]
    assert client.delete(f"{URL}/microsoft", headers=headers).status_code == 204
    assert credentials_for(acme, MICROSOFT) is None  # no platform app in the tests
    assert client.delete(f"{URL}/microsoft", headers=headers).status_code == 404
    assert client.get(f"{URL}/microsoft", headers=headers).json == {"provider": "microsoft", **UNCONFIGURED}


def test_the_secret_is_never_returned(client, db, headers):
    answers = [_put(client, headers), _put(client, headers, client_id="other"), client.get(URL, headers=headers),
               client.get(f"{URL}/google", headers=headers), client.get("/api/v1/audit", headers=headers)]
    for answer in answers:
        assert answer.status_code in (200, 201)
        assert SECRET not in answer.get_data(as_text=True)
    assert SECRET not in db.session.execute(text("select client_secret from oauth_apps")).scalar()  # encrypted


def test_field_errors(client, db, headers):
    assert field_errors(client.put(f"{URL}/google", json={}, headers=headers)) == {
        "#/client_id": "Enter the client ID.", "#/client_secret": "Enter the client secret."}
    assert set(field_errors(_put(client, headers, client_id="x" * 256))) == {"#/client_id"}
    assert set(field_errors(_put(client, headers, "microsoft", directory="not a directory!"))) == {"#/directory"}
    long_domain = "a" * 95 + ".example"  # matches the pattern, too long for the column
    assert field_errors(_put(client, headers, "microsoft", directory=long_domain)) == {
        "#/directory": "Use at most 100 characters."}
    assert field_errors(_put(client, headers, directory=DIRECTORY)) == {
        "#/directory": "Only Microsoft apps have a directory (tenant) ID."}
    assert set(field_errors(_put(client, headers, secret_expires_on="next week"))) == {"#/secret_expires_on"}
    assert set(field_errors(_put(client, headers, client_secret=5, provider_name="x"))) == {
        "#/client_secret", "#/provider_name"}
    assert db.session.scalar(select(OAuthApp.id)) is None


def test_unknown_providers_are_404(client, db, headers):
    for provider in ("github", "Google", "google%00"):
        url = f"{URL}/{provider}"
        for response in (client.get(url, headers=headers), _put(client, headers, provider),
                         client.delete(url, headers=headers)):
            assert response.status_code == 404 and response.mimetype == PROBLEM


def test_other_tenants_apps_are_invisible(client, db, acme, headers, create_tenant, api_token):
    assert _put(client, headers, client_id="acme-client").status_code == 201
    globex = create_tenant("globex")
    other = api_token(globex)
    assert client.get(f"{URL}/google", headers=other).json == {"provider": "google", **UNCONFIGURED}
    assert client.delete(f"{URL}/google", headers=other).status_code == 404
    # Their PUT makes their own app (a create, without a secret refused), never touches ours.
    assert set(field_errors(client.put(f"{URL}/google", json={"client_id": "globex"}, headers=other))) == {
        "#/client_secret"}
    assert _put(client, other, client_id="globex-client", client_secret="theirs").status_code == 201
    assert credentials_for(acme, GOOGLE).client_id == "acme-client"
    assert credentials_for(acme, GOOGLE).client_secret == SECRET
    assert credentials_for(globex, GOOGLE).client_id == "globex-client"


def test_changes_are_audited_without_the_secret(client, db, acme, headers):
    _put(client, headers)
    client.put(f"{URL}/google", json={"client_id": "acme-client-2"}, headers=headers)
    client.delete(f"{URL}/google", headers=headers)
    events = list(db.session.scalars(select(AuditEvent).where(AuditEvent.tenant_id == acme.id,
                                                               AuditEvent.object_type == "oauth_app")
                                     .order_by(AuditEvent.id)))
    assert [e.action for e in events] == ["oauth_app.saved", "oauth_app.saved", "oauth_app.deleted"]
    assert events[0].changes["client_secret"] == "changed"
    assert events[1].changes == {"client_id": ["acme-client", "acme-client-2"]}  # the kept secret is no change
    assert {e.actor for e in events} == {"API token “test”"}
    assert all(SECRET not in str(e.changes) for e in events)
