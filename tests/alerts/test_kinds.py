"""Each rule kind opens an alert when its condition holds, once, and resolves it once when it clears: a mail to the
tenant's admins and a webhook each time. A problem that comes back is a new alert."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select, update

from app.alerts import services
from app.alerts.checks import usual_silence
from app.alerts.models import Alert
from app.extensions import db as _db
from app.inbound.models import Receipt
from app.mailboxes.models import Mailbox, MailboxStatus
from app.outbound.models import OutgoingKind, OutgoingMail, OutgoingStatus
from tenants.models import utcnow
from tests.alerts.conftest import attempt, receipt


def _alerts(tenant) -> list[Alert]:
    _db.session.expire_all()
    return list(_db.session.scalars(select(Alert).where(Alert.tenant_id == tenant.id).order_by(Alert.id)))


def test_a_failing_mailbox_opens_one_alert_with_the_mailbox_failing_mail_and_resolves_when_it_works(
        db, acme, new_mailbox, listening, notices):
    mailbox = new_mailbox(acme, "support@acme.test")
    for _ in range(acme.failure_threshold + 2):  # the alert opens at the threshold, later failures add nothing
        attempt(mailbox, ok=False)
    [alert] = _alerts(acme)
    assert (alert.kind, alert.subject_key, alert.label, alert.open) == ("mailbox_failing", f"mailbox:{mailbox.id}",
                                                                        "support@acme.test", True)
    assert alert.detail["failures"] == acme.failure_threshold and "AUTHENTICATIONFAILED" in alert.detail["reason"]
    assert db.session.get(Mailbox, mailbox.id).status is MailboxStatus.FAILING
    assert notices(acme).mails == ["mailbox_failing"] and notices(acme).hooks == ["alert.opened"]

    attempt(mailbox, ok=True)
    [alert] = _alerts(acme)
    assert (alert.open, alert.resolution) == (False, "cleared")
    assert notices(acme).mails == ["mailbox_failing", "alert_resolved"]
    assert notices(acme).hooks == ["alert.opened", "alert.resolved"]

    for _ in range(acme.failure_threshold):
        attempt(mailbox, ok=False)
    assert [a.open for a in _alerts(acme)] == [False, True]  # it came back: a new alert, announced again
    assert notices(acme).hooks == ["alert.opened", "alert.resolved", "alert.opened"]


def test_the_rules_threshold_decides_not_the_status(db, acme, new_mailbox, notices):
    services.update_rule(acme, "mailbox_failing", threshold=1)
    mailbox = new_mailbox(acme, "support@acme.test")
    attempt(mailbox, ok=False)
    assert [alert.kind for alert in _alerts(acme)] == ["mailbox_failing"]
    assert db.session.get(Mailbox, mailbox.id).status is MailboxStatus.ACTIVE  # the status has its own setting


def test_evaluating_twice_notifies_once(db, acme, new_mailbox, listening, notices, evaluate):
    mailbox = new_mailbox(acme, "support@acme.test")
    services.update_rule(acme, "quarantine_growing", threshold=2)
    for _ in range(2):
        receipt(acme, mailbox, utcnow(), status="quarantined", processed_at=utcnow())
    assert evaluate(acme) == {"opened": 1, "resolved": 0}
    assert evaluate(acme) == {"opened": 0, "resolved": 0}
    assert notices(acme).mails == ["alert_opened"] and notices(acme).hooks == ["alert.opened"]
    _db.session.execute(update(Receipt).where(Receipt.tenant_id == acme.id)
                        .values(processed_at=utcnow() - timedelta(hours=2)))  # an hour later: none in the last hour
    assert evaluate(acme) == {"opened": 0, "resolved": 1}
    assert evaluate(acme) == {"opened": 0, "resolved": 0}
    assert notices(acme).mails == ["alert_opened", "alert_resolved"]
    assert notices(acme).hooks == ["alert.opened", "alert.resolved"]


def test_outbox_backlog_over_the_threshold(db, acme, notices, evaluate):
    services.update_rule(acme, "outbox_backlog", threshold=2)
    rows = [OutgoingMail(tenant_id=acme.id, kind=OutgoingKind.SYSTEM, rfc_message_id=f"<b{n}@acme.test>",
                         mail_from="x@acme.test", raw=b"", status=OutgoingStatus.QUEUED, attempts=n % 2)
            for n in range(3)]
    _db.session.add_all(rows)
    _db.session.commit()
    assert evaluate(acme, "outbox_backlog") == {"opened": 1, "resolved": 0}
    [alert] = _alerts(acme)
    assert (alert.subject_key, alert.detail) == ("outbox", {"waiting": 3, "pending": 2, "retrying": 1,
                                                            "threshold": 2})
    rows[0].status = OutgoingStatus.SENT
    _db.session.commit()
    assert evaluate(acme, "outbox_backlog") == {"opened": 0, "resolved": 1}  # 2 waiting: not more than 2


def test_oauth_grants_and_app_secrets_expiring(db, acme, notices, evaluate):
    from app.oauth.models import GrantStatus, OAuthApp, OAuthGrant

    grant = OAuthGrant(tenant_id=acme.id, provider="google", client_id="c", email="desk@acme.test",
                       refresh_expires_at=utcnow() + timedelta(days=3), status=GrantStatus.ACTIVE)
    later = OAuthGrant(tenant_id=acme.id, provider="google", client_id="c", email="later@acme.test",
                       refresh_expires_at=utcnow() + timedelta(days=30), status=GrantStatus.ACTIVE)
    app = OAuthApp(tenant_id=acme.id, provider="microsoft", client_id="m", client_secret="s",
                   secret_expires_on=date.today() + timedelta(days=6))
    _db.session.add_all([grant, later, app])
    _db.session.commit()
    assert evaluate(acme, "oauth_expiring") == {"opened": 2, "resolved": 0}
    assert {(a.subject_key, a.label) for a in _alerts(acme)} == {(f"grant:{grant.id}", "desk@acme.test"),
                                                                  (f"oauth_app:{app.id}", "microsoft")}
    grant.refresh_expires_at = utcnow() + timedelta(days=90)  # re-connected: a fresh refresh token
    _db.session.commit()
    assert evaluate(acme, "oauth_expiring") == {"opened": 0, "resolved": 1}
    services.update_rule(acme, "oauth_expiring", threshold=60)
    assert evaluate(acme, "oauth_expiring") == {"opened": 1, "resolved": 0}  # now "later" is within the window


def _business_mail(tenant, mailbox, days: int, last) -> None:
    """Mail every working day from 9 to 17 o'clock for ``days`` days before ``last``, and one at ``last``."""
    for day in range(days, 0, -1):
        moment = (last - timedelta(days=day)).replace(hour=9, minute=0, second=0, microsecond=0)
        if moment.weekday() < 5:
            for hour in range(0, 9, 2):
                receipt(tenant, mailbox, moment + timedelta(hours=hour))
    receipt(tenant, mailbox, last)


