"""The tenant health summary and the outbox, through the API; another tenant's numbers never show."""

from __future__ import annotations

from datetime import timedelta

from app.connections.models import ConnectionKind, ConnectionLog
from app.health.rollup import count_attempt
from app.outbound.models import OutgoingMail, OutgoingStatus
from app.webhooks.models import WebhookEndpoint
from tenants.models import utcnow
from tests.fixtures.inbox import make_mail
from tests.web.test_quarantine_page import deep_mail


def _log(db, mailbox, *, ok: bool, kind=ConnectionKind.SYNC, hours_ago: float = 1, category=None) -> None:
    """What ``record_attempt`` writes for an attempt, at a time in the past: the log entry, its hour's roll-up and,
    for a successful sync, the mailbox's last sync."""
    started = utcnow() - timedelta(hours=hours_ago)
    db.session.add(ConnectionLog(tenant_id=mailbox.tenant_id, mailbox_id=mailbox.id, kind=kind, direction="inbound",
                                 duration_ms=30.0, ok=ok, category=category, started_at=started))
    count_attempt(mailbox.tenant_id, mailbox.id, started, ok, 30.0)
    if ok and kind == ConnectionKind.SYNC:
        mailbox.last_synced_at = max(filter(None, (mailbox.last_synced_at, started)))
    db.session.commit()


def test_health_sums_up_mailboxes_queues_quarantine_outbox_and_webhooks(client, db, inbox, api_token, run_jobs):
    headers = api_token(inbox.tenant)
    inbox.deliver(make_mail(subject="First", sender="ann@client.test"))
    inbox.deliver(make_mail(subject="Second", sender="bob@client.test"))
    inbox.deliver(deep_mail())
    run_jobs(kinds=("deliver",))  # two acknowledgements, whose first attempt fails: nothing listens on port 9
    _log(db, inbox.mailbox, ok=True, hours_ago=2)
    _log(db, inbox.mailbox, ok=False, hours_ago=1, category="auth_failed")
    _log(db, inbox.mailbox, ok=True, hours_ago=30)  # outside the 24 hours
    _log(db, inbox.mailbox, ok=True, kind=ConnectionKind.TEST, hours_ago=0.5)  # a test is not a sync
    inbox.mailbox.failure_streak, inbox.mailbox.last_failure_category = 1, "auth_failed"
    db.session.add(WebhookEndpoint(tenant_id=inbox.tenant.id, url="https://hooks.example.test/x", events=[],
                                   secret="s" * 32, active=False, disabled_reason="kept failing"))
    db.session.commit()

    health = client.get("/api/v1/health", headers=headers)
    assert health.status_code == 200
    [mailbox] = health.json["mailboxes"]
    assert mailbox["address"] == "support@acme.test" and mailbox["attempts_24h"] == 3
    assert mailbox["success_rate_24h"] == round(2 / 3, 4)
    assert mailbox["last_sync_at"].startswith((utcnow() - timedelta(hours=2)).strftime("%Y-%m-%dT%H"))
    assert (mailbox["failure_streak"], mailbox["failure_category"]) == (1, "auth_failed")
    [queue] = health.json["queues"]
    assert (queue["name"], queue["open"], queue["pending"]) == ("Support", 2, 0)
    assert queue["oldest_waiting_since"] is not None
    assert health.json["quarantine"] == {"held": 1}
    assert health.json["outbox"] == {"pending": 0, "retrying": 2, "failed_24h": 0}
    assert health.json["webhooks"]["disabled_endpoints"] == 1


def test_outbox_lists_filters_and_hides_other_tenants(client, db, inbox, create_tenant, api_token, run_jobs):
    headers = api_token(inbox.tenant)
    inbox.deliver(make_mail(subject="Needs an acknowledgement"))
    run_jobs(kinds=("deliver",))
    [mail] = db.session.query(OutgoingMail).filter_by(tenant_id=inbox.tenant.id).all()
    mail.status, mail.status_reason, mail.attempts = OutgoingStatus.FAILED, "smtp_5xx", 1
    db.session.commit()

    listed = client.get("/api/v1/outbox?status=failed", headers=headers).json
    assert [(m["id"], m["status"], m["status_reason"]) for m in listed["items"]] == [(mail.id, "failed", "smtp_5xx")]
    assert listed["items"][0]["ticket_id"] == mail.ticket_id and listed["items"][0]["mailbox_id"] == inbox.mailbox.id
    assert client.get("/api/v1/outbox?status=sent", headers=headers).json["items"] == []
    assert client.get(f"/api/v1/outbox/{mail.id}", headers=headers).json["subject"] == mail.subject
    bad = client.get("/api/v1/outbox?status=lost", headers=headers)
    assert bad.status_code == 422 and [e["pointer"] for e in bad.json["errors"]] == ["#/status"]
    assert client.get("/api/v1/health", headers=headers).json["outbox"]["failed_24h"] == 1

    other = api_token(create_tenant())
    assert client.get(f"/api/v1/outbox/{mail.id}", headers=other).status_code == 404
    assert client.get("/api/v1/outbox", headers=other).json["items"] == []
    theirs = client.get("/api/v1/health", headers=other).json
    assert theirs["mailboxes"] == [] and theirs["queues"] == [] and theirs["quarantine"] == {"held": 0}
    assert theirs["outbox"] == {"pending": 0, "retrying": 0, "failed_24h": 0}


def test_quarantined_original_is_the_raw_message_and_only_for_its_tenant(client, db, inbox, create_tenant,
                                                                         api_token):
    raw = deep_mail()
    held = inbox.deliver(raw)
    response = client.get(f"/api/v1/quarantine/{held.id}/original", headers=api_token(inbox.tenant))
    assert response.status_code == 200 and response.mimetype == "message/rfc822"
    assert response.data == raw and "attachment" in response.headers["Content-Disposition"]
    assert client.get(f"/api/v1/quarantine/{held.id}/original", headers=api_token(create_tenant())).status_code == 404


def test_rule_trial_lists_every_rule_and_the_outcome_without_changing_anything(client, db, inbox, api_token):
    headers = api_token(inbox.tenant)
    queue = client.post("/api/v1/queues", json={"name": "Billing"}, headers=headers).json
    invoices = client.post("/api/v1/rules", json={"name": "Invoices", "pattern": "invoice", "queue_id": queue["id"],
                                                  "stop": True}, headers=headers).json
    later = client.post("/api/v1/rules", json={"name": "Later", "pattern": "."}, headers=headers).json
    trial = client.post("/api/v1/rules/test", json={"subject": "Your invoice 42", "sender": "jo@client.test"},
                        headers=headers)
    assert trial.status_code == 200
    assert [(r["rule_id"], r["outcome"]) for r in trial.json["results"]] == [(invoices["id"], "matched"),
                                                                           (later["id"], "not_reached")]
    assert (trial.json["queue_id"], trial.json["stopped_by"]) == (queue["id"], invoices["id"])
    plain = client.post("/api/v1/rules/test", json={"subject": "Hello"}, headers=headers).json
    assert plain["queue_id"] is None and plain["stopped_by"] is None
    bad = client.post("/api/v1/rules/test", json={"subject": 42}, headers=headers)
    assert bad.status_code == 422 and [e["pointer"] for e in bad.json["errors"]] == ["#/subject"]
