"""The data protection page: create, edit, enable/disable and delete DLP rules (field messages, audit, CSRF), the
"try it" box, admins only, and other tenants' rules out of reach."""

from __future__ import annotations

import re
from html import unescape

import pytest
from sqlalchemy import func, select

from app.audit.models import AuditEvent
from app.dlp import services
from app.dlp.models import DlpRule
from tenants.models import Role

URL = "/t/acme/dlp/"
CARD = "4111 1111 1111 1111"
GOOD = {"name": "Cards", "kind": "card_number", "pattern": "", "action": "block", "enabled": "y"}


@pytest.fixture
def acme(db, create_tenant, login):
    tenant = create_tenant("acme")
    login(tenant.owner)
    return tenant


def _rule(tenant, name: str = "Cards", kind: str = "card_number", action: str = "block", **fields) -> DlpRule:
    return services.create_rule(tenant, name=name, kind=kind, action=action, **fields)


def _actions(db, tenant) -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.tenant_id == tenant.id, AuditEvent.object_type == "dlp_rule").order_by(AuditEvent.id)))


def _count(db) -> int:
    return db.session.scalar(select(func.count()).select_from(DlpRule))


def test_admin_creates_a_rule_and_sees_it_listed(client, db, acme):
    response = client.post(URL, data={**GOOD, "name": " Keys ", "kind": "regex", "pattern": r"KEY-\d{6}",
                                      "action": "redact"})
    assert response.status_code == 302
    rule = db.session.scalar(select(DlpRule).where(DlpRule.tenant_id == acme.id))
    assert (rule.name, rule.kind, rule.pattern, rule.action, rule.enabled) == (
        "Keys", "regex", r"KEY-\d{6}", "redact", True)
    html = client.get(URL).get_data(as_text=True)
    assert "Rule Keys created." in html
    for text in ("<td>Keys</td>", r"<code>KEY-\d{6}</code>", "Redact what it finds, then send", "<td>Enabled</td>"):
        assert text in html
    assert not re.search(r"<style|\sstyle=|\son[a-z]+\s*=|<script>", html)  # the strict CSP allows neither
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "dlp_rule.created"))
    assert event.object_id == rule.id and event.object_label == "Keys"
    assert event.changes["pattern"] == [None, r"KEY-\d{6}"] and event.changes["action"] == [None, "redact"]


@pytest.mark.parametrize(("field", "value", "message"), [
    ("name", " ", "This field is required."),
    ("name", "n" * 121, "Use at most 120 characters."),
    ("kind", "ssn", "Choose one of: card_number, iban, password, regex."),
    ("action", "shred", "Choose one of: block, redact."),
    ("pattern", "", "This field is required."),
    ("pattern", "(unclosed", "This is not a valid regular expression: missing ) at position 9"),
    ("pattern", "x" * 501, "Use at most 500 characters."),
    ("pattern", "a?", "This pattern also matches empty text. Make it match at least one character."),
    ("pattern", "(a|aa)+$", "This pattern takes too long on some texts"),
])
def test_each_field_says_what_is_wrong(client, db, acme, field, value, message):
    response = client.post(URL, data={**GOOD, "kind": "regex", "pattern": "x", field: value})
    assert response.status_code == 422
    html = unescape(response.get_data(as_text=True))
    assert f'id="{field}-error" class="error" role="alert">{message}' in html
    assert _count(db) == 0


def test_a_taken_name_is_refused(client, db, acme):
    _rule(acme, "Cards")
    response = client.post(URL, data={**GOOD, "name": "CARDS"})
    assert response.status_code == 422
    assert 'id="name-error" class="error" role="alert">A rule with this name already exists.' in unescape(
        response.get_data(as_text=True))


def test_edit_saves_with_a_diff_and_shows_errors(client, db, acme):
    rule = _rule(acme, "Keys", "regex", "block", pattern=r"KEY-\d+")
    edit = f"{URL}{rule.id}/edit"
    form = unescape(client.get(edit).get_data(as_text=True))
    assert 'value="KEY-\\d+"' in form and '<option selected value="regex">' in form
    bad = client.post(edit, data={"name": "Keys", "kind": "regex", "pattern": "[unclosed", "action": "block"})
    assert bad.status_code == 422
    assert 'id="pattern-error" class="error" role="alert">This is not a valid regular expression' in unescape(
        bad.get_data(as_text=True))
    db.session.refresh(rule)
    assert rule.pattern == r"KEY-\d+"
    saved = client.post(edit, data={"name": "Passwords", "kind": "password", "pattern": "stale", "action": "redact",
                                    "enabled": "y"})
    assert saved.status_code == 302
    db.session.refresh(rule)
    assert (rule.name, rule.kind, rule.pattern, rule.action) == ("Passwords", "password", None, "redact")
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "dlp_rule.updated"))
    assert event.changes == {"name": ["Keys", "Passwords"], "kind": ["regex", "password"],
                             "pattern": [r"KEY-\d+", None], "action": ["block", "redact"]}


