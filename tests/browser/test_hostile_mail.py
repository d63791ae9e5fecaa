"""In Chromium: every mail of the hostile corpus (tests/fixtures/hostile/) is opened on its ticket page. No script
runs, no form submits, nothing navigates, and no request leaves for a host other than ours, by the browser's own
request log, until the agent shows the remote images of one message. Twice: as delivered (sanitized when parsed
and again when rendered), and with both sanitizers bypassed, where the frame's CSP and sandbox stand alone.

Every attack would leave a trace if it worked: a request to evil.example, a "PWNED" console line, a dialog, a
changed title, a navigation, a popup.
"""

from __future__ import annotations

import contextlib
import email
import uuid
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Frame, Page, expect

from tests.browser.flows import PASSWORD, sign_up
from tests.fixtures.inbox import Inbox

pytestmark = pytest.mark.browser

CORPUS = Path(__file__).parent.parent / "fixtures" / "hostile"
ATTACKS = sorted(path.stem for path in CORPUS.glob("*.eml"))


@dataclass
class Watch:
    """What the browser did: every request it started (CSP-blocked ones included), those that reached the network
    (the route handler), dialogs, console lines, popups."""

    own: str
    requests: list = field(default_factory=list)
    routed: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    popups: list[str] = field(default_factory=list)

    def foreign(self) -> list:
        return [r for r in self.requests if urlsplit(r.url).netloc != self.own and urlsplit(r.url).scheme != "data"]

    def foreign_routed(self) -> list[str]:
        return [url for url in self.routed if urlsplit(url).netloc != self.own]


@dataclass
class Seeded:
    slug: str
    email: str
    messages: dict[str, tuple[int, int]]  # attack → (ticket id, message id)


@pytest.fixture(scope="module")
def hostile(browser, live_server) -> Seeded:
    """A tenant signed up through the form, with every mail of the corpus delivered into it."""
    from sqlalchemy import select

    from app.extensions import db
    from app.mailboxes.models import Mailbox
    from app.tickets.models import Message
    from tenants.models import Tenant

    context = browser.new_context(base_url=live_server.url)
    slug = sign_up(context.new_page(), "hostile", "Hostile Co")
    context.close()
    with live_server.app.app_context():
        tenant = db.session.scalar(select(Tenant).where(Tenant.slug == slug))
        mailbox = Mailbox(tenant_id=tenant.id, name="Support", address=f"support@{slug}.test",
                          inbound_host="127.0.0.1", inbound_port=993, inbound_username="support", outbound_mode="none")
        db.session.add(mailbox)
        db.session.commit()
        inbox = Inbox(tenant, mailbox, None)
        messages = {}
        for attack in ATTACKS:
            message = inbox.message_of(inbox.deliver((CORPUS / f"{attack}.eml").read_bytes()))
            messages[attack] = (message.ticket_id, message.id)
        # A second message with a pixel of its own on the tracking-pixel ticket: its images stay blocked.
        reference = db.session.get(Message, messages["tracking-pixel"][1]).ticket.reference
        inbox.deliver(_second_pixel_mail(reference))
    return Seeded(slug, f"{slug}@example.test", messages)


def _second_pixel_mail(reference: str) -> bytes:
    message = EmailMessage()
    message["From"], message["To"] = "Mallory <mallory@evil.example>", "support@acme.test"
    message["Subject"], message["Message-ID"] = f"Re: Tracking pixel [#{reference}]", f"<{uuid.uuid4()}@evil.example>"
    message.set_content("Second newsletter")
    message.add_alternative('<p>Second newsletter</p><img src="http://tracker-two.example/p.gif">', subtype="html")
    return bytes(message)


