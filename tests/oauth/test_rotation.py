"""The token lifecycle against the real dev provider: refresh before use, one refresh under concurrency, revocation
(re-connect), a refused platform client (operator alert) and an unreachable provider (transient, retried)."""

from __future__ import annotations

import secrets
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from flask_sqlalchemy.session import Session as FlaskSession
from rq.job import Job
from sqlalchemy import create_engine, delete, func, select

from app.audit.models import AuditEvent
from app.connections.models import ConnectionKind, ConnectionLog, ConnectionTest
from app.extensions import db as _db
from app.mailboxes.models import Mailbox, MailboxStatus
from app.oauth.errors import OAuthFailure
from app.oauth.models import GrantStatus, OAuthGrant, OperatorAlert
from app.oauth.services import access_token, grants_due, refresh_grant
from tenants.models import Tenant, utcnow
from tenants.queues import region_redis
from tenants.regions import get_region
from worker.jobs.oauth import refresh_due_grants, refresh_grant_token

THREADS = 20


def wait_until(predicate, timeout: float = 4.0, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"not true within {timeout} s"
        time.sleep(interval)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _connected(db, dev_oauth) -> tuple[Mailbox, OAuthGrant]:
    response = dev_oauth.connect()
    assert response.status_code == 302, response.get_data(as_text=True)
    mailbox = db.session.scalar(select(Mailbox))
    return mailbox, db.session.get(OAuthGrant, mailbox.oauth_grant_id)


def _latest_test(db, mailbox_id: int) -> ConnectionTest:
    return db.session.scalar(select(ConnectionTest).where(ConnectionTest.mailbox_id == mailbox_id)
                             .order_by(ConnectionTest.id.desc()).limit(1))


def _job(job_id: str) -> Job:
    return Job.fetch(job_id, connection=region_redis(get_region("default")))


def test_an_expired_access_token_is_refreshed_before_the_connection_test(
        db, acme, dev_oauth, oauth_provider, run_jobs):
    dev_oauth.use_client(access_token_ttl=2)
    mailbox, grant = _connected(db, dev_oauth)
    mailbox_id, old_access, old_refresh = mailbox.id, grant.access_token, grant.refresh_token
    wait_until(lambda: not oauth_provider.introspect(old_access)["active"])  # expired at the provider (≈2 s)

    run_jobs()  # the connection test queued by the callback
    test = _latest_test(db, mailbox_id)
    assert test.status == "passed", test.steps
    assert [s["detail"].get("mechanism") for s in test.steps if s["step"] in ("login", "auth")] == ["XOAUTH2"] * 2
    assert dev_oauth.stats() == {"authorization_code": 1, "refresh_token": 1}

    db.session.expire_all()
    grant = db.session.get(OAuthGrant, grant.id)
    assert grant.status is GrantStatus.ACTIVE and grant.last_error is None and grant.last_refresh_at is not None
    assert grant.access_token != old_access and oauth_provider.introspect(grant.access_token)["active"]
    assert grant.refresh_token and grant.refresh_token != old_refresh  # the provider rotates refresh tokens
    assert grant.access_expires_at > utcnow()

    # Last, because presenting a rotated refresh token makes the provider revoke the whole family.
    reuse = dev_oauth.refresh_directly(old_refresh)
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"


class _EngineBoundSession(FlaskSession):
    """Flask-SQLAlchemy's session picks the app's engine by bind key; these must use the wide pool below."""

    def get_bind(self, *args, **kwargs):
        return self.bind


@pytest.fixture
def thread_sessions(app):
    """``db.session`` for up to 20 concurrent threads, committing for real (no per-test transaction).

    The suite's engine pools 5 + 10 connections; each caller here keeps its own transaction open while it waits for
    the grant's lock, as a job does, so they get a dedicated engine with room for all of them.
    """
    with app.app_context():
        url = _db.engine.url
    options = {"connect_args": {"check_same_thread": False}} if url.get_backend_name() == "sqlite" else {}
    engine = create_engine(url, pool_size=THREADS + 5, max_overflow=0, **options)
    original = _db.session
    _db.session = _db._make_scoped_session({"bind": engine, "class_": _EngineBoundSession})
    try:
        yield _db
    finally:
        _db.session = original
        engine.dispose()


@pytest.fixture
def committed_tenant(app, thread_sessions):
    """A tenant committed for real; removed (with its grants, by cascade) afterwards."""
    with app.app_context():
        tenant = Tenant(slug=f"race-{secrets.token_hex(4)}", name="Race", region="default", default_locale="en",
                        timezone="UTC")
        _db.session.add(tenant)
        _db.session.commit()
        tenant_id = tenant.id
        _db.session.remove()
    yield tenant_id
    with app.app_context():
        _db.session.execute(delete(Tenant).where(Tenant.id == tenant_id))
        _db.session.commit()
        assert _db.session.scalar(select(func.count()).select_from(OAuthGrant)
                                  .where(OAuthGrant.tenant_id == tenant_id)) == 0
        _db.session.remove()


def test_twenty_concurrent_callers_share_exactly_one_refresh(
        app, dev_config, oauth_provider, oauth_user_factory, committed_tenant):
    user, password = oauth_user_factory()
    issued = oauth_provider.login(user, password, client=dev_config.client)
    with app.app_context():
        grant = OAuthGrant(tenant_id=committed_tenant, provider="dev", client_id=dev_config.client_id, email=user,
                           scopes=issued["scope"].split(),
                           access_token=issued["access_token"], access_expires_at=utcnow() - timedelta(minutes=1),
                           refresh_token=issued["refresh_token"], refresh_issued_at=utcnow())
        _db.session.add(grant)
        _db.session.commit()
        grant_id = grant.id
        _db.session.remove()
    assert dev_config.stats() == {"authorization_code": 1}

    start = threading.Barrier(THREADS)

    def call(_index: int) -> str:
        with app.app_context():
            try:
                mine = _db.session.get(OAuthGrant, grant_id)  # each caller loads the (expired) grant itself
                start.wait(timeout=10)
                return access_token(mine)
            finally:
                _db.session.remove()

    with ThreadPoolExecutor(THREADS) as pool:
        tokens = list(pool.map(call, range(THREADS)))

    assert dev_config.stats() == {"authorization_code": 1, "refresh_token": 1}
    assert len(tokens) == THREADS and len(set(tokens)) == 1
    assert tokens[0] != issued["access_token"]
    assert oauth_provider.introspect(tokens[0])["active"] is True
    with app.app_context():
        stored = _db.session.get(OAuthGrant, grant_id)
        assert (stored.status, stored.last_error, stored.access_token) == (GrantStatus.ACTIVE, None, tokens[0])
        assert stored.refresh_token != issued["refresh_token"]
        assert oauth_provider.introspect(stored.refresh_token)["active"] is True  # no reuse detected
        _db.session.remove()


def test_a_revoked_grant_asks_for_a_reconnect_and_the_reconnect_restores_the_mailbox(
        db, acme, dev_oauth, oauth_provider, new_mail_user, run_jobs):
    mailbox, grant = _connected(db, dev_oauth)
    mailbox_id, grant_id = mailbox.id, grant.id
    run_jobs()
    assert _latest_test(db, mailbox_id).status == "passed"

    assert oauth_provider.revoke_user(dev_oauth.user) >= 1
    grant.access_expires_at = utcnow() - timedelta(seconds=1)  # due for rotation
    db.session.commit()
    assert refresh_due_grants("default") == 1  # one rotation cycle: fan out …
    run_jobs()  # … and refresh
    assert _job(f"oauth-refresh-{grant_id}").return_value() == "invalid_grant"
    assert dev_oauth.stats() == {"authorization_code": 1, "refresh_token": 1}

    db.session.expire_all()
    mailbox, grant = db.session.get(Mailbox, mailbox_id), db.session.get(OAuthGrant, grant_id)
    assert mailbox.status is MailboxStatus.REAUTH_REQUIRED and mailbox.last_failure_category == "invalid_grant"
    assert grant.status is GrantStatus.REVOKED and grant.last_error
    actions = db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert "oauth.invalid_grant" in actions and "mailbox.reauth_required" in actions
    token_log = db.session.scalars(select(ConnectionLog).where(ConnectionLog.mailbox_id == mailbox_id,
                                                                ConnectionLog.kind == ConnectionKind.TOKEN)).all()
    assert [(e.ok, e.category, e.step) for e in token_log] == [(False, "invalid_grant", "refresh")]

    banner = dev_oauth.http.get("/t/acme/").get_data(as_text=True)
    assert 'id="mailbox-banner"' in banner and f"{dev_oauth.user} needs to be re-connected" in banner
    assert f'id="banner-reconnect-{mailbox_id}"' in banner and "Re-connect now" in banner
    assert f'action="/t/acme/mailboxes/{mailbox_id}/reconnect"' in banner

    # Signing in as someone else during the re-connect changes nothing.
    stranger, stranger_password = new_mail_user()
    reconnect = f"/t/acme/mailboxes/{mailbox_id}/reconnect"
    authorize_url = dev_oauth.start(reconnect)
    assert "login_hint=" in authorize_url
    refused = dev_oauth.callback(dev_oauth.consent(authorize_url, user=stranger, password=stranger_password))
    assert refused.status_code == 400
    assert f"You signed in as {stranger}, but this mailbox is {dev_oauth.user}" in refused.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(OAuthGrant)) == 1
    mailbox = db.session.get(Mailbox, mailbox_id)
    assert (mailbox.status, mailbox.oauth_grant_id) == (MailboxStatus.REAUTH_REQUIRED, grant_id)

    # The right person re-connects: a new grant, the mailbox is active again and its connection test passes.
    response = dev_oauth.connect(reconnect)
    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.headers["Location"].startswith(f"/t/acme/mailboxes/{mailbox_id}?test=")
    db.session.expire_all()
    mailbox = db.session.get(Mailbox, mailbox_id)
    assert mailbox.status is MailboxStatus.ACTIVE and mailbox.oauth_grant_id not in (None, grant_id)
    assert db.session.get(OAuthGrant, grant_id) is None  # the revoked grant is gone
    assert db.session.get(OAuthGrant, mailbox.oauth_grant_id).status is GrantStatus.ACTIVE
    assert _count_mailboxes(db) == 1
    run_jobs()
    test = _latest_test(db, mailbox_id)
    assert test.status == "passed", test.steps
    assert "mailbox.reconnected" in db.session.scalars(select(AuditEvent.action)).all()
    assert 'id="mailbox-banner"' not in dev_oauth.http.get("/t/acme/").get_data(as_text=True)


