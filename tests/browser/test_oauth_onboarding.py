"""In Chromium: connect a mailbox through the dev OAuth provider's real consent page, keep it working while its
tokens rotate, lose it to refresh-token reuse detection and re-connect it from the banner; and a refused consent.

Everything runs against the session's live server and live worker (committed data), so every test uses its own
tenant and its own provider user (who is also a Dovecot and SMTP user, so XOAUTH2 logins map to a mailbox).
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect

from tests.browser.flows import sign_up


class ConsentPageNotReached(AssertionError):
    """Clicking "Connect …" / "Re-connect" did not take the browser to the provider's consent page."""


pytestmark = pytest.mark.browser

TEST_TIMEOUT = 20_000
BAD_REQUEST = "Failed to load resource: the server responded with a status of 400 (BAD REQUEST)"
STEPS_OK = ("inbound-login", "inbound-folder", "outbound-auth")



@pytest.fixture(autouse=True)
def console_sources(page: Page) -> list[tuple[str, str]]:
    """Console errors with the URL of the page or resource that caused them (the fixture records bare text)."""
    sources: list[tuple[str, str]] = []
    page.on("console", lambda m: sources.append((m.text, m.location.get("url", ""))) if m.type == "error" else None)
    return sources



@pytest.fixture
def provider_user(new_mail_user) -> tuple[str, str]:
    return new_mail_user()


def _at_provider(page: Page, oauth_provider) -> None:
    try:
        page.wait_for_url(re.compile("^" + re.escape(oauth_provider.authorize_url) + r"\?"), timeout=5_000)
    except PlaywrightError:
        page.wait_for_timeout(500)  # the CSP report reaches the console a moment after the blocked request
        raise ConsentPageNotReached(f"still at {page.url}; console: {page.console_errors}") from None
    expect(page.locator("#title")).to_have_text("Authorize Postroom (dev)")
    expect(page.locator("#scope")).to_have_text("openid email offline_access imap smtp")


def _sign_in_at_provider(page: Page, oauth_provider, username: str, password: str, decision: str = "allow") -> None:
    _at_provider(page, oauth_provider)
    page.fill("#username", username)
    page.fill("#password", password)
    page.click(f"#{decision}")


def _start_connect(page: Page, slug: str) -> None:
    page.click("nav.sidebar >> text=Mailboxes")
    page.wait_for_url(f"**/t/{slug}/mailboxes/")
    page.click("#connect-dev")


def _expect_test_passed(page: Page) -> None:
    expect(page.locator("#test-status")).to_have_text("Passed", timeout=TEST_TIMEOUT)
    for step in STEPS_OK:
        expect(page.locator(f'li.step-ok[data-step="{step}"]')).to_be_visible()
    expect(page.locator("li.step-failed")).to_have_count(0)


def _onboard(page: Page, oauth_provider, user: tuple[str, str]) -> tuple[str, int]:
    """Sign up, connect the dev provider mailbox of ``user``, and wait for its first test to pass."""
    slug = sign_up(page, "oa", "OAuth Co")
    _start_connect(page, slug)
    _sign_in_at_provider(page, oauth_provider, *user)
    page.wait_for_url(re.compile(rf"/t/{slug}/mailboxes/(\d+)\?test=[0-9a-f]+$"))
    mailbox_id = int(re.search(r"/mailboxes/(\d+)", page.url).group(1))
    expect(page.locator("h1")).to_contain_text(user[0])
    expect(page.get_by_text(f"{user[0]} is connected. Its connection test is running.")).to_be_visible()
    _expect_test_passed(page)
    return slug, mailbox_id


def _run_test(page: Page) -> None:
    """Click "Test connection" and wait until the page shows that new test (not the previous one's result)."""
    previous = page.url
    page.click("#run-test")
    page.wait_for_url(lambda url: re.search(r"\?test=[0-9a-f]+$", url) is not None and url != previous)


def _assert_console_clean(page: Page, sources: list[tuple[str, str]], oauth_provider, *expected: str) -> None:
    """No console error on Postroom's pages besides ``expected``; the dev provider's page (not ours) has no
    favicon, so Chromium's 404 for it is not held against Postroom."""
    errors = list(page.console_errors)
    for text, url in sources:
        if url == f"{oauth_provider.url}/favicon.ico":
            errors.remove(text)
    assert errors == list(expected), sources


def _grant(live_server, mailbox_id: int):
    """The mailbox's grant as stored (tokens decrypted by the model), read in its own app context."""
    from app.extensions import db
    from app.mailboxes.models import Mailbox
    from app.oauth.models import OAuthGrant

    with live_server.app.app_context():
        mailbox = db.session.get(Mailbox, mailbox_id)
        grant = db.session.get(OAuthGrant, mailbox.oauth_grant_id)
        db.session.expunge(grant)
        return grant


