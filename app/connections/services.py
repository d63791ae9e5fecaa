"""Connection tests and the communication log: every attempt recorded, health derived from the log."""

from __future__ import annotations

import statistics
import uuid
from dataclasses import asdict
from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from app.audit.services import record
from app.connections.models import ConnectionKind, ConnectionLog, ConnectionTest
from app.extensions import db
from app.health.rollup import count_attempt
from app.mail.probe import Endpoint, StepResult, probe
from app.mailboxes.models import Mailbox, MailboxStatus, OutboundMode
from tenants.models import Tenant, utcnow
from tenants.queues import enqueue
from tenants.regions import get_region

TEST_JOB = "worker.jobs.connection_test.run_connection_test"


def start_test(mailbox: Mailbox) -> ConnectionTest:
    """Record a queued test and enqueue its job on the tenant's region; the job fills in the steps."""
    tenant = db.session.get(Tenant, mailbox.tenant_id)
    test = ConnectionTest(tenant_id=tenant.id, mailbox_id=mailbox.id, job_id=uuid.uuid4().hex, status="queued")
    db.session.add(test)
    db.session.commit()
    enqueue(tenant, TEST_JOB, test.id, kind="poll", job_id=test.job_id, job_timeout=300)
    return test


def _oauth_token(mailbox: Mailbox) -> str | None:
    """XOAUTH2: the grant's access token, refreshed first (under its lock) when it is about to expire."""
    if mailbox.oauth_grant_id is None:
        return None
    from app.oauth.models import OAuthGrant
    from app.oauth.services import access_token

    return access_token(db.session.get(OAuthGrant, mailbox.oauth_grant_id))


class PolicyRefused(Exception):
    """The tenant's policy forbids this connection (plaintext after it was switched off)."""


def _check_plaintext_policy(mailbox: Mailbox) -> None:
    tenant = db.session.get(Tenant, mailbox.tenant_id)
    plaintext = mailbox.inbound_security.value == "none" or (
        mailbox.outbound_mode == OutboundMode.OWN and mailbox.outbound_security
        and mailbox.outbound_security.value == "none")
    if plaintext and not tenant.allow_plaintext:
        raise PolicyRefused("unencrypted connections are switched off for this organization")


def endpoints(mailbox: Mailbox, *, inbound: bool = True) -> list[tuple[str, Endpoint]]:
    """What a connection test checks: the inbound server, then the outbound one (own server or region relay).

    For OAuth mailboxes this fetches a valid access token first, which may raise ``GrantUnusable`` or a transient
    ``OAuthFailure``. ``inbound=False``: the outbound one only (delivery).
    """
    common = _common(mailbox)
    _check_plaintext_policy(mailbox)
    token = _oauth_token(mailbox)
    secret = {"oauth_token": token} if token else {}
    found = []
    if inbound:
        found.append(("inbound", Endpoint(
            protocol=mailbox.inbound_protocol.value, host=mailbox.inbound_host, port=mailbox.inbound_port,
            security=mailbox.inbound_security.value, username=mailbox.inbound_username,
            password=None if token else mailbox.inbound_password, folder=(mailbox.folders or ["INBOX"])[0],
            **secret, **common)))
    if mailbox.outbound_mode == OutboundMode.OWN and mailbox.outbound_host:
        found.append(("outbound", Endpoint(
            protocol="smtp", host=mailbox.outbound_host, port=mailbox.outbound_port or 587,
            security=(mailbox.outbound_security.value if mailbox.outbound_security else "starttls"),
            username=mailbox.outbound_username or "", password=None if token else mailbox.outbound_password,
            **secret, **common)))
    elif mailbox.outbound_mode == OutboundMode.RELAY:
        found.append(("outbound", relay_endpoint(db.session.get(Tenant, mailbox.tenant_id), ca_pem=mailbox.ca_pem)))
    return found


