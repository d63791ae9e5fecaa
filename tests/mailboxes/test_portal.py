"""Mailbox pages end to end: create → the connection test job runs against the real Dovecot and SMTP server."""

import logging
import re

from sqlalchemy import func, select, text

from app.audit.models import AuditEvent
from app.mailboxes.models import Mailbox, MailboxStatus
from tenants.models import Role


def _create(client, form) -> tuple:
    response = client.post("/t/acme/mailboxes/new", data=form)
    assert response.status_code == 302, re.findall(r'class="error"[^>]*>([^<]*)', response.get_data(as_text=True))
    job_id = response.headers["Location"].split("test=")[1]
    return response.headers["Location"], job_id


def test_create_mailbox_and_watch_the_test_pass(client, db, create_tenant, login, mailbox_form, run_jobs):
    tenant = create_tenant("acme")
    login(tenant.owner)
    location, job_id = _create(client, mailbox_form())
    page = client.get(location).get_data(as_text=True)
    assert "Waiting for a worker" in page and f"/tests/{job_id}" in page and 'hx-trigger="load delay:1s"' in page
    run_jobs()
    widget = client.get(location.split("?")[0] + f"/tests/{job_id}").get_data(as_text=True)
    assert 'id="test-status">Passed' in widget and "hx-trigger" not in widget
    steps = re.findall(r'data-step="([a-z]+-[a-z]+)"', widget)
    assert steps[:3] == ["inbound-dns", "inbound-tcp", "inbound-tls"]
    assert "inbound-login" in steps and "inbound-folder" in steps and "outbound-auth" in steps
    assert "step-failed" not in widget
    assert "UIDVALIDITY" in widget and "Certificate for" in widget


def test_wrong_password_fails_with_auth_failed_and_marks_the_mailbox_failing(
        client, db, create_tenant, login, mailbox_form, run_jobs):
    tenant = create_tenant("acme")
    login(tenant.owner)
    location, job_id = _create(client, mailbox_form(inbound_password="wrong password!"))
    run_jobs()
    widget = client.get(location.split("?")[0] + f"/tests/{job_id}").get_data(as_text=True)
    assert 'id="test-status">Failed' in widget
    assert "auth_failed" in widget and "rejected the user name or password" in widget
    mailbox = db.session.scalar(select(Mailbox))
    mailbox_id = mailbox.id
    for _ in range(2):  # tenant threshold is 3 failures in a row
        client.post(f"/t/acme/mailboxes/{mailbox_id}/test")
        run_jobs()
    db.session.refresh(mailbox)
    assert mailbox.status is MailboxStatus.FAILING and mailbox.failure_streak == 3
    banner = client.get("/t/acme/").get_data(as_text=True)
    assert 'id="mailbox-banner"' in banner and "support@acme.test is failing (auth_failed" in banner
    log = client.get(f"/t/acme/mailboxes/{mailbox_id}").get_data(as_text=True)
    assert log.count("auth_failed") >= 3
    # fix the password: the next test passes and the mailbox recovers
    client.post(f"/t/acme/mailboxes/{mailbox_id}/edit", data=mailbox_form())
    client.post(f"/t/acme/mailboxes/{mailbox_id}/test")
    run_jobs()
    db.session.refresh(mailbox)
    assert mailbox.status is MailboxStatus.ACTIVE and mailbox.failure_streak == 0
    assert 'id="mailbox-banner"' not in client.get("/t/acme/").get_data(as_text=True)
    actions = db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert "mailbox.failing" in actions and "mailbox.recovered" in actions