@pytest.fixture(scope="module")
def _watched_page(browser, live_server, hostile):
    """One signed-in page for the whole corpus (a log-in per case cost a second each); every request for a host
    other than the live server is recorded and aborted before it reaches the network."""
    context = browser.new_context(base_url=live_server.url, locale="en-US")
    own = urlsplit(live_server.url).netloc
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.watch = Watch(own)

    def route(route):
        page.watch.routed.append(route.request.url)
        if urlsplit(route.request.url).netloc == own:
            route.continue_()
        else:
            route.abort()

    context.route("**/*", route)
    context.on("request", lambda request: page.watch.requests.append(request))
    context.on("page", lambda popup: page.watch.popups.append(popup.url))
    page.on("dialog", lambda dialog: (page.watch.dialogs.append(dialog.message), dialog.dismiss()))
    page.on("console", lambda message: page.watch.console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: page.watch.console.append(f"pageerror: {error}"))
    page.goto("/login")
    page.fill("input[name=email]", hostile.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**/t/{hostile.slug}/")
    yield page
    context.close()


@pytest.fixture
def watched(_watched_page):
    """The shared page with a fresh record: every request, dialog, console line and popup of this case only."""
    _watched_page.goto("about:blank")
    _watched_page.watch = Watch(_watched_page.watch.own)
    return _watched_page


def _open(page: Page, hostile: Seeded, attack: str) -> tuple[Frame, str]:
    ticket_id, message_id = hostile.messages[attack]
    url = f"/t/{hostile.slug}/inbox/{ticket_id}"
    page.goto(url)
    frame_element = page.locator(f"#message-frame-{message_id}")
    frame_element.scroll_into_view_if_needed()
    frame = frame_element.element_handle().content_frame()
    expect(frame.locator("body")).to_contain_text(f"Harmless text of the {attack} mail.")  # it did render
    return frame, page.url


# What a curious agent might click: links that lost their target, script and data: links, buttons, fields,
# elements with handlers. (Not ordinary links: following one is what a link is for.)
POKE = ('a:not([href]), a[href*="script:" i], a[href^="data:" i], area, button, input, summary, [onclick], '
        "[onmouseover], [onpointerenter]")


def _poke(frame: Frame) -> None:
    """Hover over and click, as a user would (trusted input events), whatever could trigger something."""
    for element in frame.locator(POKE).all():
        if not element.is_visible():
            continue
        with contextlib.suppress(PlaywrightError):
            element.hover(timeout=1_000)
            element.click(timeout=1_000, no_wait_after=True)


REFUSED = "chrome-error://chromewebdata/"  # where Chromium leaves a frame whose navigation it refused


def _assert_nothing_ran_or_left(page: Page, frame: Frame, frame_url: str, page_url: str, *,
                                refused_ok: bool = False, settle_ms: int = 1_200) -> None:
    page.wait_for_timeout(settle_ms)  # a meta refresh of 0-1 s, late loads, a delayed script
    watch: Watch = page.watch
    assert watch.dialogs == []
    # Only a script that ran logs at level "log"; the browser's refusals (errors) may quote the payload.
    assert [line for line in watch.console if "PWNED" in line and not line.startswith(("error:", "warning:"))] == []
    assert watch.foreign_routed() == []  # nothing reached the network for another host
    assert watch.popups == []
    assert page.url == page_url  # the page around the frame was not navigated
    # The frame neither: or, for a raw link clicked, the navigation was refused (the page's own CSP allows frames
    # from our origin only, so a frame cannot be sent to data: or another host).
    assert frame.url == frame_url or (refused_ok and frame.url == REFUSED), frame.url
    assert "PWNED" not in page.title() and "PWNED" not in frame.evaluate("document.title")


@pytest.mark.parametrize("attack", ATTACKS)
def test_hostile_mail_as_delivered_is_inert_and_silent(watched: Page, hostile, attack):
    frame, page_url = _open(watched, hostile, attack)
    frame_url = frame.url
    assert "images=1" not in frame_url
    _poke(frame)
    # A short settle: the element count below proves no script, meta refresh or other delayed trigger is left.
    _assert_nothing_ran_or_left(watched, frame, frame_url, page_url, settle_ms=300)
    # Sanitized twice: not even an attempt at another host (a CSP refusal would still show in this log).
    assert [r.url for r in watched.watch.foreign()] == []
    assert frame.evaluate("document.querySelectorAll('script, form, iframe, object, embed, meta[http-equiv], base, "
                          "svg, style:not(head > style), link, [style]').length") == 0
    assert [line for line in watched.watch.console if line.startswith(("error", "pageerror"))] == []


@pytest.mark.parametrize("attack", ATTACKS)
def test_hostile_mail_with_sanitizers_bypassed_is_held_by_the_frames_csp_and_sandbox(
        watched: Page, hostile, live_server, monkeypatch, attack):
    """As if the stored HTML had escaped the parse-time sanitizer and the render-time one did nothing."""
    from app.extensions import db
    from app.inbox import rendering
    from app.tickets.models import Message

    _ticket_id, message_id = hostile.messages[attack]
    raw = email.message_from_bytes((CORPUS / f"{attack}.eml").read_bytes(), policy=policy.default)
    html = raw.get_body(("html",)).get_content()
    monkeypatch.setattr(rendering, "frame_html", lambda tenant, message, allow_remote: rendering.Rendered(
        message.html, 0))
    with live_server.app.app_context():
        message = db.session.get(Message, message_id)
        original, message.html = message.html, html
        db.session.commit()
    try:
        frame, page_url = _open(watched, hostile, attack)
        frame_url = frame.url
        _poke(frame)
        _assert_nothing_ran_or_left(watched, frame, frame_url, page_url, refused_ok=True)
        # Whatever the raw HTML asked of another host, the browser refused it before the network (CSP).
        for request in watched.watch.foreign():
            assert request.failure == "csp", (request.url, request.failure)
    finally:
        with live_server.app.app_context():
            message = db.session.get(Message, message_id)
            message.html = original
            db.session.commit()


def test_show_images_loads_the_remote_images_of_that_message_only(watched: Page, hostile):
    _open(watched, hostile, "tracking-pixel")
    _ticket_id, message_id = hostile.messages["tracking-pixel"]
    watched.wait_for_timeout(500)
    assert [r.url for r in watched.watch.foreign()] == []  # blocked: not even attempted
    notice = watched.locator(f"#images-{message_id}")
    expect(notice).to_contain_text("Remote images are blocked")
    with watched.expect_request("http://tracker.example/p.gif") as pixel:
        watched.click(f"#show-images-{message_id}")
    assert "referer" not in pixel.value.headers  # the sender learns nothing about where it was read
    expect(notice).to_contain_text("Remote images are shown for this message.")
    expect(watched.locator(f"#show-images-{message_id}")).to_have_count(0)
    frame = watched.locator(f"#message-frame-{message_id}").element_handle().content_frame()
    assert frame.url.endswith(f"/messages/{message_id}/frame?images=1")
    expect(frame.locator('img[src="http://tracker.example/p.gif"]')).to_have_count(1)
    watched.wait_for_timeout(500)
    assert {urlsplit(r.url).netloc for r in watched.watch.foreign()} == {"tracker.example"}  # not tracker-two
    assert watched.watch.foreign_routed() == ["http://tracker.example/p.gif"]  # attempted, and aborted by the test
    assert watched.watch.dialogs == []
