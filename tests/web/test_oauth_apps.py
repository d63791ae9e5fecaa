from datetime import date, timedelta

from sqlalchemy import select, text

from app.audit.models import AuditEvent
from app.oauth.models import OAuthApp
from app.oauth.providers import GOOGLE, MICROSOFT
from app.oauth.services import connectable_providers, credentials_for


def test_tenant_app_overrides_the_platform_and_its_secret_stays_secret(app, client, db, create_tenant, login):
    tenant = create_tenant("acme")
    login(tenant.owner)
    assert credentials_for(tenant, GOOGLE) is None  # no platform app configured in the tests
    response = client.post("/t/acme/settings/oauth-apps/google", data={
        "google-client_id": "acme-google-client", "google-client_secret": "very secret value",
        "google-secret_expires_on": (date.today() + timedelta(days=5)).isoformat()})
    assert response.status_code == 302
    credentials = credentials_for(tenant, GOOGLE)
    assert (credentials.client_id, credentials.client_secret) == ("acme-google-client", "very secret value")
    assert GOOGLE in connectable_providers(tenant)
    page = client.get("/t/acme/settings/oauth-apps").get_data(as_text=True)
    assert "very secret value" not in page and "acme-google-client" in page
    assert "very secret value" not in db.session.execute(text("select client_secret from oauth_apps")).scalar()
    assert db.session.scalar(select(AuditEvent.changes).where(AuditEvent.action == "oauth_app.saved"))[
        "client_secret"] == "changed"
    banner = client.get("/t/acme/").get_data(as_text=True)
    assert 'id="expiry-banner"' in banner and "client secret of your google app expires" in banner


def test_microsoft_directory_is_validated_and_used_in_urls(client, db, create_tenant, login):
    tenant = create_tenant("acme")
    login(tenant.owner)
    bad = client.post("/t/acme/settings/oauth-apps/microsoft", data={
        "microsoft-client_id": "id", "microsoft-client_secret": "s", "microsoft-directory": "not a directory!"})
    assert bad.status_code == 422 and 'id="microsoft-directory-error"' in bad.get_data(as_text=True)
    too_long = client.post("/t/acme/settings/oauth-apps/microsoft", data={  # a domain, but past the column's 100
        "microsoft-client_id": "id", "microsoft-client_secret": "s", "microsoft-directory": "a" * 95 + ".example"})
    assert too_long.status_code == 422 and 'id="microsoft-directory-error"' in too_long.get_data(as_text=True)
    assert db.session.scalar(select(OAuthApp)) is None
    client.post("/t/acme/settings/oauth-apps/microsoft", data={
        "microsoft-client_id": "id", "microsoft-client_secret": "s",
        "microsoft-directory": "6f1d2a3b-1111-2222-3333-444455556666"})
    credentials = credentials_for(tenant, MICROSOFT)
    urls = MICROSOFT.endpoints_for(credentials.directory)
    assert urls.token_url == ("https://login.microsoftonline.com/6f1d2a3b-1111-2222-3333-444455556666"
                              "/oauth2/v2.0/token")
    app_id = db.session.scalar(select(OAuthApp.id))
    client.post("/t/acme/settings/oauth-apps/microsoft/delete")
    db.session.expire_all()
    assert db.session.scalar(select(OAuthApp).where(OAuthApp.id == app_id)) is None


def test_agents_cannot_manage_sign_in_apps(client, create_tenant, add_member, login):
    from tenants.models import Role

    tenant = create_tenant("acme")
    login(add_member(tenant, Role.AGENT))
    assert client.get("/t/acme/settings/oauth-apps").status_code == 403
    assert client.post("/t/acme/settings/oauth-apps/google", data={"google-client_id": "x"}).status_code == 403