def _count_mailboxes(db) -> int:
    return db.session.scalar(select(func.count()).select_from(Mailbox))


def test_a_refused_platform_client_marks_the_grant_and_alerts_operators(db, acme, dev_oauth, app):
    mailbox, grant = _connected(db, dev_oauth)
    mailbox_id, grant_id = mailbox.id, grant.id
    app.config["OAUTH_DEV_CLIENT_SECRET"] = "not-the-secret"  # dev_config restores it
    grant.access_expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert refresh_grant_token(grant_id) == "invalid_client"  # made visible, not retried
    assert dev_oauth.stats() == {"authorization_code": 1, "refresh_token": 1}

    db.session.expire_all()
    grant = db.session.get(OAuthGrant, grant_id)
    # The grant itself is fine: fixing the app must be enough, so it stays active and is retried.
    assert grant.status is GrantStatus.ACTIVE and grant.last_error
    alerts = db.session.scalars(select(OperatorAlert).where(OperatorAlert.kind == "oauth_client_invalid")).all()
    assert [(a.key, a.resolved_at) for a in alerts] == [("oauth:dev:client", None)]
    assert "oauth.invalid_client" in db.session.scalars(select(AuditEvent.action)).all()
    refused = db.session.get(Mailbox, mailbox_id)
    assert refused.last_failure_category == "invalid_client"
    # No re-connect can mend a refused client: the mailbox is failing with that cause, not waiting for a sign-in.
    assert refused.status is MailboxStatus.FAILING

    app.config["OAUTH_DEV_CLIENT_SECRET"] = dev_oauth.client.client_secret  # the operator renews the secret
    assert refresh_grant_token(grant_id) == "refreshed"
    db.session.expire_all()
    assert db.session.get(Mailbox, mailbox_id).status is MailboxStatus.ACTIVE
    assert db.session.scalars(select(OperatorAlert.resolved_at)).one() is not None