def test_disable_enable_and_delete_with_confirmation(client, db, acme):
    rule = _rule(acme)
    client.post(f"{URL}{rule.id}/disable")
    db.session.refresh(rule)
    assert rule.enabled is False and "<td>Disabled</td>" in client.get(URL).get_data(as_text=True)
    assert not services.scan_outgoing(acme, CARD).blocked
    client.post(f"{URL}{rule.id}/enable")
    db.session.refresh(rule)
    assert rule.enabled is True and services.scan_outgoing(acme, CARD).blocked
    confirm = client.get(f"{URL}{rule.id}/delete").get_data(as_text=True)
    assert "Delete rule Cards?" in confirm and 'id="confirm-delete"' in confirm
    assert _count(db) == 1  # showing the question deletes nothing
    assert client.post(f"{URL}{rule.id}/delete").status_code == 302
    assert _count(db) == 0
    assert _actions(db, acme) == ["dlp_rule.created", "dlp_rule.updated", "dlp_rule.updated", "dlp_rule.deleted"]


def test_changes_without_the_csrf_token_are_refused(client, db, acme):
    rule = _rule(acme)
    assert client.post(URL, data={**GOOD, "name": "Forged"}, csrf=False).status_code in (400, 422)
    for path in ("disable", "delete"):
        client.post(f"{URL}{rule.id}/{path}", csrf=False)
    db.session.refresh(rule)
    assert rule.enabled is True and _count(db) == 1


def test_the_try_box_answers_htmx_with_the_result_alone(client, db, acme):
    _rule(acme, "No cards", "card_number", "block")
    _rule(acme, "Passwords", "password", "redact")
    _rule(acme, "Off", "iban", "block", enabled=False)
    response = client.htmx("POST", f"{URL}try", target="dlp-trial-result",
                           data={"subject": "Access", "text": f"Card {CARD}, password: hunter2, "
                                                              "DE89 3704 0044 0532 0130 00"})
    html = unescape(response.get_data(as_text=True))
    assert response.status_code == 200 and "HX-Request" in response.headers["Vary"]
    assert html.startswith('<div id="dlp-trial-result"') and "<html" not in html
    assert 'id="dlp-trial-blocked"' in html and 'class="dlp-finding-block"' in html
    assert "4111 •••• •••• 1111" in html and "••••••" in html and "Off" not in html
    assert "Rule “No cards” found a card number (4111 •••• •••• 1111)." in html
    redact = unescape(client.htmx("POST", f"{URL}try", target="dlp-trial-result",
                                  data={"subject": "", "text": "Your password: hunter2"}).get_data(as_text=True))
    assert 'id="dlp-trial-redacted"' in redact and "Your password: [redacted]</pre>" in redact
    assert "hunter2" not in redact.replace("password: hunter2", "")  # only the pasted text, never echoed as found
    clean = unescape(client.htmx("POST", f"{URL}try", target="dlp-trial-result",
                                 data={"text": "Order 1234 5678 9012 3456"}).get_data(as_text=True))
    assert 'id="dlp-trial-clean"' in clean and "Order 1234 5678 9012 3456</pre>" in clean


def test_the_try_box_works_without_javascript(client, db, acme):
    _rule(acme)
    response = client.post(f"{URL}try", data={"text": f"Card {CARD}"})
    html = unescape(response.get_data(as_text=True))
    assert response.status_code == 200 and "<html" in html and 'id="dlp-trial-blocked"' in html
    assert f"Card {CARD}</textarea>" in html  # the pasted text stays in the box


def test_agents_get_403_and_no_nav_entry(client, db, create_tenant, add_member, login):
    tenant = create_tenant("acme")
    rule = _rule(tenant)
    login(add_member(tenant, Role.AGENT))
    assert client.get(URL).status_code == 403
    assert client.post(URL, data=GOOD).status_code == 403
    assert client.get(f"{URL}{rule.id}/edit").status_code == 403
    for path in ("edit", "delete", "disable", "enable"):
        assert client.post(f"{URL}{rule.id}/{path}", data={**GOOD, "name": "Mine"}).status_code == 403, path
    assert client.post(f"{URL}try", data={"text": CARD}).status_code == 403
    assert f'href="{URL}"' not in client.get("/t/acme/").get_data(as_text=True)
    db.session.refresh(rule)
    assert (rule.name, rule.enabled) == ("Cards", True)


def test_admins_see_the_nav_entry(client, db, acme):
    html = client.get("/t/acme/").get_data(as_text=True)
    assert f'href="{URL}"' in html and "Data protection" in html


def test_another_tenants_rule_is_404(client, db, acme, create_tenant):
    rule = _rule(create_tenant("globex"), "Secret rule")
    base = f"{URL}{rule.id}"
    for path in (f"{base}/edit", f"{base}/delete"):
        assert client.get(path).status_code == 404, path
    for path in (f"{base}/edit", f"{base}/delete", f"{base}/enable", f"{base}/disable"):
        assert client.post(path, data={**GOOD, "name": "pwned"}).status_code == 404, path
    db.session.refresh(rule)
    assert (rule.name, rule.enabled) == ("Secret rule", True)
    assert "Secret rule" not in client.get(URL).get_data(as_text=True)
    tried = client.post(f"{URL}try", data={"text": CARD}).get_data(as_text=True)
    assert "Secret rule" not in tried and 'id="dlp-trial-clean"' in tried
