"""Onboarding in a real browser: sign-up, login, invitations, roles over htmx, localization, tenant isolation.

Everything runs against the session's live server (committed data, never rolled back), so every test uses its own
slugs and e-mail addresses. Every page's console errors and page errors are recorded and must be empty at the end:
that proves the strict CSP (no inline script or style) blocked nothing and htmx ran without errors.
"""

from __future__ import annotations

import re
import uuid
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

pytestmark = pytest.mark.browser

PASSWORD = "a long passphrase 42"


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _email(prefix: str) -> str:
    return f"{_unique(prefix)}@example.test"


def _url(page: Page, path: str) -> re.Pattern[str]:
    """Matches ``path`` on the live server, ignoring a query string or fragment."""
    return re.compile(r"^https?://[^/]+" + re.escape(path) + r"(?:[?#].*)?$")


# --- console watching ---------------------------------------------------------------------------------------------

def _watch(page: Page) -> Page:
    """Record console errors and page errors with their URL as ``page.problems`` (see ``_problems``).

    The ``page`` fixture's ``console_errors`` holds the same errors as bare text; the URL is needed to tell
    Chromium's "Failed to load resource" note about a status the test provoked on purpose from a real problem.
    """
    problems: list[tuple[str, str]] = []
    page.on("console", lambda m: problems.append((m.text, m.location.get("url", ""))) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append((str(error), "")))
    page.problems = problems
    return page


def _problems(page: Page, *provoked: tuple[str, int]) -> list[tuple[str, str]]:
    """Console errors, except Chromium's notes about the ``(path, status)`` answers in ``provoked``."""
    allowed = set(provoked)

    def expected(text: str, url: str) -> bool:
        return text.startswith("Failed to load resource") and any(
            urlsplit(url).path == path and f"status of {status} " in text for path, status in allowed)

    return [(text, url) for text, url in page.problems if not expected(text, url)]


def _assert_clean(page: Page, *provoked: tuple[str, int]) -> None:
    assert _problems(page, *provoked) == []
    if hasattr(page, "console_errors"):  # the fixture's page: its bare list holds exactly the same errors
        assert len(page.console_errors) == len(page.problems)


def _open_context(browser: Browser, base_url: str, locale: str = "en-US") -> Page:
    """A second, independent browser context (own cookies), watched like the fixture's page."""
    context = browser.new_context(base_url=base_url, locale=locale)
    page = context.new_page()
    page.set_default_timeout(10_000)
    return _watch(page)


# --- flows --------------------------------------------------------------------------------------------------------

def _sections(page: Page) -> Locator:
    return page.get_by_role("navigation", name=re.compile("^(Sections|Bereiche)$"))


def _heading(page: Page) -> Locator:
    return page.get_by_role("heading", level=1)


def sign_up(page: Page, *, slug: str, tenant_name: str, name: str, email: str, locale: str = "en") -> None:
    page.goto("/signup")
    page.fill("input[name=tenant_name]", tenant_name)
    page.fill("input[name=slug]", slug)
    page.select_option("select[name=locale]", locale)
    page.select_option("select[name=timezone]", "Europe/Berlin")
    page.fill("input[name=name]", name)
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Create portal").click()
    expect(page).to_have_url(_url(page, f"/t/{slug}/"))
    expect(_heading(page)).to_have_text(tenant_name)


def log_out(page: Page, button_text: str = "Log out") -> None:
    button = page.locator("#logout")
    expect(button).to_have_text(button_text)
    button.click()
    expect(page).to_have_url(_url(page, "/login"))


def log_in(page: Page, email: str) -> None:
    page.goto("/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Log in").click()


def invite(page: Page, slug: str, email: str, role: str = "agent") -> str:
    """Create an invitation through the members page; returns the link (shown once)."""
    _sections(page).get_by_role("link", name="Members").click()
    expect(page).to_have_url(_url(page, f"/t/{slug}/members/"))
    form = page.locator("form", has=page.locator("#send-invitation"))
    form.locator("input[name=email]").fill(email)
    form.locator("select[name=role]").select_option(role)  # not the role pickers of the members table
    page.click("#send-invitation")
    link = page.locator("input#invite-link")
    expect(link).to_be_visible()
    value = link.input_value()
    assert urlsplit(value).path.startswith("/invitations/"), value
    return value