def test_an_unreachable_provider_is_transient_and_retried(db, acme, dev_oauth, app, run_jobs):
    mailbox, grant = _connected(db, dev_oauth)
    mailbox_id, grant_id, old_access = mailbox.id, grant.id, grant.access_token
    run_jobs()  # the callback's connection test, with the fresh token
    provider_url = app.config["OAUTH_DEV_URL"]
    app.config["OAUTH_DEV_URL"] = f"http://127.0.0.1:{closed_port()}"  # dev_config restores it

    with pytest.raises(OAuthFailure) as caught:
        refresh_grant(grant, timedelta(days=1))
    assert caught.value.kind == "transient" and "ConnectionError" in caught.value.cause
    db.session.expire_all()
    grant = db.session.get(OAuthGrant, grant_id)
    assert grant.status is GrantStatus.ACTIVE and grant.access_token == old_access and grant.last_error

    # The job re-raises it, so RQ's Retry applies …
    grant.access_expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    with pytest.raises(OAuthFailure, match="transient"):
        refresh_grant_token(grant_id)
    assert refresh_due_grants("default") == 1
    run_jobs()
    job = _job(f"oauth-refresh-{grant_id}")
    assert job.get_status() == "scheduled" and job.retries_left == 4

    # … and a connection test meanwhile says the provider is unavailable, without asking for a re-connect.
    assert dev_oauth.http.post(f"/t/acme/mailboxes/{mailbox_id}/test").status_code in (200, 302)
    run_jobs()
    test = _latest_test(db, mailbox_id)
    assert test.status == "failed"
    assert [(s["step"], s["category"]) for s in test.steps] == [("token", "oauth_unavailable")]
    db.session.expire_all()
    assert db.session.get(Mailbox, mailbox_id).status is MailboxStatus.ACTIVE
    assert db.session.get(OAuthGrant, grant_id).status is GrantStatus.ACTIVE

    app.config["OAUTH_DEV_URL"] = provider_url  # back up: the same grant refreshes fine
    assert refresh_grant_token(grant_id) == "refreshed"
    assert dev_oauth.stats() == {"authorization_code": 1, "refresh_token": 1}


def test_deleting_an_oauth_mailbox_retires_its_grant(db, acme, dev_oauth):
    mailbox, grant = _connected(db, dev_oauth)
    grant_id, refresh_token = grant.id, grant.refresh_token
    assert dev_oauth.http.post(f"/t/acme/mailboxes/{mailbox.id}/delete").status_code == 302
    assert dev_oauth.provider.introspect(refresh_token) == {"active": False}  # revoked at the provider
    db.session.expire_all()
    assert _count_mailboxes(db) == 0
    assert grant_id not in grants_due("default", timedelta(days=1))  # no more rotations for a mailbox that is gone
