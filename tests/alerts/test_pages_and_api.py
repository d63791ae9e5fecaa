"""The alerts page (admins): open and resolved alerts in words, the rules form; the API's alert rules and alerts;
the job; the mail an admin gets, in the tenant's language."""

from __future__ import annotations

from email import message_from_bytes, policy
from html import unescape

import pytest
from sqlalchemy import select

from app.alerts import services
from app.outbound.models import OutgoingMail
from tenants.models import Role, utcnow
from tests.alerts.conftest import attempt, receipt

URL = "/t/acme/alerts/"


@pytest.fixture
def held(db, acme, new_mailbox):
    """Two messages quarantined a moment ago, and a rule that alerts at two."""
    mailbox = new_mailbox(acme, "support@acme.test")
    for _ in range(2):
        receipt(acme, mailbox, utcnow(), status="quarantined", processed_at=utcnow())
    services.update_rule(acme, "quarantine_growing", threshold=2)
    return mailbox


def test_the_page_shows_open_and_resolved_alerts_in_words(client, db, acme, held, login, evaluate):
    evaluate(acme)
    failing = held
    for _ in range(acme.failure_threshold):
        attempt(failing, ok=False)
    attempt(failing, ok=True)
    login(acme.admin)
    page = unescape(client.get(URL).get_data(as_text=True))
    open_part, resolved_part = page.split('id="recent-alerts"')[0], page.split('id="recent-alerts"')[1]
    assert "Quarantine growing" in open_part
    assert "2 messages were quarantined in the last hour (the alert is set at 2)." in open_part
    assert "The mailbox support@acme.test failed 3 times in a row." in resolved_part
    assert "The mailbox support@acme.test works again." in resolved_part
    assert 'href="/t/acme/alerts/"' in page  # in the navigation, for admins


def test_rules_are_saved_from_one_form_and_errors_stay_on_their_row(client, db, acme, login):
    login(acme.admin)
    form = {"mailbox_failing_enabled": "y", "mailbox_silent_enabled": "y", "outbox_backlog_enabled": "y",
            "outbox_backlog_threshold": "20", "oauth_expiring_enabled": "y", "oauth_expiring_threshold": ""}
    assert client.post(f"{URL}rules", data=form).status_code == 302
    rules = {rule.kind: rule for rule in services.rules(acme)}
    assert (rules["outbox_backlog"].threshold, rules["quarantine_growing"].enabled) == (20, False)
    assert rules["oauth_expiring"].own_threshold is None
    page = unescape(client.get(URL).get_data(as_text=True))
    assert 'name="outbox_backlog_threshold" placeholder="50"' in page and 'value="20"' in page

    refused = client.post(f"{URL}rules", data={**form, "oauth_expiring_threshold": "365"})
    assert refused.status_code == 422
    assert 'id="oauth_expiring_threshold-error"' in refused.get_data(as_text=True)
    assert services.get_rule(acme, "oauth_expiring").own_threshold is None


def test_agents_do_not_see_alerts(client, db, acme, add_member, login):
    login(add_member(acme, Role.AGENT))
    assert client.get(URL).status_code == 403
    assert 'href="/t/acme/alerts/"' not in client.get("/t/acme/inbox/").get_data(as_text=True)


def test_api_reads_and_changes_rules(client, db, acme, api_token):
    headers = api_token(acme)
    listed = client.get("/api/v1/alert-rules", headers=headers).json["items"]
    assert [rule["kind"] for rule in listed][:2] == ["mailbox_failing", "mailbox_silent"]
    assert listed[0] == {"kind": "mailbox_failing", "enabled": True, "threshold": 3, "default_threshold": 3,
                         "uses_default": True}
    changed = client.patch("/api/v1/alert-rules/outbox_backlog", json={"threshold": 9, "enabled": False},
                           headers=headers)
    assert changed.status_code == 200 and changed.json["threshold"] == 9 and not changed.json["enabled"]
    refused = client.patch("/api/v1/alert-rules/outbox_backlog", json={"threshold": 0}, headers=headers)
    assert refused.status_code == 422 and refused.json["errors"][0]["pointer"] == "#/threshold"
    assert client.get("/api/v1/alert-rules/no_such_kind", headers=headers).status_code == 404


def test_api_lists_alerts_and_another_tenants_alert_is_404(client, db, acme, held, evaluate, api_token,
                                                           create_tenant):
    evaluate(acme)
    headers = api_token(acme)
    [alert] = client.get("/api/v1/alerts?state=open", headers=headers).json["items"]
    assert (alert["kind"], alert["subject"], alert["state"], alert["detail"]["count"]) == (
        "quarantine_growing", "quarantine", "open", 2)
    assert client.get("/api/v1/alerts?state=resolved", headers=headers).json["items"] == []
    assert client.get(f"/api/v1/alerts/{alert['id']}", headers=headers).json["id"] == alert["id"]
    other = api_token(create_tenant("other"))
    assert client.get(f"/api/v1/alerts/{alert['id']}", headers=other).status_code == 404
    assert client.get("/api/v1/alerts", headers=other).json["items"] == []


def test_the_job_evaluates_every_tenant_of_its_region_and_survives_one_that_fails(db, acme, held, create_tenant,
                                                                                  monkeypatch):
    from app.alerts import checks
    from worker.jobs.alerts import evaluate_alerts

    broken = create_tenant("broken")
    original = checks.CHECKS["quarantine_growing"]

    def fails_for_broken(tenant, threshold):
        if tenant.id == broken.id:
            raise RuntimeError("boom")
        return original(tenant, threshold)

    monkeypatch.setitem(checks.CHECKS, "quarantine_growing", fails_for_broken)
    assert evaluate_alerts("default") == {"opened": 1, "resolved": 0}
    assert evaluate_alerts("eu") == {"opened": 0, "resolved": 0}


def test_the_admins_mail_is_in_the_tenants_language_with_a_link(db, create_tenant, add_member, new_mailbox, evaluate):
    tenant = create_tenant("acme", locale="de")
    add_member(tenant, Role.ADMIN)
    mailbox = new_mailbox(tenant, "support@acme.test")
    services.update_rule(tenant, "quarantine_growing", threshold=1)
    receipt(tenant, mailbox, utcnow(), status="quarantined", processed_at=utcnow())
    evaluate(tenant)
    [mail] = db.session.scalars(select(OutgoingMail).where(OutgoingMail.tenant_id == tenant.id))
    assert mail.event == "alert_opened" and mail.subject.startswith("Warnung: ")
    assert len(mail.recipients) == 2  # the owner and the admin, in Bcc
    text = message_from_bytes(mail.raw, policy=policy.default).get_body(("plain",)).get_content()
    assert "eine Warnregel von Acme hat ein Problem festgestellt" in " ".join(text.split())
    assert "/t/acme/alerts/" in text