def _expire_access_token(live_server, mailbox_id: int) -> None:
    """Make the stored access token look expired, so the next use must refresh first."""
    from app.extensions import db
    from app.mailboxes.models import Mailbox
    from app.oauth.models import OAuthGrant
    from tenants.models import utcnow

    with live_server.app.app_context():
        mailbox = db.session.get(Mailbox, mailbox_id)
        grant = db.session.get(OAuthGrant, mailbox.oauth_grant_id)
        grant.access_expires_at = utcnow() - timedelta(minutes=5)
        db.session.commit()


def _refreshes(oauth_provider, live_server) -> int:
    return oauth_provider.stats(live_server.app.config["OAUTH_DEV_CLIENT_ID"]).get("refresh_token", 0)


def test_onboard_through_the_providers_consent_page(page: Page, live_worker, oauth_provider, provider_user,
                                                    console_sources):
    username, password = provider_user
    _onboard(page, oauth_provider, provider_user)
    expect(page.locator(".page-head .badge")).to_have_text("Active")
    expect(page.locator("#reconnect")).to_be_visible()
    assert password not in page.content()

    page.click("nav.sidebar >> text=Mailboxes")
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(username)
    _assert_console_clean(page, console_sources, oauth_provider)


def test_tokens_rotate_then_reuse_detection_forces_a_reconnect(page: Page, live_worker, live_server, oauth_provider,
                                                               provider_user, console_sources):
    username, password = provider_user
    slug, mailbox_id = _onboard(page, oauth_provider, provider_user)
    before = _grant(live_server, mailbox_id)
    assert before.refresh_token and before.access_token

    # The access token has expired: "Test connection" must refresh it (exactly once) and still pass.
    _expire_access_token(live_server, mailbox_id)
    refreshes = _refreshes(oauth_provider, live_server)
    _run_test(page)
    _expect_test_passed(page)
    assert _refreshes(oauth_provider, live_server) == refreshes + 1
    after = _grant(live_server, mailbox_id)
    assert after.id == before.id
    assert after.refresh_token and after.refresh_token != before.refresh_token
    assert after.access_token != before.access_token
    assert after.last_refresh_at is not None and after.last_error is None

    # The rotated-out refresh token is dead; presenting it looks like theft and revokes the whole family.
    reused = oauth_provider.refresh(before.refresh_token)
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"

    # The next refresh is refused too: the mailbox needs a re-connect, and the banner says so.
    _expire_access_token(live_server, mailbox_id)
    _run_test(page)
    expect(page.locator("#test-status")).to_have_text("Failed", timeout=TEST_TIMEOUT)
    expect(page.locator('li.step-failed[data-step="inbound-token"]')).to_contain_text("oauth_reauth")
    page.reload()
    banner = page.locator("#mailbox-banner")
    expect(banner).to_contain_text(f"{username} needs to be re-connected")
    expect(page.locator(".page-head .badge")).to_have_text("Needs re-connect")

    page.click(f"#banner-reconnect-{mailbox_id}")
    _sign_in_at_provider(page, oauth_provider, username, password)
    page.wait_for_url(re.compile(rf"/t/{slug}/mailboxes/{mailbox_id}\?test=[0-9a-f]+$"))
    _expect_test_passed(page)
    expect(page.locator(".page-head .badge")).to_have_text("Active")
    expect(page.locator("#mailbox-banner")).to_have_count(0)
    reconnected = _grant(live_server, mailbox_id)
    assert reconnected.id != before.id and reconnected.status.value == "active"
    assert password not in page.content()
    _assert_console_clean(page, console_sources, oauth_provider)


def test_denied_consent_connects_nothing(page: Page, live_worker, live_server, oauth_provider, provider_user,
                                         console_sources):
    slug = sign_up(page, "oa", "OAuth Co")
    _start_connect(page, slug)
    _sign_in_at_provider(page, oauth_provider, *provider_user, decision="deny")
    page.wait_for_url("**/oauth/callback?**")
    expect(page.locator("h1")).to_have_text("Mailbox not connected")
    expect(page.locator("#oauth-error")).to_contain_text("Access was not granted")

    page.goto(f"/t/{slug}/mailboxes/")
    expect(page.get_by_text("No mailboxes yet.")).to_be_visible()
    expect(page.locator("table tbody tr")).to_have_count(0)
    # The failure page is served with status 400 (on purpose, see tests/oauth/test_onboarding.py), which Chromium
    # reports for the document itself; that is the only console error allowed.
    callback = [(text, url) for text, url in console_sources if url.startswith(f"{live_server.url}/oauth/callback?")]
    assert [text for text, _url in callback] == [BAD_REQUEST]
    _assert_console_clean(page, console_sources, oauth_provider, BAD_REQUEST)
