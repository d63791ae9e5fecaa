"""Connecting a mailbox through OAuth end to end: the portal, the real dev provider's login form, the callback,
the encrypted grant, and the connection test over XOAUTH2 against the real Dovecot and SMTP server."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text

from app.audit.models import AuditEvent
from app.connections.models import ConnectionTest
from app.mailboxes.models import Mailbox, MailboxStatus, OutboundMode
from app.oauth.models import GrantStatus, OAuthGrant
from tenants.models import Role

ALL_SCOPES = {"openid", "email", "offline_access", "imap", "smtp"}


def _count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _nothing_stored(db) -> None:
    assert _count(db, OAuthGrant) == 0
    assert _count(db, Mailbox) == 0


def _steps(test: ConnectionTest) -> dict[str, dict]:
    return {f"{s['direction']}-{s['step']}": s for s in test.steps}


def test_onboarding_stores_an_encrypted_grant_and_the_mailbox_passes_its_xoauth2_test(
        db, acme, dev_oauth, oauth_provider, dovecot, smtp_server, run_jobs):
    response = dev_oauth.connect()
    assert response.status_code == 302, response.get_data(as_text=True)
    mailbox = db.session.scalar(select(Mailbox))
    assert response.headers["Location"].startswith(f"/t/acme/mailboxes/{mailbox.id}?test=")
    assert mailbox.oauth_grant_id is not None and mailbox.tenant_id == acme.id
    assert (mailbox.address, mailbox.inbound_username, mailbox.outbound_username) == (dev_oauth.user,) * 3
    assert (mailbox.inbound_host, mailbox.inbound_port, mailbox.inbound_security.value) == (
        dovecot.host, dovecot.imaps_port, "tls")
    assert (mailbox.outbound_mode, mailbox.outbound_port) == (OutboundMode.OWN, smtp_server.port)
    assert mailbox.inbound_password is None and mailbox.status is MailboxStatus.ACTIVE

    grant = db.session.get(OAuthGrant, mailbox.oauth_grant_id)
    assert (grant.provider, grant.email, grant.status) == ("dev", dev_oauth.user, GrantStatus.ACTIVE)
    assert set(grant.scopes) == ALL_SCOPES
    assert grant.access_token and grant.refresh_token and grant.access_expires_at is not None
    assert oauth_provider.introspect(grant.access_token)["username"] == dev_oauth.user  # the real, live token
    raw_access, raw_refresh, raw_scopes = db.session.execute(
        text("select access_token, refresh_token, scopes from oauth_grants where id = :id"), {"id": grant.id}).one()
    for plaintext, stored in ((grant.access_token, raw_access), (grant.refresh_token, raw_refresh)):
        assert stored and plaintext not in stored and stored.startswith("gAAAA")  # Fernet ciphertext
    assert "imap" in str(raw_scopes)
    assert dev_oauth.stats() == {"authorization_code": 1}
    actions = db.session.scalars(select(AuditEvent.action)).all()
    assert "oauth.connected" in actions

    test = db.session.scalar(select(ConnectionTest).where(ConnectionTest.mailbox_id == mailbox.id))
    assert test.status == "queued"
    run_jobs()
    db.session.refresh(test)
    steps = _steps(test)
    assert test.status == "passed", test.steps
    assert steps["inbound-login"]["detail"]["mechanism"] == "XOAUTH2"
    assert steps["inbound-folder"]["ok"]
    assert steps["outbound-auth"]["detail"]["mechanism"] == "XOAUTH2"
    assert all(step["ok"] for step in test.steps)
    assert dev_oauth.stats() == {"authorization_code": 1}  # the token was fresh: no refresh

    page = dev_oauth.http.get(f"/t/acme/mailboxes/{mailbox.id}").get_data(as_text=True)
    assert 'id="reconnect"' in page and "Re-connect" in page
    assert grant.access_token not in page and grant.refresh_token not in page


def test_denied_consent_stores_nothing(db, acme, dev_oauth):
    response = dev_oauth.connect(decision="deny")
    assert response.status_code == 400
    assert "Access was not granted" in response.get_data(as_text=True)
    _nothing_stored(db)
    assert dev_oauth.stats() == {}  # no code was ever exchanged


def test_tampered_state_is_refused_and_stores_nothing(db, acme, dev_oauth):
    consent = dev_oauth.consent(dev_oauth.start())
    state = consent.params["state"]
    tampered = state[:-1] + ("A" if state[-1] != "A" else "B")
    response = dev_oauth.callback(consent.callback_url.replace(f"state={state}", f"state={tampered}"))
    assert response.status_code == 400
    assert "did not start here, or it was changed on the way" in response.get_data(as_text=True)
    _nothing_stored(db)
    assert dev_oauth.stats() == {}


def test_replayed_callback_says_already_used_and_keeps_one_mailbox(db, acme, dev_oauth):
    consent = dev_oauth.consent(dev_oauth.start())
    assert dev_oauth.callback(consent).status_code == 302
    again = dev_oauth.callback(consent)
    assert again.status_code == 400
    assert "already used" in again.get_data(as_text=True)
    assert _count(db, Mailbox) == 1 and _count(db, OAuthGrant) == 1
    assert dev_oauth.stats() == {"authorization_code": 1}


def test_callback_completed_by_another_logged_in_user_is_refused(db, create_tenant, login, dev_oauth):
    tenant_a, tenant_b = create_tenant("acme"), create_tenant("globex")
    login(tenant_a.owner)
    consent = dev_oauth.consent(dev_oauth.start())
    login(tenant_b.owner)  # same browser, now someone else
    response = dev_oauth.callback(consent)
    assert response.status_code == 400
    assert "belongs to another account" in response.get_data(as_text=True)
    _nothing_stored(db)
    assert dev_oauth.stats() == {}  # refused before the code was redeemed


def test_an_agent_cannot_start_the_flow(db, create_tenant, add_member, login, dev_oauth):
    tenant = create_tenant("acme")
    login(add_member(tenant, Role.AGENT))
    response = dev_oauth.http.post("/t/acme/mailboxes/connect/dev")
    assert response.status_code == 403
    _nothing_stored(db)


def test_without_the_smtp_scope_the_mailbox_only_receives_and_the_admin_is_warned(db, acme, dev_oauth, run_jobs):
    dev_oauth.use_client(scope="openid email offline_access imap")
    response = dev_oauth.connect()
    assert response.status_code == 302
    page = dev_oauth.http.get(response.headers["Location"]).get_data(as_text=True)
    assert "Sending was not granted (SMTP)" in page
    mailbox = db.session.scalar(select(Mailbox))
    assert mailbox.outbound_mode is OutboundMode.NONE
    assert set(db.session.get(OAuthGrant, mailbox.oauth_grant_id).scopes) == ALL_SCOPES - {"smtp"}
    run_jobs()
    test = db.session.scalar(select(ConnectionTest))
    assert test.status == "passed", test.steps
    assert {s["direction"] for s in test.steps} == {"inbound"}


def test_without_the_imap_scope_nothing_is_stored(db, acme, dev_oauth):
    dev_oauth.use_client(scope="openid email offline_access smtp")
    revocations = dev_oauth.provider.stats().get("revocation_requests", 0)
    response = dev_oauth.connect()
    assert response.status_code == 400
    assert "did not grant access to the mailbox (IMAP)" in response.get_data(as_text=True)
    _nothing_stored(db)
    # the tokens issued for the refused sign-in were revoked at the provider: nothing is kept anywhere
    assert dev_oauth.provider.stats()["revocation_requests"] == revocations + 2


@pytest.mark.parametrize("path", ["/t/acme/mailboxes/connect/nope", "/t/acme/mailboxes/connect/google"])
def test_unconfigured_providers_are_refused_with_a_message(db, app, acme, dev_oauth, monkeypatch, path):
    monkeypatch.delitem(app.config, "OAUTH_GOOGLE_CLIENT_ID", raising=False)
    response = dev_oauth.http.post(path)
    assert response.status_code == 302 and response.headers["Location"].endswith("/t/acme/mailboxes/")
    page = dev_oauth.http.get(response.headers["Location"]).get_data(as_text=True)
    assert "This provider is not set up" in page
