"""Expiry warnings, the refresh fan-out's de-duplication, grant ownership and plaintext policy (no provider needed)."""

from datetime import date, timedelta

import pytest
from cryptography.fernet import Fernet
from rq import Queue
from sqlalchemy import func, select

from app.audit.models import AuditEvent
from app.connections.services import run_test, start_test
from app.errors import FieldErrors
from app.mailboxes.services import create_mailbox
from app.oauth.models import OAuthApp, OAuthGrant, OperatorAlert
from app.settings.services import update_tenant
from tenants.models import utcnow
from tenants.queues import region_redis
from tenants.regions import get_region


def _grant(db, tenant, **fields) -> OAuthGrant:
    grant = OAuthGrant(**{"tenant_id": tenant.id, "provider": "microsoft", "client_id": "platform-ms",
                          "email": "it@acme.test", "scopes": ["imap", "smtp"], "access_token": "a",
                          "refresh_token": "r", "access_expires_at": utcnow() + timedelta(hours=1), **fields})
    db.session.add(grant)
    db.session.commit()
    return grant


def test_refresh_tokens_near_their_maximum_age_are_warned_about_once(app, client, db, create_tenant, login):
    from app.oauth.expiry import warn_expiring_in_region

    tenant = create_tenant("acme")
    _grant(db, tenant, refresh_expires_at=utcnow() + timedelta(days=3))
    _grant(db, tenant, email="later@acme.test", refresh_expires_at=utcnow() + timedelta(days=60))
    assert warn_expiring_in_region("default") == 1
    assert warn_expiring_in_region("default") == 0  # once, not every six hours
    assert db.session.scalar(select(func.count()).where(AuditEvent.action == "oauth.expiring")) == 1
    login(tenant.owner)
    banner = client.get("/t/acme/").get_data(as_text=True)
    assert 'id="expiry-banner"' in banner and "it@acme.test expires on" in banner and "later@acme.test" not in banner


def test_an_expiring_platform_secret_alerts_operators(app, db, create_tenant):
    from app.oauth.expiry import warn_expiring_in_region

    create_tenant("acme")
    saved = {k: app.config.get(k) for k in ("OAUTH_MICROSOFT_CLIENT_ID", "OAUTH_MICROSOFT_SECRET_EXPIRES")}
    app.config.update(OAUTH_MICROSOFT_CLIENT_ID="platform-ms",
                      OAUTH_MICROSOFT_SECRET_EXPIRES=(date.today() + timedelta(days=10)).isoformat())
    try:
        warn_expiring_in_region("default")
        warn_expiring_in_region("default")
    finally:
        app.config.update(saved)
    alerts = db.session.scalars(select(OperatorAlert).where(OperatorAlert.kind == "oauth_secret_expiring")).all()
    assert len(alerts) == 1 and "expires on" in alerts[0].message


def test_the_refresh_fan_out_does_not_queue_a_grant_twice(app, db, create_tenant):
    from worker.jobs.oauth import refresh_due_grants

    tenant = create_tenant("acme")
    grant = _grant(db, tenant)
    grant.access_expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert refresh_due_grants("default") == 1
    assert refresh_due_grants("default") == 0  # a minute later the first is still queued (or backing off)
    queue = Queue("default:default", connection=region_redis(get_region("default")))
    assert [job.id for job in queue.get_jobs()] == [f"oauth-refresh-{grant.id}"]


def test_a_grant_cannot_be_borrowed_by_another_mailbox_or_tenant(db, create_tenant):
    acme, other = create_tenant("acme"), create_tenant("other")
    grant = _grant(db, acme)
    settings = {"name": "S", "inbound_host": "127.0.0.1", "inbound_port": 993, "inbound_username": "it@acme.test",
                "oauth_grant_id": grant.id, "outbound_mode": "none"}
    create_mailbox(acme, {**settings, "address": "it@acme.test"})
    with pytest.raises(FieldErrors) as taken:
        create_mailbox(acme, {**settings, "address": "it2@acme.test"})
    assert "belongs to another mailbox" in taken.value.errors["oauth_grant_id"]
    with pytest.raises(FieldErrors) as foreign:
        create_mailbox(other, {**settings, "address": "it@other.test"})
    assert foreign.value.errors["oauth_grant_id"] == "There is no such OAuth grant."


def test_switching_plaintext_off_stops_existing_plaintext_mailboxes(db, create_tenant):
    tenant = create_tenant("acme")
    update_tenant(tenant, name="Acme", default_locale="en", timezone="UTC", allow_plaintext=True)
    mailbox = create_mailbox(tenant, {"name": "P", "address": "p@acme.test", "inbound_host": "127.0.0.1",
                                      "inbound_port": 143, "inbound_security": "none", "inbound_username": "p",
                                      "inbound_password": "secret pw", "outbound_mode": "none"})
    update_tenant(tenant, name="Acme", default_locale="en", timezone="UTC", allow_plaintext=False)
    test = run_test(start_test(mailbox))
    assert test.status == "failed" and test.steps[0]["category"] == "plaintext_refused"


def test_keys_rotate_covers_oauth_tokens_and_app_secrets(app, db, create_tenant):
    tenant = create_tenant("acme")
    _grant(db, tenant)
    db.session.add(OAuthApp(tenant_id=tenant.id, provider="google", client_id="own", client_secret="app secret"))
    db.session.commit()
    old = app.config["ENCRYPTION_KEYS"]
    app.config["ENCRYPTION_KEYS"] = [Fernet.generate_key().decode(), *old]
    try:
        result = app.test_cli_runner().invoke(args=["keys", "rotate"])
        assert "re-encrypted 3 secret(s)" in result.output  # access token, refresh token, client secret
        app.config["ENCRYPTION_KEYS"] = app.config["ENCRYPTION_KEYS"][:1]
        db.session.expire_all()
        assert db.session.scalar(select(OAuthApp.client_secret)) == "app secret"
        assert db.session.scalar(select(OAuthGrant.refresh_token)) == "r"
    finally:
        app.config["ENCRYPTION_KEYS"] = old
