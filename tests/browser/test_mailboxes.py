"""In Chromium: add a mailbox, watch its connection test's steps turn green live, break the password, see why."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Page, expect

from tests.browser.flows import sign_up

pytestmark = pytest.mark.browser



def _fill_mailbox(page: Page, dovecot, smtp_server, mail_user, mail_ca, password: str) -> None:
    page.fill("input[name=name]", "Support")
    page.fill("input[name=address]", f"support-{uuid.uuid4().hex[:6]}@example.test")
    page.select_option("select[name=inbound_protocol]", "imap")
    page.fill("input[name=inbound_host]", dovecot.host)
    page.fill("input[name=inbound_port]", str(dovecot.imaps_port))
    page.select_option("select[name=inbound_security]", "tls")
    page.fill("input[name=inbound_username]", mail_user.email)
    page.fill("input[name=inbound_password]", password)
    page.click("details summary")
    page.fill("textarea[name=ca_pem]", mail_ca.read_text())
    page.select_option("select[name=outbound_mode]", "own")
    page.fill("input[name=outbound_host]", smtp_server.host)
    page.fill("input[name=outbound_port]", str(smtp_server.port))
    page.select_option("select[name=outbound_security]", "starttls")
    page.fill("input[name=outbound_username]", mail_user.email)
    page.fill("input[name=outbound_password]", mail_user.password)


def test_add_mailbox_watch_steps_then_break_the_password(page: Page, live_worker, dovecot, smtp_server, mail_user,
                                                          mail_ca):
    sign_up(page, "mbx", "Mailbox Co")
    page.click("nav.sidebar >> text=Mailboxes")
    page.click("#add-mailbox")
    _fill_mailbox(page, dovecot, smtp_server, mail_user, mail_ca, mail_user.password)
    page.click("#save-mailbox")
    widget = page.locator("#test-run")
    expect(widget).to_be_visible()
    # The widget polls and replaces itself: steps appear one by one until the test passed.
    expect(page.locator("#test-status")).to_have_text("Passed", timeout=20_000)
    for step in ("inbound-dns", "inbound-tcp", "inbound-tls", "inbound-login", "inbound-folder", "outbound-ehlo",
                 "outbound-starttls", "outbound-auth"):
        expect(page.locator(f'li.step-ok[data-step="{step}"]')).to_be_visible()
    expect(page.locator("li.step-failed")).to_have_count(0)

    page.click("text=Edit settings")
    page.fill("input[name=inbound_password]", "this is not the password")
    page.click("#save-mailbox")
    page.click("#run-test")
    expect(page.locator("#test-status")).to_have_text("Failed", timeout=20_000)
    failed = page.locator('li.step-failed[data-step="inbound-login"]')
    expect(failed).to_contain_text("auth_failed")
    expect(failed).to_contain_text("rejected the user name or password")
    assert mail_user.password not in page.content()
    assert page.console_errors == []
