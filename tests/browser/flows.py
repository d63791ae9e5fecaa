"""Steps several browser tests share."""

from __future__ import annotations

import uuid

from playwright.sync_api import Page

PASSWORD = "a long passphrase 42"


def sign_up(page: Page, prefix: str, organization: str) -> str:
    """Sign up a new tenant through the form; returns its slug, with the owner signed in on its dashboard."""
    slug = f"{prefix}-{uuid.uuid4().hex[:8]}"
    page.goto("/signup")
    page.fill("input[name=tenant_name]", organization)
    page.fill("input[name=slug]", slug)
    page.fill("input[name=name]", f"Admin of {organization}")
    page.fill("input[name=email]", f"{slug}@example.test")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**/t/{slug}/")
    return slug


def htmx_ready(page: Page, selector: str) -> None:
    """Wait until htmx has processed ``selector`` (its triggers listen). After a boosted navigation the new content
    is in the page a moment before htmx wires it up (the settle step); typing into it sooner goes unheard."""
    page.wait_for_function(
        "s => { const e = document.querySelector(s); return !!(e && e['htmx-internal-data'] "
        "&& e['htmx-internal-data'].initHash); }", arg=selector)
