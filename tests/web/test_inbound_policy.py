"""The inbound mail settings tab and the same policy through the tenant API: validation, saving, audit, roles."""

from html import unescape

import pytest
from sqlalchemy import select

from app.audit.models import AuditEvent
from tenants.models import Role
from tests.api.problems import field_errors as _pointers
from tests.fixtures.inbox import make_mail

MB = 1024 * 1024
URL = "/t/acme/settings/inbound"
GOOD = {"ticket_prefix": "hd", "reopen_policy": "new_linked", "subject_window_hours": "48", "sender_rate_limit": "0",
        "trusted_authserv_ids": "mx.acme.test\nMX2.acme.test.", "dmarc_policy": "quarantine",
        "max_attachment_mb": "10", "blocked_attachment_types": ".EXE, js\nbat",
        "vip_senders": "CEO@acme.test\n@board.test"}
SAVED = {"ticket_prefix": "HD", "reopen_policy": "new_linked", "subject_window_hours": 48, "sender_rate_limit": 0,
         "trusted_authserv_ids": ["mx.acme.test", "mx2.acme.test"], "dmarc_policy": "quarantine",
         "max_attachment_bytes": 10 * MB, "blocked_attachment_types": ["exe", "js", "bat"],
         "vip_senders": ["ceo@acme.test", "@board.test"]}
DEFAULTS = {"ticket_prefix": "", "reopen_policy": "reopen", "subject_window_hours": 72, "sender_rate_limit": 20,
            "trusted_authserv_ids": [], "dmarc_policy": "flag", "max_attachment_bytes": 25 * MB,
            "blocked_attachment_types": [], "vip_senders": []}
PREFIX = "Use 1 to 12 letters or digits (no spaces, dashes or accents), or leave it empty."
CHOICE = "Choose one of the offered options."
SERVER = " Use the host name your server writes into Authentication-Results, e.g. mx.example.com."
BAD = [
    ("ticket_prefix", "ACME-HELP", PREFIX),
    ("ticket_prefix", "ABCDEFGHIJKLM", PREFIX),
    ("ticket_prefix", "ÄBC", PREFIX),
    ("reopen_policy", "delete", CHOICE),
    ("subject_window_hours", "0", "Choose a whole number between 1 and 720."),
    ("subject_window_hours", "721", "Choose a whole number between 1 and 720."),
    ("subject_window_hours", "two days", "Choose a whole number between 1 and 720."),
    ("subject_window_hours", "", "Choose a whole number between 1 and 720."),
    ("sender_rate_limit", "-1", "Choose a whole number between 0 and 10000."),
    ("sender_rate_limit", "10001", "Choose a whole number between 0 and 10000."),
    ("trusted_authserv_ids", "mx.acme.test\nfoo=bar", "Not a server name: foo=bar." + SERVER),
    ("trusted_authserv_ids", "-mx.acme.test", "Not a server name: -mx.acme.test." + SERVER),
    ("dmarc_policy", "reject", CHOICE),
    ("max_attachment_mb", "0", "Choose a whole number between 1 and 100."),
    ("max_attachment_mb", "101", "Choose a whole number between 1 and 100."),
    ("blocked_attachment_types", "exe\ntar.gz\nj$",
     "Not a file extension: tar.gz, j$. Use letters and digits only, e.g. exe or js."),
    ("vip_senders", "ceo@acme.test\nnot-an-address", "Neither an e-mail address nor @domain: not-an-address."),
    ("vip_senders", "@localhost", "Neither an e-mail address nor @domain: @localhost."),
    ("vip_senders", "\n".join(f"p{i}@acme.test" for i in range(201)), "Use at most 200 entries."),
]


def _policy(tenant) -> dict:
    return {key: getattr(tenant, key) for key in DEFAULTS}


def _events(db, tenant) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.tenant_id == tenant.id,
                                                            AuditEvent.action == "tenant.inbound_policy_updated")))


@pytest.fixture
def acme(db, create_tenant, login):
    tenant = create_tenant("acme")
    login(tenant.owner)
    return tenant


def test_the_tab_shows_the_current_policy(client, acme):
    html = client.get(URL).get_data(as_text=True)
    assert 'aria-current="page">Inbound mail</a>' in html
    assert 'id="subject_window_hours" max="720" min="1" name="subject_window_hours" type="number" value="72"' in html
    assert 'name="max_attachment_mb" type="number" value="25"' in html
    assert "headers from any other server are ignored because senders can forge them" in html
    assert "[#ACME-1042]" in html  # the prefix derived from the slug, while none is set


def test_saving_normalizes_and_is_audited(client, db, acme):
    response = client.post(URL, data=GOOD)
    assert response.status_code == 302 and response.location.endswith(URL)
    db.session.refresh(acme)
    assert _policy(acme) == SAVED
    [event] = _events(db, acme)
    assert event.actor == acme.owner.email
    assert event.changes["max_attachment_bytes"] == [25 * MB, 10 * MB]
    assert event.changes["vip_senders"] == [[], ["ceo@acme.test", "@board.test"]]
    assert set(event.changes) == set(SAVED)
    html = client.get(URL).get_data(as_text=True)
    assert "Inbound mail settings saved." in html and "[#HD-1042]" in html
    assert "ceo@acme.test\n@board.test</textarea>" in html
    # saving the same again changes nothing, so records nothing
    client.post(URL, data={**GOOD, "ticket_prefix": "HD"})
    assert len(_events(db, acme)) == 1


