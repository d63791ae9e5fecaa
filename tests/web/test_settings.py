import hashlib
import re
from datetime import UTC, datetime

from sqlalchemy import select

from app.tokens.models import ApiToken
from tenants.models import Role


def test_admin_updates_tenant_settings(client, db, create_tenant, login):
    tenant = create_tenant("acme")
    login(tenant.owner)
    response = client.post("/t/acme/settings/tenant",
                           data={"name": "Acme Europe", "default_locale": "fr", "timezone": "Europe/Paris"})
    assert response.status_code == 302
    db.session.refresh(tenant)
    assert (tenant.name, tenant.default_locale, tenant.timezone) == ("Acme Europe", "fr", "Europe/Paris")


def test_tenant_settings_refuse_bad_input_and_change_nothing(client, db, create_tenant, login):
    tenant = create_tenant("acme")
    login(tenant.owner)
    response = client.post("/t/acme/settings/tenant",
                           data={"name": "x" * 10_240, "default_locale": "xx", "timezone": "Nowhere/Land"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    for field in ("name", "default_locale", "timezone"):
        assert f'id="{field}-error"' in html
    db.session.refresh(tenant)
    assert tenant.name == "Acme"


def test_agent_sees_preferences_but_cannot_change_tenant(client, db, create_tenant, add_member, login):
    tenant = create_tenant("acme")
    login(add_member(tenant, Role.AGENT))
    html = client.get("/t/acme/settings/").get_data(as_text=True)
    assert 'id="preferences"' in html and 'id="tenant-settings"' not in html
    assert client.post("/t/acme/settings/tenant", data={"name": "Hijacked", "default_locale": "en",
                                                        "timezone": "UTC"}).status_code == 403


def test_user_locale_beats_tenant_default_beats_browser(client, db, create_tenant, login):
    tenant = create_tenant("acme", locale="fr")
    login(tenant.owner)
    headers = {"Accept-Language": "es"}
    assert '<html lang="fr">' in client.get("/t/acme/", headers=headers).get_data(as_text=True)
    client.post("/t/acme/settings/preferences", data={"locale": "de", "timezone": ""})
    html = client.get("/t/acme/settings/", headers=headers).get_data(as_text=True)
    assert '<html lang="de">' in html and "Einstellungen" in html
    client.post("/logout")
    assert '<html lang="es">' in client.get("/login", headers=headers).get_data(as_text=True)


def test_dates_are_shown_in_the_users_time_zone(client, db, create_tenant, login):
    tenant = create_tenant("acme")
    tenant.created_at = datetime(2026, 1, 15, 23, 30, tzinfo=UTC)
    db.session.commit()
    login(tenant.owner)
    assert "Jan 15, 2026" in client.get("/t/acme/").get_data(as_text=True)
    client.post("/t/acme/settings/preferences", data={"locale": "", "timezone": "Asia/Tokyo"})
    assert "Jan 16, 2026, 8:30:00" in client.get("/t/acme/").get_data(as_text=True)


def test_api_token_is_shown_once_and_stored_hashed(client, db, create_tenant, login):
    tenant = create_tenant("acme")
    login(tenant.owner)
    html = client.post("/t/acme/settings/tokens", data={"name": "CRM"}).get_data(as_text=True)
    plaintext = re.search(r'id="new-token" type="text" readonly value="([^"]+)"', html).group(1)
    stored = db.session.scalar(select(ApiToken).where(ApiToken.tenant_id == tenant.id))
    assert stored.token_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert plaintext not in client.get("/t/acme/settings/tokens").get_data(as_text=True)
    api = client.get("/api/v1/tenant", headers={"Authorization": f"Bearer {plaintext}"})
    assert api.status_code == 200 and api.json["slug"] == "acme"
    client.post(f"/t/acme/settings/tokens/{stored.id}/revoke")
    assert client.get("/api/v1/tenant", headers={"Authorization": f"Bearer {plaintext}"}).status_code == 401