def accept_invitation(page: Page, link: str, *, slug: str, name: str) -> None:
    page.goto(link)
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("#accept-invitation")
    expect(page).to_have_url(_url(page, f"/t/{slug}/"))


# --- tests --------------------------------------------------------------------------------------------------------

def test_sign_up_log_in_invite_accept_localize_and_log_out(page: Page, browser: Browser, live_server):
    _watch(page)
    slug, owner_email, agent_email = _unique("onboard"), _email("owner"), _email("agent")

    # Sign up through the form: signed in, on the new portal's dashboard.
    sign_up(page, slug=slug, tenant_name="Onboarding Org", name="Olivia Owner", email=owner_email)
    expect(page.locator(".flashes")).to_contain_text("Your portal is ready.")
    expect(page.locator(".user-name")).to_have_text("Olivia Owner")

    # Log out, then log in again through /login: back on the (only) portal's dashboard.
    log_out(page)
    expect(_heading(page)).to_have_text("Log in")
    expect(page.locator(".flashes")).to_contain_text("You are signed out.")
    log_in(page, owner_email)
    expect(page).to_have_url(_url(page, f"/t/{slug}/"))
    expect(_heading(page)).to_have_text("Onboarding Org")

    # Invite an agent: the link is shown once, the invitation is pending.
    link = invite(page, slug, agent_email)
    expect(page.locator(".flashes")).to_contain_text(f"Invitation created for {agent_email}")
    expect(page.get_by_role("cell", name=agent_email)).to_be_visible()

    # The agent accepts in a browser of their own and lands on tenant A's dashboard.
    agent = _open_context(browser, live_server.url)
    try:
        accept_invitation(agent, link, slug=slug, name="Andy Agent")
        expect(_heading(agent)).to_have_text("Onboarding Org")
        expect(agent.locator(".flashes")).to_contain_text("Welcome to Onboarding Org!")
        _sections(agent).get_by_role("link", name="Members").click()
        expect(agent).to_have_url(_url(agent, f"/t/{slug}/members/"))
        expect(_heading(agent)).to_have_text("Members")
        members = agent.locator("#members")
        expect(members).to_contain_text("Olivia Owner")
        expect(members).to_contain_text("Andy Agent")
        # Agents manage nobody: no invite form, no role pickers, no pending invitations.
        expect(agent.locator("#send-invitation")).to_have_count(0)
        expect(agent.locator("input[name=email]")).to_have_count(0)
        expect(members.locator("select")).to_have_count(0)
        expect(agent.get_by_role("heading", name="Pending invitations")).to_have_count(0)
        # The link was single-use.
        response = agent.goto(link)
        assert response is not None and response.status == 410
        expect(_heading(agent)).to_have_text("This invitation cannot be used")
        _assert_clean(agent, (urlsplit(link).path, 410))
    finally:
        agent.context.close()

    # Back as the owner: switch the UI to German.
    _sections(page).get_by_role("link", name="Settings").click()
    expect(page).to_have_url(_url(page, f"/t/{slug}/settings/"))
    page.select_option("form#preferences select[name=locale]", "de")
    page.click("#save-preferences")
    expect(page).to_have_url(_url(page, f"/t/{slug}/settings/"))
    expect(_heading(page)).to_have_text("Einstellungen")
    expect(_sections(page).get_by_role("link", name="Einstellungen")).to_be_visible()
    expect(_sections(page).get_by_role("link", name="Mitglieder")).to_be_visible()
    expect(page.locator("form#preferences select[name=locale]")).to_have_value("de")
    expect(page).to_have_title("Einstellungen · Postroom")
    # The boosted swap leaves <html lang> alone (test_boosted_navigation_updates_html_lang): a full load sets it.
    page.reload()
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(_sections(page).get_by_role("link", name="Mitglieder")).to_be_visible()

    # Log out with the German button: the (anonymous, hence English) login page.
    log_out(page, "Abmelden")
    expect(_heading(page)).to_have_text("Log in")
    expect(page.locator("input[name=email]")).to_be_visible()
    expect(page.locator("#logout")).to_have_count(0)
    _assert_clean(page)


