"""In Chromium: a mailbox's password is changed at the Dovecot; within two sync cycles the health page shows the
mailbox failing with auth_failed, the admin gets the alert mail (through the region's relay, the test SMTP server)
and the webhook fires; the password is set back, the next sync works, and "resolved" follows by mail and webhook.

The session's worker serves region "default", which has no relay; this tenant lives in region "eu", served by a
worker of its own whose "eu" relays through the session's SMTP server."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import uuid
from email import message_from_bytes, policy

import pytest
from playwright.sync_api import Page, expect

from tests.browser.flows import PASSWORD
from tests.fixtures.browser import dev_oauth_settings

pytestmark = pytest.mark.browser
WAIT = 20.0


@pytest.fixture(scope="module")
def eu_worker(live_server, oauth_provider, dovecot, smtp_server, mail_ca):
    """``flask worker --region eu`` on the live server's database and Redis; its eu relay is the SMTP server."""
    relay_user, relay_password = f"relay-{secrets.token_hex(4)}@postroom.test", secrets.token_urlsafe(12)
    smtp_server.users[relay_user] = relay_password
    config = live_server.app.config
    regions = {**json.loads(config["REGIONS"]), "eu": {"smtp_relay": {
        "host": smtp_server.host, "port": smtp_server.port, "security": "starttls", "username": relay_user,
        "password": relay_password, "ca_pem": mail_ca.read_text(), "from": "desk@postroom.test"}}}
    oauth = dev_oauth_settings(oauth_provider, dovecot, smtp_server, mail_ca)
    env = {**os.environ, "POSTROOM_ENV": "testing", "POSTROOM_DATABASE_URL": live_server.database_url,
           "POSTROOM_REDIS_URL": config["REDIS_URL"], "POSTROOM_SECRET_KEY": config["SECRET_KEY"],
           "POSTROOM_ENCRYPTION_KEYS": ",".join(config["ENCRYPTION_KEYS"]), "POSTROOM_REGIONS": json.dumps(regions),
           "POSTROOM_ALLOW_PRIVATE_HOSTS": "1", "POSTROOM_CONNECT_TIMEOUT": str(int(config["CONNECT_TIMEOUT"])),
           "POSTROOM_BASE_URL": live_server.url, **{f"POSTROOM_{key}": value for key, value in oauth.items()}}
    process = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--region", "eu"],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    yield process
    process.terminate()
    process.wait(timeout=30)


def _sign_up_in_eu(page: Page) -> str:
    slug = f"alerts-{uuid.uuid4().hex[:8]}"
    page.goto("/signup")
    page.fill("input[name=tenant_name]", "Alert Co")
    page.fill("input[name=slug]", slug)
    page.fill("input[name=name]", "Ada Admin")
    page.fill("input[name=email]", f"{slug}@example.test")
    page.fill("input[name=password]", PASSWORD)
    page.select_option("select[name=region]", "eu")
    page.click("button[type=submit]")
    page.wait_for_url(f"**/t/{slug}/")
    return slug


def _mailbox(live_server, slug: str, dovecot, mail_user, mail_ca) -> int:
    """The mailbox, reading the user's Dovecot INBOX; the tenant marks a mailbox failing after two failures."""
    from sqlalchemy import select

    from app.extensions import db
    from app.mailboxes.services import create_mailbox
    from tenants.models import Tenant

    with live_server.app.app_context():
        tenant = db.session.scalar(select(Tenant).where(Tenant.slug == slug))
        tenant.failure_threshold = 2
        mailbox = create_mailbox(tenant, {
            "name": "Support", "address": mail_user.email, "inbound_protocol": "imap", "inbound_host": dovecot.host,
            "inbound_port": dovecot.imaps_port, "inbound_security": "tls", "inbound_username": mail_user.email,
            "inbound_password": mail_user.password, "ca_pem": mail_ca.read_text(), "outbound_mode": "none"})
        try:
            return mailbox.id
        finally:
            db.session.remove()