def test_the_usual_silence_is_the_longest_gap_and_needs_a_week_of_history():
    now = utcnow().replace(minute=0, second=0, microsecond=0)
    daily = [now - timedelta(days=day) for day in range(10)]
    assert usual_silence(daily, now) == timedelta(days=1)
    with_weekend = [*daily[:3], *daily[6:]]
    assert usual_silence(with_weekend, now) == timedelta(days=4)
    assert usual_silence(daily[:5], now) is None  # mail on 5 days only
    assert usual_silence([now - timedelta(hours=h) for h in range(0, 24 * 6, 3)], now) is None  # under a week


def test_a_mailbox_is_silent_only_beyond_one_and_a_half_times_its_longest_gap(db, acme, new_mailbox, evaluate):
    busy = new_mailbox(acme, "busy@acme.test")
    quiet = new_mailbox(acme, "quiet@acme.test")
    rare = new_mailbox(acme, "rare@acme.test")
    now = utcnow()
    _business_mail(acme, busy, 14, now - timedelta(days=5))  # usual: a weekend, about 64 h; now 5 days: silent
    _business_mail(acme, quiet, 14, now - timedelta(hours=40))  # a long night, not longer than usual
    receipt(acme, rare, now - timedelta(days=9))
    receipt(acme, rare, now - timedelta(days=2))  # two mails are no habit: never watched
    _db.session.commit()
    assert evaluate(acme, "mailbox_silent") == {"opened": 1, "resolved": 0}
    [alert] = _alerts(acme)
    assert (alert.subject_key, alert.label) == (f"mailbox:{busy.id}", "busy@acme.test")
    assert 60 <= alert.detail["usual_silence_hours"] <= 90
    receipt(acme, busy, utcnow())
    _db.session.commit()
    assert evaluate(acme, "mailbox_silent") == {"opened": 0, "resolved": 1}


def test_the_silence_minimum_is_the_rules_threshold(db, acme, new_mailbox, evaluate):
    hourly = new_mailbox(acme, "hourly@acme.test")
    now = utcnow()
    for hour in range(1, 14 * 24):
        receipt(acme, hourly, now - timedelta(hours=hour + 3))
    _db.session.commit()
    assert evaluate(acme, "mailbox_silent") == {"opened": 0, "resolved": 0}  # 3 h quiet: under the 6 h minimum
    services.update_rule(acme, "mailbox_silent", threshold=2)
    assert evaluate(acme, "mailbox_silent") == {"opened": 1, "resolved": 0}


def test_a_paused_or_removed_mailbox_closes_its_alert_without_a_notice(db, acme, new_mailbox, listening, notices,
                                                                       evaluate):
    paused, removed = new_mailbox(acme, "paused@acme.test"), new_mailbox(acme, "removed@acme.test")
    for mailbox in (paused, removed):
        for _ in range(acme.failure_threshold):
            attempt(mailbox, ok=False)
    paused.status = MailboxStatus.PAUSED
    _db.session.delete(removed)
    _db.session.commit()
    assert evaluate(acme, "mailbox_failing") == {"opened": 0, "resolved": 2}
    assert [(alert.open, alert.resolution) for alert in _alerts(acme)] == [(False, "withdrawn")] * 2
    assert notices(acme).hooks == ["alert.opened", "alert.opened"]  # nothing fixed: no "resolved"
