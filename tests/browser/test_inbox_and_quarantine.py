"""In Chromium: search the inbox as you type, read why a reply joined its ticket, open a held mail's details in
place and replay it with a checkbox that lives outside its form. No console error, no CSP violation."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.flows import htmx_ready, sign_up
from tests.fixtures.inbox import Inbox, make_mail
from tests.web.test_quarantine_page import deep_mail

pytestmark = pytest.mark.browser


def _seed(live_server, slug: str) -> tuple[int, int]:
    """Mail delivered straight into the live server's database: a ticket with a reply, and one held mail."""
    from sqlalchemy import select

    from app.extensions import db
    from app.mailboxes.models import Mailbox
    from tenants.models import Tenant

    with live_server.app.app_context():
        tenant = db.session.scalar(select(Tenant).where(Tenant.slug == slug))
        mailbox = Mailbox(tenant_id=tenant.id, name="Support", address=f"support@{slug}.test",
                          inbound_host="127.0.0.1", inbound_port=993, inbound_username="support", outbound_mode="none")
        db.session.add(mailbox)
        db.session.commit()
        inbox = Inbox(tenant, mailbox, None)
        first = inbox.message_of(inbox.deliver(make_mail(subject="Printer jam", message_id=f"<root@{slug}.test>")))
        inbox.deliver(make_mail(subject="Re: Printer jam", headers={"In-Reply-To": f"<root@{slug}.test>"}))
        inbox.deliver(make_mail(subject="VPN down", sender="bob@client.test"))
        held = inbox.deliver(deep_mail())
        return first.ticket_id, held.id


def test_inbox_search_thread_reasons_and_quarantine_replay(page: Page, live_server):
    slug = sign_up(page, "inbox", "Inbox Co")
    ticket_id, held_id = _seed(live_server, slug)

    page.click("nav.sidebar >> text=Inbox")
    expect(page.locator("#tickets .ticket-row")).to_have_count(2)
    htmx_ready(page, "#inbox-filters")
    page.fill("#q", "printer jam")  # the list refreshes itself, without a submit (every body says "printer")
    expect(page.locator("#tickets .ticket-row")).to_have_count(1)
    page.click(f"#ticket-{ticket_id} >> text=Printer jam")
    expect(page.locator(".thread-reason").nth(1)).to_have_text(
        "Joined this ticket because it answers an earlier message (In-Reply-To).")

    page.click("nav.sidebar >> text=Quarantine")
    page.click(f"#held-{held_id} >> text=Details")  # loads into the page, the list stays
    expect(page.locator("#quarantine-detail .mail-headers")).to_contain_text("ann@client.test")
    expect(page.locator(f"#held-{held_id}")).to_be_visible()
    page.check(f"#select-{held_id}")
    page.click("#replay-selected")
    expect(page.locator(".flash")).to_contain_text("1 message was put back into processing.")
    expect(page.locator(f"#held-{held_id}")).to_have_count(0)
    assert page.console_errors == []
