"""Onboarding in a real browser: sign-up, login, invitations, roles over htmx, localization, tenant isolation.

Everything runs against the session's live server (committed data, never rolled back), so every test uses its own
slugs and e-mail addresses. Each page records console errors and page errors; an empty list at the end proves the
strict CSP (no inline script or style) blocked nothing and htmx ran without errors.
"""

from __future__ import annotations

import re
import uuid
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect

pytestmark = pytest.mark.browser

PASSWORD = "a long passphrase 42"


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _url(page: Page, path: str) -> re.Pattern[str]:
    """Matches the page URL for ``path`` on the live server (query string and fragment ignored)."""
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(page.url)) if page.url.startswith("http") else ""
    return re.compile("^" + re.escape(origin + path) + r"(?:[?#].*)?$")


def _open_context(browser: Browser, base_url: str, locale: str = "en-US") -> Page:
    """A second, independent browser context (own cookies) that records console errors like the ``page`` fixture."""
    context = browser.new_context(base_url=base_url, locale=locale)
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.console_errors = errors
    return page


def _unexpected(errors: list[str], *allowed_statuses: int) -> list[str]:
    """Console errors, minus Chromium's own note about an HTTP error status the test asked for on purpose."""
    notes = tuple(f"the server responded with a status of {status}" for status in allowed_statuses)
    return [e for e in errors if not (e.startswith("Failed to load resource") and any(n in e for n in notes))]


def _sections(page: Page):
    return page.get_by_role("navigation", name=re.compile("^(Sections|Bereiche)$"))


def sign_up(page: Page, *, slug: str, tenant_name: str, name: str, email: str, password: str = PASSWORD) -> None:
    page.goto("/signup")
    page.fill("input[name=tenant_name]", tenant_name)
    page.fill("input[name=slug]", slug)
    page.select_option("select[name=locale]", "en")
    page.select_option("select[name=timezone]", "Europe/Berlin")
    page.fill("input[name=name]", name)
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.get_by_role("button", name="Create portal").click()
    expect(page).to_have_url(_url(page, f"/t/{slug}/"))
    expect(page.get_by_role("heading", level=1)).to_have_text(tenant_name)


def log_out(page: Page, button_text: str = "Log out") -> None:
    button = page.locator("#logout")
    expect(button).to_have_text(button_text)
    button.click()
    expect(page).to_have_url(_url(page, "/login"))