def test_boosted_navigation_updates_html_lang(page: Page):
    _watch(page)
    slug = _unique("lang")
    page.goto("/signup")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    # A German portal: the boosted sign-up lands on a German dashboard.
    sign_up(page, slug=slug, tenant_name="Sprache GmbH", name="Greta", email=_email("greta"), locale="de")
    expect(page.locator("#logout")).to_have_text("Abmelden")
    _assert_clean(page)
    expect(page.locator("html")).to_have_attribute("lang", "de", timeout=1_000)


def test_page_after_creating_an_invitation_can_be_reloaded(page: Page):
    _watch(page)
    slug = _unique("reload")
    sign_up(page, slug=slug, tenant_name="Reload Org", name="Rene", email=_email("rene"))
    invite(page, slug, _email("invitee"))
    _assert_clean(page)
    response = page.reload()
    assert response is not None
    assert response.status == 200, f"{response.status} for {page.url}"


def test_other_tenants_portal_is_not_found(page: Page, browser: Browser, live_server):
    _watch(page)
    slug_a, slug_b = _unique("tenant-a"), _unique("tenant-b")
    sign_up(page, slug=slug_a, tenant_name="Tenant A", name="Alice A", email=_email("alice"))
    other = _open_context(browser, live_server.url)
    try:
        sign_up(other, slug=slug_b, tenant_name="Secret Tenant B", name="Bob B", email=_email("bob"))
        _assert_clean(other)
    finally:
        other.context.close()

    missing = [f"/t/{slug_b}/", f"/t/{slug_b}/settings/", f"/t/{slug_b}/members/", f"/t/{_unique('nobody')}/"]
    for path in missing:
        response = page.goto(path)
        assert response is not None and response.status == 404, path
        expect(_heading(page)).to_have_text("Page not found")
        expect(page.locator("main")).not_to_contain_text("Secret Tenant B")
        expect(page.locator(".tenant-name")).to_have_count(0)
        expect(page.locator(".user-name")).to_have_text("Alice A")  # still signed in
    # Still a member of A.
    response = page.goto(f"/t/{slug_a}/")
    assert response is not None and response.status == 200
    expect(_heading(page)).to_have_text("Tenant A")
    _assert_clean(page, *((path, 404) for path in missing))


def _submit_bad_sign_up(page: Page, taken_slug: str, weak: str = "short") -> None:
    page.goto("/signup")
    page.fill("input[name=tenant_name]", "x" * 10_240)
    page.fill("input[name=slug]", taken_slug)
    page.fill("input[name=name]", "Eve Example")
    page.fill("input[name=email]", "not-an-email")
    page.fill("input[name=password]", weak)
    with page.expect_response(lambda r: urlsplit(r.url).path == "/signup" and r.request.method == "POST") as info:
        page.locator("form button[type=submit]").click()
    assert info.value.status == 422
    expect(page.locator("#slug-error")).to_be_visible()
    expect(page).to_have_url(_url(page, "/signup"))


def _expect_field_errors(page: Page, messages: dict[str, str]) -> None:
    for field, message in messages.items():
        expect(page.locator(f"#{field}-error")).to_contain_text(message)
        control = page.locator(f"[name={field}]")
        expect(control).to_have_attribute("aria-invalid", "true")
        expect(control).to_have_attribute("aria-describedby", re.compile(rf"(^|\s){field}-error($|\s)"))
    for field in ("name", "locale", "timezone"):  # the valid fields are not flagged
        expect(page.locator(f"[name={field}]")).not_to_have_attribute("aria-invalid", "true")
        expect(page.locator(f"#{field}-error")).to_have_count(0)