def relay_endpoint(tenant: Tenant, *, ca_pem: str | None = None) -> Endpoint:
    """The region's relay (``smtp_relay`` of ``POSTROOM_REGIONS``: host, port, security, username, password,
    ca_pem). It is the operator's own (often internal) server, not tenant input: the SSRF guard does not apply."""
    relay = get_region(tenant.region).smtp_relay
    if not relay.get("host"):
        raise RuntimeError(f"region {tenant.region!r} has no SMTP relay")
    return Endpoint(protocol="smtp", host=relay["host"], port=int(relay.get("port", 587)),
                    security=relay.get("security", "starttls"), username=relay.get("username", ""),
                    password=relay.get("password"), timeout=current_app.config["CONNECT_TIMEOUT"],
                    ca_pem=relay.get("ca_pem") or ca_pem or None, allow_private=True)


def _common(mailbox: Mailbox) -> dict:
    return {"timeout": current_app.config["CONNECT_TIMEOUT"], "ca_pem": mailbox.ca_pem or None,
            "allow_private": current_app.config["ALLOW_PRIVATE_HOSTS"]}


def _step_json(direction: str, result: StepResult) -> dict:
    return {"direction": direction, **asdict(result)}


def run_test(test: ConnectionTest, job_id: str | None = None) -> ConnectionTest:
    """Probe each endpoint, writing every step as it finishes; log each attempt; update the mailbox's health."""
    mailbox = db.session.get(Mailbox, test.mailbox_id)
    test.status, test.steps = "running", []
    db.session.commit()
    try:
        targets = endpoints(mailbox)
    except Exception as error:
        return _token_step_failed(test, mailbox, error)
    passed = True
    for direction, endpoint in targets:
        def on_step(result: StepResult, direction: str = direction) -> None:
            test.steps = [*test.steps, _step_json(direction, result)]  # a new list: JSON columns track assignment
            db.session.commit()

        results = probe(endpoint, on_step=on_step)
        record_attempt(mailbox, ConnectionKind.TEST, direction, results, job_id=job_id or test.job_id)
        passed = passed and all(r.ok for r in results)  # the outbound side is tested even if inbound failed
    test.status, test.finished_at = ("passed" if passed else "failed"), utcnow()
    db.session.commit()
    return test


def _token_step_failed(test: ConnectionTest, mailbox: Mailbox, error: Exception) -> ConnectionTest:
    from app.oauth.errors import OAuthFailure
    from app.oauth.services import GrantUnusable

    if not isinstance(error, GrantUnusable | OAuthFailure | PolicyRefused):
        raise error
    kind = getattr(error, "kind", "")
    category = {"transient": "oauth_unavailable", "invalid_client": "oauth_client"}.get(kind, "oauth_reauth")
    if isinstance(error, PolicyRefused):
        category = "plaintext_refused"
    step = StepResult(step="policy" if category == "plaintext_refused" else "token", ok=False, latency_ms=0.0,
                      category=category, detail={"reason": getattr(error, "cause", str(error))})
    test.steps = [_step_json("inbound", step)]
    test.status, test.finished_at = "failed", utcnow()
    db.session.commit()
    return test


def record_attempt(mailbox: Mailbox, kind: ConnectionKind, direction: str, results: list[StepResult], *,
                   job_id: str | None = None) -> ConnectionLog:
    """Write one attempt to the communication log and move the mailbox's failure streak (and status)."""
    failed = next((r for r in results if not r.ok), None)
    entry = ConnectionLog(
        tenant_id=mailbox.tenant_id, mailbox_id=mailbox.id, kind=kind, direction=direction,
        duration_ms=round(sum(r.latency_ms for r in results), 1), ok=failed is None,
        category=failed.category if failed else None, step=failed.step if failed else None,
        server_response=(failed.server_response or "")[:2000] if failed else None, job_id=job_id)
    db.session.add(entry)
    entry.started_at = entry.started_at or utcnow()
    count_attempt(mailbox.tenant_id, mailbox.id, entry.started_at, entry.ok, entry.duration_ms)
    if kind == ConnectionKind.SYNC and entry.ok:
        mailbox.last_synced_at = entry.started_at
    streak = mailbox.failure_streak
    _update_streak(mailbox, direction, failed)
    if streak or mailbox.failure_streak:  # its mailbox_failing alert opens or clears now, not at the next evaluation
        from app.alerts.services import check_mailbox

        check_mailbox(mailbox)
    db.session.commit()
    return entry