def test_secrets_never_reach_html_logs_or_audit(client, db, create_tenant, login, mailbox_form, run_jobs, caplog):
    caplog.set_level(logging.DEBUG)
    tenant = create_tenant("acme")
    login(tenant.owner)
    form = mailbox_form()
    location, job_id = _create(client, form)
    run_jobs()
    mailbox_id = db.session.scalar(select(Mailbox.id))
    client.post(f"/t/acme/mailboxes/{mailbox_id}/edit", data={**form, "inbound_password": "new secret pass 1"})
    pages = [client.get(path).get_data(as_text=True) for path in (
        location, "/t/acme/mailboxes/", f"/t/acme/mailboxes/{mailbox_id}/edit", "/t/acme/audit/",
        f"/t/acme/mailboxes/{mailbox_id}/tests/{job_id}")]
    raw_column = db.session.execute(text("select inbound_password from mailboxes")).scalar()
    for secret in (form["inbound_password"], "new secret pass 1"):
        assert all(secret not in page for page in pages)
        assert secret not in caplog.text
        assert secret not in raw_column
    changes = db.session.scalars(select(AuditEvent.changes).where(AuditEvent.action == "mailbox.updated")).one()
    assert changes["inbound_password"] == "changed"
    assert db.session.get(Mailbox, mailbox_id).inbound_password == "new secret pass 1"


def test_bad_input_gives_field_errors_and_saves_nothing(client, db, create_tenant, login, mailbox_form):
    tenant = create_tenant("acme")
    login(tenant.owner)
    cases = {
        "inbound_port": ("0", "between 1 and 65535"), "outbound_port": ("70000", "between 1 and 65535"),
        "inbound_host": ("", "This field is required."), "inbound_protocol": ("gopher", "Choose one of the offered"),
        "address": ("support", "valid e-mail address"), "inbound_security": ("none", "switched off"),
    }
    for field, (value, message) in cases.items():
        response = client.post("/t/acme/mailboxes/new", data=mailbox_form(**{field: value}))
        assert response.status_code == 422, field
        html = response.get_data(as_text=True)
        assert f'id="{field}-error"' in html and message in html, field
    assert db.session.scalar(select(func.count()).select_from(Mailbox)) == 0


def test_ssrf_guard_refuses_private_hosts_when_not_allowed(app, client, db, create_tenant, login, mailbox_form):
    tenant = create_tenant("acme")
    login(tenant.owner)
    app.config["ALLOW_PRIVATE_HOSTS"] = False
    try:
        for host in ("127.0.0.1", "::1", "10.0.0.1", "169.254.169.254", "localhost"):
            html = client.post("/t/acme/mailboxes/new", data=mailbox_form(inbound_host=host)).get_data(as_text=True)
            assert "a private or internal address" in html, host
    finally:
        app.config["ALLOW_PRIVATE_HOSTS"] = True
    assert db.session.scalar(select(func.count()).select_from(Mailbox)) == 0


def test_pause_resume_delete_and_aliases(client, db, create_tenant, login, mailbox_form):
    from app.queues.services import create_queue

    tenant = create_tenant("acme")
    hr = create_queue(tenant, name="HR")
    login(tenant.owner)
    _create(client, mailbox_form(aliases="jobs@acme.test\nhelp@acme.test"))
    mailbox = db.session.scalar(select(Mailbox))
    assert sorted(a.address for a in mailbox.aliases) == ["help@acme.test", "jobs@acme.test"]
    jobs = next(a for a in mailbox.aliases if a.address == "jobs@acme.test")
    client.post(f"/t/acme/mailboxes/{mailbox.id}/aliases/{jobs.id}/queue", data={"queue_id": str(hr.id)})
    from app.mailboxes.services import queue_for_address

    db.session.expire_all()
    assert queue_for_address(tenant, "Jobs@Acme.test").name == "HR"
    client.post(f"/t/acme/mailboxes/{mailbox.id}/pause")
    db.session.refresh(mailbox)
    assert mailbox.status is MailboxStatus.PAUSED
    client.post(f"/t/acme/mailboxes/{mailbox.id}/resume")
    db.session.refresh(mailbox)
    assert mailbox.status is MailboxStatus.ACTIVE
    assert "Delete support@acme.test?" in client.get(f"/t/acme/mailboxes/{mailbox.id}/delete").get_data(as_text=True)
    client.post(f"/t/acme/mailboxes/{mailbox.id}/delete")
    assert db.session.scalar(select(func.count()).select_from(Mailbox)) == 0


def test_agents_cannot_see_mailboxes(client, create_tenant, add_member, login):
    tenant = create_tenant("acme")
    login(add_member(tenant, Role.AGENT))
    assert client.get("/t/acme/mailboxes/").status_code == 403
    assert 'href="/t/acme/mailboxes/"' not in client.get("/t/acme/").get_data(as_text=True)
