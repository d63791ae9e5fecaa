"""Every rule kind exists for every tenant with its default; admins switch rules off and set thresholds within
each kind's range; switching one off closes its open alerts without a notice."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.alerts import services
from app.alerts.models import KINDS, Alert
from app.audit.models import AuditEvent
from app.errors import FieldErrors
from tenants.models import utcnow
from tests.alerts.conftest import receipt


def test_every_kind_is_on_with_its_default(db, acme):
    acme.failure_threshold = 4
    rules = services.rules(acme)
    assert [rule.kind for rule in rules] == list(KINDS)
    assert all(rule.enabled and rule.own_threshold is None for rule in rules)
    assert {rule.kind: rule.threshold for rule in rules} == {
        "mailbox_failing": 4, "mailbox_silent": 6, "outbox_backlog": 50, "quarantine_growing": 10,
        "oauth_expiring": 7}


def test_a_threshold_of_its_own_and_back_to_the_default_is_audited(db, acme):
    rule = services.update_rule(acme, "outbox_backlog", threshold=5)
    assert (rule.threshold, rule.own_threshold, rule.default_threshold) == (5, 5, 50)
    assert services.update_rule(acme, "outbox_backlog", threshold=None).threshold == 50
    changes = db.session.scalars(select(AuditEvent.changes).where(AuditEvent.tenant_id == acme.id,
                                                                  AuditEvent.action == "alert_rule.updated")).all()
    assert changes == [{"threshold": [None, 5]}, {"threshold": [5, None]}]


@pytest.mark.parametrize(("kind", "value"), [("mailbox_failing", 0), ("mailbox_failing", 101), ("oauth_expiring", 91),
                                             ("outbox_backlog", True), ("mailbox_silent", "6")])
def test_thresholds_out_of_range_are_refused_and_change_nothing(db, acme, kind, value):
    with pytest.raises(FieldErrors) as refused:
        services.update_rule(acme, kind, enabled=False, threshold=value)
    assert set(refused.value.errors) == {"threshold"}
    assert services.get_rule(acme, kind).enabled is True


def test_several_rules_at_once_are_all_or_nothing(db, acme):
    with pytest.raises(FieldErrors) as refused:
        services.update_rules(acme, {"outbox_backlog": {"enabled": True, "threshold": 7},
                                     "oauth_expiring": {"enabled": True, "threshold": 500}})
    assert refused.value.errors.keys() == {"oauth_expiring_threshold"}
    assert services.get_rule(acme, "outbox_backlog").threshold == 50


def test_switching_a_rule_off_closes_its_alerts_quietly_and_it_is_not_evaluated(db, acme, new_mailbox, listening,
                                                                                notices, evaluate):
    mailbox = new_mailbox(acme, "support@acme.test")
    services.update_rule(acme, "quarantine_growing", threshold=1)
    receipt(acme, mailbox, utcnow(), status="quarantined", processed_at=utcnow())
    assert evaluate(acme) == {"opened": 1, "resolved": 0}
    services.update_rule(acme, "quarantine_growing", enabled=False)
    [alert] = db.session.scalars(select(Alert).where(Alert.tenant_id == acme.id))
    db.session.refresh(alert)
    assert (alert.open, alert.resolution) == (False, "rule_disabled")
    assert evaluate(acme) == {"opened": 0, "resolved": 0}
    assert notices(acme).hooks == ["alert.opened"] and notices(acme).mails == ["alert_opened"]
