"""The communication log of all mailboxes (filters, CSV), the audit log as CSV, and retention: entries older than
the tenant's setting go, newer ones stay."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from sqlalchemy import func, select

from app.audit.models import AuditEvent
from app.audit.services import record
from app.connections.models import ConnectionKind, ConnectionLog
from app.health.models import MailboxHour
from app.logs.retention import purge_tenant_logs
from tenants.models import utcnow
from worker.jobs.housekeeping import purge_old_logs_in_region

BASE = "/t/acme/logs"


def _log(db, mailbox, *, ok=True, days_ago: float = 0, category=None, response=None, kind=ConnectionKind.SYNC):
    entry = ConnectionLog(tenant_id=mailbox.tenant_id, mailbox_id=mailbox.id, kind=kind, direction="inbound",
                          duration_ms=42.0, ok=ok, category=category, server_response=response,
                          started_at=utcnow() - timedelta(days=days_ago))
    db.session.add(entry)
    db.session.commit()
    return entry


def _csv(response) -> list[dict]:
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def test_communication_log_filters_and_exports_exactly_what_it_shows(client, db, inbox, login, new_mailbox):
    login(inbox.tenant.owner)
    other = new_mailbox(inbox.tenant, "sales@acme.test")
    _log(db, inbox.mailbox, ok=False, category="auth_failed", response="=HYPERLINK(\"http://evil\")")
    _log(db, inbox.mailbox)
    _log(db, other)
    page = client.get(f"{BASE}/communication?outcome=failed")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert html.count('class="log-entry failed"') == 1 and "auth_failed" in html
    assert html.count('class="log-entry') == 1
    rows = _csv(client.get(f"{BASE}/communication.csv?outcome=failed"))
    assert [(r["mailbox"], r["ok"], r["category"]) for r in rows] == [("support@acme.test", "False", "auth_failed")]
    assert rows[0]["server_response"] == "'=HYPERLINK(\"http://evil\")"  # a spreadsheet shows it, never runs it
    by_mailbox = _csv(client.get(f"{BASE}/communication.csv?mailbox={other.id}"))
    assert [r["mailbox"] for r in by_mailbox] == ["sales@acme.test"]
    assert len(_csv(client.get(f"{BASE}/communication.csv"))) == 3


def test_audit_log_exports_with_the_pages_filters(client, db, inbox, login):
    login(inbox.tenant.owner)
    record(inbox.tenant, "queue.created", object_type="queue", object_id=1, label="Billing",
           changes={"name": [None, "Billing"]})
    record(inbox.tenant, "mailbox.paused", object_type="mailbox", object_id=2, label="support@acme.test")
    db.session.commit()
    assert 'id="export-audit"' in client.get("/t/acme/audit/").get_data(as_text=True)
    rows = _csv(client.get(f"{BASE}/audit.csv?action=queue.created"))
    assert [(r["action"], r["object_label"]) for r in rows] == [("queue.created", "Billing")]
    assert rows[0]["changes"] == '{"name": [null, "Billing"]}'


def test_retention_deletes_only_what_is_older_than_the_tenants_setting(client, db, inbox, create_tenant,
                                                                        new_mailbox):
    inbox.tenant.commlog_retention_days, inbox.tenant.audit_retention_days = 30, 400
    db.session.commit()
    old, recent = _log(db, inbox.mailbox, days_ago=31), _log(db, inbox.mailbox, days_ago=29)
    old_audit = record(inbox.tenant, "queue.created", object_type="queue")
    old_audit.created_at = utcnow() - timedelta(days=401)
    record(inbox.tenant, "queue.deleted", object_type="queue")
    db.session.add(MailboxHour(tenant_id=inbox.tenant.id, mailbox_id=inbox.mailbox.id, attempts=1, ok=1,
                               hour=(utcnow() - timedelta(days=40)).replace(minute=0, second=0, microsecond=0)))
    neighbour = create_tenant("neighbour")  # another tenant keeps its old entries: 90 days by default
    theirs = _log(db, new_mailbox(neighbour, "help@neighbour.test"), days_ago=31)
    db.session.commit()
    old_id, kept = old.id, {recent.id, theirs.id}

    assert purge_tenant_logs(inbox.tenant, batch=1) == {"connection_logs": 1, "audit_events": 1, "mailbox_hours": 1}
    remaining = set(db.session.scalars(select(ConnectionLog.id)))
    assert old_id not in remaining and kept <= remaining
    assert [e.action for e in db.session.scalars(AuditEvent.all(inbox.tenant))] == ["queue.deleted"]
    assert db.session.scalar(select(func.count()).select_from(MailboxHour)) == 0
    assert purge_old_logs_in_region("default") == {"connection_logs": 0, "audit_events": 0, "mailbox_hours": 0}


def test_retention_is_a_tenant_setting_with_limits(client, db, inbox, login, api_token):
    login(inbox.tenant.owner)
    page = client.get("/t/acme/settings/").get_data(as_text=True)
    assert 'name="commlog_retention_days"' in page and 'value="90"' in page
    headers = api_token(inbox.tenant)
    bad = client.patch("/api/v1/tenant", json={"commlog_retention_days": 3, "audit_retention_days": 99999},
                       headers=headers)
    assert bad.status_code == 422
    assert {e["pointer"] for e in bad.json["errors"]} == {"#/commlog_retention_days", "#/audit_retention_days"}
    good = client.patch("/api/v1/tenant", json={"commlog_retention_days": 30}, headers=headers)
    assert good.status_code == 200 and good.json["commlog_retention_days"] == 30
    db.session.refresh(inbox.tenant)
    assert (inbox.tenant.commlog_retention_days, inbox.tenant.audit_retention_days) == (30, 365)
