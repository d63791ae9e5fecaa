import re

from app.config import load_config


def test_strict_csp_and_security_headers(client, db):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "HX-Request" in response.headers["Vary"]


def test_pages_carry_no_inline_script_or_handlers(client, create_tenant, login):
    tenant = create_tenant("acme")
    login(tenant.owner)
    for path in ("/t/acme/", "/t/acme/members/", "/t/acme/settings/", "/t/acme/settings/tokens", "/signup"):
        html = client.get(path).get_data(as_text=True)
        scripts = re.findall(r"<script\b([^>]*)>", html)
        assert scripts and all('src="/static/' in attrs for attrs in scripts), path
        assert not re.search(r"\son[a-z]+\s*=", html), path
        assert "hx-headers='{\"X-CSRFToken\"" in html  # htmx requests carry the CSRF token


def test_htmx_post_without_csrf_header_is_refused(client, db, create_tenant, add_member, login):
    from sqlalchemy import select

    from tenants.models import Membership

    tenant = create_tenant("acme")
    agent = add_member(tenant)
    membership = db.session.scalar(select(Membership).where(Membership.user_id == agent.id))
    login(tenant.owner)
    response = client.open(f"/t/acme/members/{membership.id}/role", method="POST", data={"role": "admin"},
                           headers={"HX-Request": "true"}, csrf=False)
    assert response.status_code == 400
    assert "This form has expired" in response.get_data(as_text=True)


def test_session_cookie_is_httponly_and_samesite(client, create_tenant):
    tenant = create_tenant()
    response = client.post("/login", data={"email": tenant.owner.email, "password": "correct horse battery"})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_production_defaults_are_secure(tmp_path):
    config = load_config({"POSTROOM_ENV": "production", "POSTROOM_SECRET_KEY": "k" * 40,
                          "POSTROOM_ENCRYPTION_KEYS": "x", "POSTROOM_INSTANCE_PATH": str(tmp_path)})
    assert config["SESSION_COOKIE_SECURE"] and config["REMEMBER_COOKIE_SECURE"] and config["FORCE_HTTPS"]
    assert config["ALLOW_PRIVATE_HOSTS"] is False


def test_form_action_lets_connect_buttons_reach_the_oauth_providers(app, client, db):
    csp = client.get("/login").headers["Content-Security-Policy"]
    form_action = next(part for part in csp.split(";") if part.strip().startswith("form-action"))
    assert "'self'" in form_action
    assert "https://accounts.google.com" in form_action and "https://login.microsoftonline.com" in form_action
    assert "evil" not in form_action and "*" not in form_action