def _update_streak(mailbox: Mailbox, direction: str, failed: StepResult | None) -> None:
    tenant = db.session.get(Tenant, mailbox.tenant_id)
    if failed is None:
        if mailbox.failure_direction not in (None, direction):
            return  # e.g. sending works, but fetching still fails: the streak stands
        if mailbox.status == MailboxStatus.FAILING:
            record(tenant, "mailbox.recovered", object_type="mailbox", object_id=mailbox.id, label=mailbox.address,
                   changes={"status": ["failing", "active"]})
            mailbox.status = MailboxStatus.ACTIVE
            _status_event(tenant, mailbox, "failing")
        mailbox.failure_streak, mailbox.last_failure_category, mailbox.failure_direction = 0, None, None
        return
    mailbox.failure_streak += 1
    mailbox.last_failure_category, mailbox.failure_direction = failed.category, direction
    if mailbox.status == MailboxStatus.ACTIVE and mailbox.failure_streak >= tenant.failure_threshold:
        mailbox.status = MailboxStatus.FAILING
        record(tenant, "mailbox.failing", object_type="mailbox", object_id=mailbox.id, label=mailbox.address,
               changes={"status": ["active", "failing"], "category": [None, failed.category]})
        # The admins' mail is the mailbox_failing alert's (app.alerts, from record_attempt): one sender, one mail.
        _status_event(tenant, mailbox, "active")


def _status_event(tenant: Tenant, mailbox: Mailbox, before: str) -> None:
    from app.webhooks.payloads import mailbox_data
    from app.webhooks.services import emit

    emit(tenant, "mailbox.status_changed", lambda: mailbox_data(mailbox, previous_status=before))


def recent_log(mailbox: Mailbox, limit: int = 20) -> list[ConnectionLog]:
    query = ConnectionLog.all(db.session.get(Tenant, mailbox.tenant_id)).where(ConnectionLog.mailbox_id == mailbox.id)
    return list(db.session.scalars(query.order_by(ConnectionLog.started_at.desc(), ConnectionLog.id.desc())
                                   .limit(limit)))


def health(mailbox: Mailbox) -> dict:
    """Status, last sync, success rate and median latency over 24 h, failure streak and category."""
    since = utcnow() - timedelta(hours=24)
    rows = db.session.execute(
        select(ConnectionLog.ok, ConnectionLog.duration_ms, ConnectionLog.kind, ConnectionLog.started_at)
        .where(ConnectionLog.tenant_id == mailbox.tenant_id, ConnectionLog.mailbox_id == mailbox.id,
               ConnectionLog.started_at >= since)).all()
    last_sync = db.session.scalar(
        select(ConnectionLog.started_at).where(ConnectionLog.tenant_id == mailbox.tenant_id,
                                               ConnectionLog.mailbox_id == mailbox.id, ConnectionLog.ok.is_(True),
                                               ConnectionLog.kind == ConnectionKind.SYNC)
        .order_by(ConnectionLog.started_at.desc()).limit(1))
    return {
        "status": mailbox.status.value,
        "last_sync_at": last_sync,
        "attempts_24h": len(rows),
        "success_rate_24h": round(sum(r.ok for r in rows) / len(rows), 4) if rows else None,
        "median_latency_ms": round(statistics.median(r.duration_ms for r in rows), 1) if rows else None,
        "failure_streak": mailbox.failure_streak,
        "failure_category": mailbox.last_failure_category,
    }


def test_by_job_id(tenant: Tenant, job_id: str) -> ConnectionTest | None:
    return db.session.scalar(ConnectionTest.all(tenant).where(ConnectionTest.job_id == job_id))


def failing_mailboxes(tenant: Tenant) -> list[Mailbox]:
    query = Mailbox.all(tenant).where(Mailbox.status.in_([MailboxStatus.FAILING, MailboxStatus.REAUTH_REQUIRED]))
    return list(db.session.scalars(query.order_by(Mailbox.name)))