def _sync_cycle(live_server, mailbox_id: int) -> dict:
    """One sync cycle: the sync job the scheduler's poll enqueues for a due mailbox, run by the eu worker."""
    from app.extensions import db
    from app.inbound.services import start_sync
    from app.mailboxes.models import Mailbox

    with live_server.app.app_context():
        job = start_sync(db.session.get(Mailbox, mailbox_id))
        db.session.remove()
    deadline = time.monotonic() + WAIT
    while not (job.is_finished or job.is_failed):
        assert time.monotonic() < deadline, "the sync job did not run"
        time.sleep(0.1)
        job.refresh()
    return job.return_value()


def _mail_to(smtp_server, address: str, subject: str):
    deadline = time.monotonic() + WAIT
    while True:
        for sent in list(smtp_server.messages):
            message = message_from_bytes(sent.data, policy=policy.default)
            if address in sent.rcpt_tos and subject in str(message["Subject"]):
                return message
        assert time.monotonic() < deadline, f"no mail {subject!r} to {address}"
        time.sleep(0.2)


def _events(receiver, event: str) -> list[dict]:
    deadline = time.monotonic() + WAIT
    while True:
        found = [json.loads(hit.body) for hit in list(receiver.received) if hit.headers.get("Postroom-Event") == event]
        if found:
            return found
        assert time.monotonic() < deadline, f"no {event} webhook"
        time.sleep(0.2)


def test_a_broken_password_alerts_by_mail_and_webhook_and_the_fix_resolves_it(
        page: Page, live_server, eu_worker, dovecot, smtp_server, mail_user, mail_ca, receiver):
    slug = _sign_up_in_eu(page)
    owner = f"{slug}@example.test"
    mailbox_id = _mailbox(live_server, slug, dovecot, mail_user, mail_ca)

    page.click("nav.sidebar >> text=Webhooks")  # the alert events are offered, with their labels
    page.fill("input[name=url]", receiver.url)
    page.check('input[name=events][value="alert.opened"]')
    page.check('input[name=events][value="alert.resolved"]')
    page.click("#new-webhook button[type=submit]")
    expect(page.locator("#webhook-secret")).to_be_visible()

    assert "failed" not in _sync_cycle(live_server, mailbox_id)
    page.click("nav.sidebar >> text=Health")
    row = page.locator(f"#health-mailbox-{mailbox_id}")
    expect(row).to_have_attribute("data-status", "active")

    dovecot.set_password(mail_user.email, "changed at the server")
    for _cycle in range(2):
        assert _sync_cycle(live_server, mailbox_id) == {"failed": "auth_failed"}
    page.reload()
    expect(row).to_have_attribute("data-status", "failing")
    expect(row.locator("code.failure-category")).to_have_text("auth_failed")
    opened = _mail_to(smtp_server, owner, f"The mailbox {mail_user.email} keeps failing")
    assert "AUTHENTICATIONFAILED" in opened.get_body(("plain",)).get_content()
    [event] = _events(receiver, "alert.opened")
    assert (event["data"]["alert"]["kind"], event["data"]["alert"]["subject"]) == ("mailbox_failing",
                                                                                   f"mailbox:{mailbox_id}")
    page.click("nav.sidebar >> text=Alerts")
    expect(page.locator("#open-alerts tr.alert-open[data-kind=mailbox_failing]")).to_contain_text(
        "failed 2 times in a row")

    dovecot.set_password(mail_user.email, mail_user.password)
    assert "failed" not in _sync_cycle(live_server, mailbox_id)
    page.click("nav.sidebar >> text=Health")
    expect(row).to_have_attribute("data-status", "active")
    resolved = _mail_to(smtp_server, owner, "Resolved: Mailbox failing")
    assert f"The mailbox Support ({mail_user.email}) works again." in resolved.get_body(("plain",)).get_content()
    [event] = _events(receiver, "alert.resolved")
    assert event["data"]["alert"]["resolved_at"] is not None
    assert len(_events(receiver, "alert.opened")) == 1
    page.click("nav.sidebar >> text=Alerts")
    expect(page.locator("#open-alerts")).to_contain_text("No open alerts")
    expect(page.locator("#recent-alerts tr.alert-resolved[data-resolution=cleared]")).to_contain_text("works again")
    assert page.console_errors == []