def test_an_empty_prefix_means_derived_from_the_address(client, db, acme):
    client.post(URL, data=GOOD)
    assert client.post(URL, data={**GOOD, "ticket_prefix": " "}).status_code == 302
    db.session.refresh(acme)
    assert acme.ticket_prefix == ""


@pytest.mark.parametrize(("field", "value", "message"), BAD)
def test_each_field_says_what_is_wrong_and_nothing_changes(client, db, acme, field, value, message):
    response = client.post(URL, data={**GOOD, field: value})
    assert response.status_code == 422
    html = unescape(response.get_data(as_text=True))
    assert f'id="{field}-error" class="error" role="alert">{message}</p>' in html
    assert html.count('class="error" role="alert"') == 1
    db.session.refresh(acme)
    assert _policy(acme) == DEFAULTS and _events(db, acme) == []


def test_all_errors_at_once(client, db, acme):
    bad = {field: value for field, value, _message in BAD[::3]}
    html = client.post(URL, data={**GOOD, **bad}).get_data(as_text=True)
    for field in bad:
        assert f'id="{field}-error"' in html
    db.session.refresh(acme)
    assert _policy(acme) == DEFAULTS


def test_agents_may_not_see_or_change_the_policy(client, db, create_tenant, add_member, login):
    tenant = create_tenant("acme")
    login(add_member(tenant, Role.AGENT))
    assert client.get(URL).status_code == 403
    assert client.post(URL, data=GOOD).status_code == 403
    assert "Inbound mail" not in client.get("/t/acme/settings/").get_data(as_text=True)
    db.session.refresh(tenant)
    assert _policy(tenant) == DEFAULTS


def test_vip_senders_saved_in_the_portal_take_effect(client, db, inbox, login):
    login(inbox.tenant.owner)
    client.post(URL, data={**GOOD, "vip_senders": "@board.test"})
    ticket = inbox.message_of(inbox.deliver(make_mail(sender="chair@board.test"))).ticket
    assert ticket.priority.value == "high" and ticket.reference.startswith("HD-")


# --- the same policy through the API: GET/PATCH /api/v1/tenant, nested under "inbound" -------------------------



def test_api_round_trips_the_policy(client, db, create_tenant, api_token):
    tenant = create_tenant("acme")
    headers = api_token(tenant)
    got = client.get("/api/v1/tenant", headers=headers).json["inbound"]
    assert got == {**{k: v for k, v in DEFAULTS.items() if k != "max_attachment_bytes"}, "max_attachment_mb": 25}
    body = {"ticket_prefix": "hd", "subject_window_hours": 24, "max_attachment_mb": 5,
            "vip_senders": ["@Board.test"], "blocked_attachment_types": [".exe"]}
    patched = client.patch("/api/v1/tenant", json={"inbound": body}, headers=headers)
    assert patched.status_code == 200
    assert patched.json["inbound"] == {**got, "ticket_prefix": "HD", "subject_window_hours": 24,
                                       "max_attachment_mb": 5, "vip_senders": ["@board.test"],
                                       "blocked_attachment_types": ["exe"]}
    assert client.get("/api/v1/tenant", headers=headers).json["inbound"] == patched.json["inbound"]
    db.session.refresh(tenant)
    assert tenant.max_attachment_bytes == 5 * MB
    assert _events(db, tenant)[0].actor == "API token “test”"


def test_api_answers_field_errors_inside_inbound(client, db, create_tenant, api_token):
    tenant = create_tenant("acme")
    headers = api_token(tenant)
    response = client.patch("/api/v1/tenant", headers=headers, json={"name": "Acme Corp", "inbound": {
        "ticket_prefix": "A-B", "reopen_policy": "x", "subject_window_hours": 0, "sender_rate_limit": 10_001,
        "trusted_authserv_ids": ["mx.acme.test", "a b"], "dmarc_policy": "reject", "max_attachment_mb": 500,
        "blocked_attachment_types": ["tar.gz"], "vip_senders": ["nobody"]}})
    assert set(_pointers(response)) == {f"#/inbound/{field}" for field in (
        "ticket_prefix", "reopen_policy", "subject_window_hours", "sender_rate_limit", "trusted_authserv_ids",
        "dmarc_policy", "max_attachment_mb", "blocked_attachment_types", "vip_senders")}
    typed = client.patch("/api/v1/tenant", json={"inbound": {"max_attachment_bytes": 1, "sender_rate_limit": "x"}},
                         headers=headers)
    assert _pointers(typed) == {"#/inbound/max_attachment_bytes": "Unknown field.",
                                "#/inbound/sender_rate_limit": "Not a valid integer."}
    db.session.refresh(tenant)
    assert tenant.name == "Acme" and _policy(tenant) == DEFAULTS


def test_api_changes_nothing_when_another_field_fails(client, db, create_tenant, api_token):
    tenant = create_tenant("acme")
    headers = api_token(tenant)
    response = client.patch("/api/v1/tenant", json={"timezone": "Nowhere/Land", "inbound": {"ticket_prefix": "OK"}},
                            headers=headers)
    assert set(_pointers(response)) == {"#/timezone"}
    db.session.expire_all()
    assert _policy(db.session.get(type(tenant), tenant.id)) == DEFAULTS and _events(db, tenant) == []