def log_in(page: Page, email: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.get_by_role("button", name="Log in").click()


def invite(page: Page, slug: str, email: str, role: str = "agent") -> str:
    """Create an invitation on the members page; returns the link shown once."""
    _sections(page).get_by_role("link", name="Members").click()
    expect(page).to_have_url(_url(page, f"/t/{slug}/members/"))
    page.fill("input[name=email]", email)
    page.select_option("form[action$=\"/members/invite\"] select[name=role]", role)
    page.click("#send-invitation")
    link = page.locator("input#invite-link")
    expect(link).to_be_visible()
    value = link.input_value()
    assert urlsplit(value).path.startswith("/invitations/"), value
    return value


def accept_invitation(page: Page, link: str, *, slug: str, name: str, password: str = PASSWORD) -> None:
    page.goto(link)
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("#accept-invitation")
    expect(page).to_have_url(_url(page, f"/t/{slug}/"))


def test_sign_up_log_in_invite_accept_localize_and_log_out(page: Page, browser: Browser, live_server):
    slug, owner_email, agent_email = _unique("onboard"), f"{_unique('owner')}@example.test", \
        f"{_unique('agent')}@example.test"

    # Sign up through the form: signed in, on the new portal's dashboard.
    sign_up(page, slug=slug, tenant_name="Onboarding Org", name="Olivia Owner", email=owner_email)
    expect(page.locator(".flashes")).to_contain_text("Your portal is ready.")
    expect(page.locator(".user-name")).to_have_text("Olivia Owner")

    # Log out, then log in again through /login: back on the (only) portal's dashboard.
    log_out(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in")
    expect(page.locator(".flashes")).to_contain_text("You are signed out.")
    log_in(page, owner_email)
    expect(page).to_have_url(_url(page, f"/t/{slug}/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Onboarding Org")

    # Invite an agent; the link is shown once.
    link = invite(page, slug, agent_email)
    expect(page.locator(".flashes")).to_contain_text(f"Invitation created for {agent_email}")
    expect(page.get_by_role("cell", name=agent_email)).to_be_visible()  # pending invitations

    # The agent accepts in a browser of their own.
    agent = _open_context(browser, live_server.url)
    try:
        accept_invitation(agent, link, slug=slug, name="Andy Agent")
        expect(agent.get_by_role("heading", level=1)).to_have_text("Onboarding Org")
        expect(agent.locator(".flashes")).to_contain_text("Welcome to Onboarding Org!")
        _sections(agent).get_by_role("link", name="Members").click()
        expect(agent).to_have_url(_url(agent, f"/t/{slug}/members/"))
        expect(agent.get_by_role("heading", level=1)).to_have_text("Members")
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
        assert _unexpected(agent.console_errors, 410) == []
    finally:
        agent.context.close()

    # Back as the owner: switch the UI to German.
    _sections(page).get_by_role("link", name="Settings").click()
    expect(page).to_have_url(_url(page, f"/t/{slug}/settings/"))
    page.select_option("form#preferences select[name=locale]", "de")
    page.click("#save-preferences")
    # (The confirmation flash itself is still English: it is translated before the new locale applies.)
    expect(page.locator(".flashes")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text("Einstellungen")
    expect(_sections(page).get_by_role("link", name="Einstellungen")).to_be_visible()
    expect(_sections(page).get_by_role("link", name="Mitglieder")).to_be_visible()
    expect(page.locator("form#preferences select[name=locale]")).to_have_value("de")
    expect(page).to_have_title("Einstellungen · Postroom")
    # <html lang> only changes on a full load (see test_boosted_swap_updates_html_lang below).
    page.reload()
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(_sections(page).get_by_role("link", name="Mitglieder")).to_be_visible()

    # Log out with the German button: the login page.
    log_out(page, "Abmelden")
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in")
    expect(page.locator("input[name=email]")).to_be_visible()
    assert page.console_errors == []


def test_other_tenants_portal_is_not_found(page: Page, browser: Browser, live_server):
    slug_a, slug_b = _unique("tenant-a"), _unique("tenant-b")
    sign_up(page, slug=slug_a, tenant_name="Tenant A", name="Alice A", email=f"{_unique('alice')}@example.test")
    other = _open_context(browser, live_server.url)
    try:
        sign_up(other, slug=slug_b, tenant_name="Secret Tenant B", name="Bob B", email=f"{_unique('bob')}@example.test")
        assert other.console_errors == []
    finally:
        other.context.close()

    for path in (f"/t/{slug_b}/", f"/t/{slug_b}/settings/", f"/t/{slug_b}/members/", f"/t/{_unique('nobody')}/"):
        response = page.goto(path)
        assert response is not None and response.status == 404, path
        expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
        expect(page.locator("main")).not_to_contain_text("Secret Tenant B")
        expect(page.locator("main")).not_to_contain_text("Bob B")
    # Still signed in and still a member of A.
    response = page.goto(f"/t/{slug_a}/")
    assert response is not None and response.status == 200
    expect(page.get_by_role("heading", level=1)).to_have_text("Tenant A")
    assert _unexpected(page.console_errors, 404) == []


def _submit_bad_sign_up(page: Page, taken_slug: str) -> None:
    page.goto("/signup")
    page.fill("input[name=tenant_name]", "x" * 10_240)
    page.fill("input[name=slug]", taken_slug)
    page.fill("input[name=name]", "Eve Example")
    page.fill("input[name=email]", "not-an-email")
    page.fill("input[name=password]", "short")
    page.locator("button[type=submit].primary").click()
    expect(page.locator("#slug-error")).to_be_visible()
    expect(page).to_have_url(_url(page, "/signup"))


def _expect_field_errors(page: Page, messages: dict[str, str]) -> None:
    for field, message in messages.items():
        error = page.locator(f"#{field}-error")
        expect(error).to_contain_text(message)
        control = page.locator(f"[name={field}]")
        expect(control).to_have_attribute("aria-invalid", "true")
        expect(control).to_have_attribute("aria-describedby", re.compile(rf"(^|\s){field}-error($|\s)"))
    for field in ("name", "locale", "timezone"):  # the valid ones are not flagged
        expect(page.locator(f"[name={field}]")).not_to_have_attribute("aria-invalid", "true")
        expect(page.locator(f"#{field}-error")).to_have_count(0)


def test_bad_sign_up_shows_field_errors_in_english_and_german(page: Page, browser: Browser, live_server):
    taken = _unique("taken")
    first = _open_context(browser, live_server.url)
    try:
        sign_up(first, slug=taken, tenant_name="Taken Org", name="Tom Taken", email=f"{_unique('tom')}@example.test")
        assert first.console_errors == []
    finally:
        first.context.close()

    _submit_bad_sign_up(page, taken)
    _expect_field_errors(page, {
        "tenant_name": "Use at most 120 characters.",
        "slug": "This address is already taken.",
        "email": "Enter a valid e-mail address",
        "password": "Use at least 10 characters.",
    })
    # What was typed stays (except the password); nothing was signed in.
    expect(page.locator("input[name=slug]")).to_have_value(taken)
    expect(page.locator("input[name=email]")).to_have_value("not-an-email")
    expect(page.locator("input[name=password]")).to_have_value("")
    expect(page.locator("#logout")).to_have_count(0)

    # A guessable password has its own message.
    page.fill("input[name=password]", "password123")
    page.locator("button[type=submit].primary").click()
    expect(page.locator("#password-error")).to_contain_text("This password is too easy to guess.")
    expect(page).to_have_url(_url(page, "/signup"))
    assert _unexpected(page.console_errors, 422) == []

    german = _open_context(browser, live_server.url, locale="de-DE")
    try:
        _submit_bad_sign_up(german, taken)
        expect(german.locator("html")).to_have_attribute("lang", "de")
        _expect_field_errors(german, {
            "tenant_name": "Verwenden Sie höchstens 120 Zeichen.",
            "slug": "Diese Adresse ist bereits vergeben.",
            "email": "Geben Sie eine gültige E-Mail-Adresse ein",
            "password": "Verwenden Sie mindestens 10 Zeichen.",
        })
        assert _unexpected(german.console_errors, 422) == []
    finally:
        german.context.close()


def test_role_change_over_htmx_keeps_the_page_and_persists(page: Page, browser: Browser, live_server):
    slug, agent_email = _unique("roles"), f"{_unique('agent')}@example.test"
    sign_up(page, slug=slug, tenant_name="Roles Org", name="Rita Owner", email=f"{_unique('rita')}@example.test")
    link = invite(page, slug, agent_email)
    agent = _open_context(browser, live_server.url)
    try:
        accept_invitation(agent, link, slug=slug, name="Zed Agent")
        assert agent.console_errors == []
    finally:
        agent.context.close()

    page.reload()  # a full load: the new member is listed
    row = page.locator("#members tr", has_text=agent_email)
    select = row.locator("select[name=role]")
    expect(select).to_have_value("agent")
    page.evaluate("window.__marker = 1; document.querySelector('#members').dataset.stale = '1'")

    with page.expect_response(lambda r: r.url.endswith("/role") and r.request.method == "POST") as info:
        select.select_option("admin")
    response = info.value
    headers = response.request.all_headers()
    assert response.status == 200
    assert headers.get("hx-request") == "true" and "hx-boosted" not in headers
    assert headers.get("hx-target") == "members"
    assert headers.get("x-csrftoken")
    # Only #members was swapped (it is a fresh element), the document and its JS state survived.
    expect(page.locator("#members")).not_to_have_attribute("data-stale", "1")
    expect(page.locator("#members tr", has_text=agent_email).locator("select[name=role]")).to_have_value("admin")
    assert page.evaluate("window.__marker") == 1
    expect(page).to_have_url(_url(page, f"/t/{slug}/members/"))

    page.reload()
    assert page.evaluate("window.__marker === undefined")
    expect(page.locator("#members tr", has_text=agent_email).locator("select[name=role]")).to_have_value("admin")

    # CSRF is enforced on that endpoint: the same request without a token is refused.
    role_url = response.url
    refused = page.request.post(role_url, form={"role": "agent"}, headers={"HX-Request": "true",
                                                                            "HX-Target": "members"})
    assert refused.status == 400
    page.reload()
    expect(page.locator("#members tr", has_text=agent_email).locator("select[name=role]")).to_have_value("admin")
    assert page.console_errors == []