def test_bad_sign_up_shows_field_errors_in_english_and_german(page: Page, browser: Browser, live_server):
    _watch(page)
    taken = _unique("taken")
    first = _open_context(browser, live_server.url)
    try:
        sign_up(first, slug=taken, tenant_name="Taken Org", name="Tom Taken", email=_email("tom"))
        _assert_clean(first)
    finally:
        first.context.close()

    _submit_bad_sign_up(page, taken)
    _expect_field_errors(page, {
        "tenant_name": "Use at most 120 characters.",
        "slug": "This address is already taken.",
        "email": "Enter a valid e-mail address",
        "password": "Use at least 10 characters.",
    })
    # What was typed stays (except the password); nobody was signed in.
    expect(page.locator("input[name=tenant_name]")).to_have_value("x" * 10_240)
    expect(page.locator("input[name=slug]")).to_have_value(taken)
    expect(page.locator("input[name=email]")).to_have_value("not-an-email")
    expect(page.locator("input[name=password]")).to_have_value("")
    expect(page.locator("#logout")).to_have_count(0)

    # A common password has a message of its own.
    _submit_bad_sign_up(page, taken, weak="password123")
    expect(page.locator("#password-error")).to_contain_text("This password is too easy to guess.")
    _assert_clean(page, ("/signup", 422))

    german = _open_context(browser, live_server.url, locale="de-DE")
    try:
        _submit_bad_sign_up(german, taken)
        expect(german.locator("html")).to_have_attribute("lang", "de")  # the form page itself was German already
        _expect_field_errors(german, {
            "tenant_name": "Verwenden Sie höchstens 120 Zeichen.",
            "slug": "Diese Adresse ist bereits vergeben.",
            "email": "Geben Sie eine gültige E-Mail-Adresse ein",
            "password": "Verwenden Sie mindestens 10 Zeichen.",
        })
        _assert_clean(german, ("/signup", 422))
    finally:
        german.context.close()


def test_role_change_over_htmx_swaps_the_table_and_persists(page: Page, browser: Browser, live_server):
    _watch(page)
    slug, agent_email = _unique("roles"), _email("agent")
    sign_up(page, slug=slug, tenant_name="Roles Org", name="Rita Owner", email=_email("rita"))
    link = invite(page, slug, agent_email)
    agent = _open_context(browser, live_server.url)
    try:
        accept_invitation(agent, link, slug=slug, name="Zed Agent")
        _assert_clean(agent)
    finally:
        agent.context.close()

    def role_of_agent() -> Locator:
        return page.locator("#members tr", has_text=agent_email).locator("select[name=role]")

    page.goto(f"/t/{slug}/members/")  # a full load that lists the new member (not a reload: see below)
    expect(role_of_agent()).to_have_value("agent")
    page.evaluate("window.__marker = 1; document.querySelector('#members').dataset.stale = '1'")

    with page.expect_response(lambda r: r.url.endswith("/role") and r.request.method == "POST") as info:
        role_of_agent().select_option("admin")
    response = info.value
    assert response.status == 200
    headers = response.request.all_headers()
    assert headers.get("hx-request") == "true"
    assert "hx-boosted" not in headers  # the select's own hx-post, not a boosted form submission
    assert headers.get("hx-target") == "members"
    assert headers.get("x-csrftoken")
    # Only #members was swapped (a fresh element); the document and its JS state survived.
    expect(page.locator("#members")).not_to_have_attribute("data-stale", "1")
    expect(role_of_agent()).to_have_value("admin")
    assert page.evaluate("window.__marker") == 1
    expect(page).to_have_url(_url(page, f"/t/{slug}/members/"))

    page.reload()
    assert page.evaluate("window.__marker") is None
    expect(role_of_agent()).to_have_value("admin")

    # CSRF is enforced on that endpoint: the same request with the session cookie but without a token is refused.
    refused = page.request.post(response.url, form={"role": "agent"},
                                headers={"HX-Request": "true", "HX-Target": "members"})
    assert refused.status == 400
    page.reload()
    expect(role_of_agent()).to_have_value("admin")
    _assert_clean(page)
