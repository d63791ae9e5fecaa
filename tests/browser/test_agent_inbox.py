"""In Chromium, two agents on one tenant: a ticket arrives live in the open list and the open ticket, the agent opens
it with the keyboard and replies, a colleague's concurrent reply brings the collision prompt, split and merge work.
No console error, no CSP violation."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.flows import PASSWORD, sign_up
from tests.fixtures.inbox import Inbox, make_mail

pytestmark = pytest.mark.browser


def _inbox(live_server, slug: str) -> Inbox:
    from sqlalchemy import select

    from app.extensions import db
    from app.mailboxes.models import Mailbox
    from tenants.models import Tenant

    tenant = db.session.scalar(select(Tenant).where(Tenant.slug == slug))
    mailbox = db.session.scalar(select(Mailbox).where(Mailbox.tenant_id == tenant.id))
    if mailbox is None:
        mailbox = Mailbox(tenant_id=tenant.id, name="Support", address=f"support@{slug}.test",
                          inbound_host="127.0.0.1", inbound_port=993, inbound_username="support", outbound_mode="own",
                          outbound_host="127.0.0.1", outbound_port=9, outbound_security="none")  # never delivered
        db.session.add(mailbox)
        db.session.commit()
    return Inbox(tenant, mailbox, None)


def _deliver(live_server, slug: str, **mail) -> int:
    """Mail straight into the live server's database, as the ingest worker writes it; returns its ticket id."""
    with live_server.app.app_context():
        inbox = _inbox(live_server, slug)
        return inbox.message_of(inbox.deliver(make_mail(**mail))).ticket_id


def _colleague(live_server, slug: str) -> str:
    """A second agent of the tenant; returns their e-mail (password: PASSWORD)."""
    from sqlalchemy import select

    from app.auth.models import User
    from app.extensions import db
    from tenants.models import Membership, Role, Tenant

    with live_server.app.app_context():
        tenant = db.session.scalar(select(Tenant).where(Tenant.slug == slug))
        user = User(email=f"bea-{uuid.uuid4().hex[:6]}@example.test", name="Bea Colleague")
        user.set_password(PASSWORD)
        db.session.add_all([user, Membership(tenant=tenant, user=user, role=Role.AGENT)])
        db.session.commit()
        return user.email


def _second_page(browser: Browser, live_server, email: str) -> Page:
    context = browser.new_context(base_url=live_server.url, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto("/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/t/[^/]+/$"))  # signed in: the tenant's dashboard
    return page


def test_live_arrival_keyboard_reply_and_collision(page: Page, browser: Browser, live_server):
    slug = sign_up(page, "agents", "Agents Co")
    first = _deliver(live_server, slug, subject="Printer jam", message_id=f"<p1@{slug}.test>")
    page.click("nav.sidebar >> text=Inbox")
    expect(page.locator("#tickets .ticket-row")).to_have_count(1)

    second = _deliver(live_server, slug, subject="VPN down", sender="bob@client.test")
    expect(page.locator(f"#ticket-{second}")).to_be_visible(timeout=4_000)  # within 2 s polls, no reload

    page.locator("body").press("j")  # the first row (newest: VPN down) takes the focus
    page.locator("body").press("j")
    expect(page.locator(f"#ticket-{first}")).to_have_class(re.compile(r"\bis-current\b"))
    page.keyboard.press("o")
    page.wait_for_url(f"**/inbox/{first}")

    _deliver(live_server, slug, subject="Re: Printer jam", body="It smokes now.",
             headers={"In-Reply-To": f"<p1@{slug}.test>"})
    expect(page.locator("#thread")).to_contain_text("It smokes now.", timeout=4_000)  # the open ticket updates too

    colleague = _second_page(browser, live_server, _colleague(live_server, slug))
    colleague.goto(f"/t/{slug}/inbox/{first}")
    page.locator("body").press("r")
    expect(page.locator("#reply-body")).to_be_focused()
    page.keyboard.type("We are sending a technician.")
    colleague.fill("#reply-body", "Please unplug it.")
    colleague.click("#send-reply")
    expect(colleague.locator(".flash")).to_contain_text("Reply queued")

    page.keyboard.press("Control+Enter")
    expect(page.locator("#collision")).to_contain_text("Bea Colleague")
    expect(page.locator("#collision")).to_contain_text("Please unplug it.")
    expect(page.locator("#collision")).to_be_focused()
    expect(page.locator("#reply-body")).to_have_value("We are sending a technician.")
    page.click("#send-reply")  # "Send anyway": the agent has seen the change
    expect(page.locator(".flash")).to_contain_text("Reply queued")
    expect(page.locator("#thread")).to_contain_text("We are sending a technician.")
    # The collision answer is a 409 on purpose (Chromium logs every 4xx); nothing else may be logged.
    assert [e for e in page.console_errors if "status of 409 (CONFLICT)" not in e] == []
    colleague.context.close()


def test_split_and_merge(page: Page, live_server):
    slug = sign_up(page, "split", "Split Co")
    ticket = _deliver(live_server, slug, subject="Printer jam", message_id=f"<s1@{slug}.test>")
    _deliver(live_server, slug, subject="Re: Printer jam", body="Also, my badge does not open the door.",
             headers={"In-Reply-To": f"<s1@{slug}.test>"})
    page.goto(f"/t/{slug}/inbox/{ticket}")
    page.locator(".split-form button").last.click()
    expect(page.locator(".flash")).to_contain_text("The message is now ticket")
    expect(page.locator("#thread")).to_contain_text("my badge does not open the door")
    new_reference = page.locator("#ticket-head .reference").inner_text()

    page.goto(f"/t/{slug}/inbox/{ticket}")
    page.fill("#merge-target", new_reference)
    page.click("#merge-ticket")
    expect(page.locator(".flash")).to_contain_text("was merged into")
    expect(page.locator("#thread article.message")).to_have_count(2)
    assert page.console_errors == []
