"""Alert rules and alerts: the conditions a tenant watches (``app.alerts.checks``), and the evaluation that opens an
alert when one holds and resolves it when it clears, telling the tenant's admins (mail) and webhooks each time.

Exactly one notice per opening and one per resolution, even with evaluators running side by side (the periodic
job, the check right after a sync attempt, two workers): opening inserts the alert, and the partial unique index on
open alerts lets one insert per subject succeed; the notices are written in that same transaction, and the loser's
savepoint is rolled back with nothing sent. Resolving is a conditional UPDATE (still open?): only the evaluator
whose UPDATE changed the row sends the notice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.alerts.checks import CHECKS, Finding, mailbox_failing
from app.alerts.models import KINDS, Alert, AlertRule
from app.audit.services import diff, record
from app.errors import FieldErrors
from app.extensions import db
from app.mailboxes.models import Mailbox, MailboxStatus
from tenants.context import tenant_context
from tenants.models import Tenant, utcnow

# None: the tenant's own "mark a mailbox as failing after N failures" setting.
DEFAULTS: dict[str, int | None] = {"mailbox_failing": None, "mailbox_silent": 6, "outbox_backlog": 50,
                                   "quarantine_growing": 10, "oauth_expiring": 7}
LIMITS = {"mailbox_failing": (1, 100), "mailbox_silent": (1, 720), "outbox_backlog": (1, 100_000),
          "quarantine_growing": (1, 100_000), "oauth_expiring": (1, 90)}
RECENT = timedelta(days=30)
_UNSET: Any = object()


@dataclass(frozen=True)
class Rule:
    kind: str
    enabled: bool
    threshold: int  # the one that applies
    default_threshold: int
    own_threshold: int | None  # the tenant's choice; None: the default applies


def rules(tenant: Tenant) -> list[Rule]:
    """Every kind, in ``KINDS`` order, as it applies to ``tenant``: its own changes over the defaults."""
    stored = {row.kind: row for row in db.session.scalars(AlertRule.all(tenant))}
    return [_effective(tenant, kind, stored.get(kind)) for kind in KINDS]


def get_rule(tenant: Tenant, kind: str) -> Rule:
    """Raises ``KeyError`` for a kind that does not exist."""
    return {rule.kind: rule for rule in rules(tenant)}[kind]


def _effective(tenant: Tenant, kind: str, row: AlertRule | None) -> Rule:
    default = DEFAULTS[kind] if DEFAULTS[kind] is not None else (tenant.failure_threshold or 3)
    own = row.threshold if row is not None else None
    enabled = row.enabled if row is not None else True
    return Rule(kind, enabled, own if own is not None else default, default, own)


def update_rule(tenant: Tenant, kind: str, *, enabled: bool | None = None, threshold: int | None = _UNSET) -> Rule:
    """Switch one rule on or off, or set its threshold (``None``: back to the default). Raises ``FieldErrors``
    (``threshold``), changing nothing. Switching a rule off closes its open alerts without a notice: nothing was
    fixed, and nobody waits for news of a rule they turned off."""
    error = _threshold_error(kind, threshold)
    if error:
        raise FieldErrors({"threshold": error})
    _apply(tenant, kind, enabled, threshold)
    db.session.commit()
    return get_rule(tenant, kind)


def update_rules(tenant: Tenant, changes: dict[str, dict]) -> None:
    """``update_rule`` for several kinds at once (the portal's one form); errors are keyed ``<kind>_threshold``,
    and none of the changes is made when one fails."""
    errors = {f"{kind}_threshold": error for kind, values in changes.items()
              if (error := _threshold_error(kind, values.get("threshold", _UNSET)))}
    if errors:
        raise FieldErrors(errors)
    for kind, values in changes.items():
        _apply(tenant, kind, values.get("enabled"), values.get("threshold", _UNSET))
    db.session.commit()


def _threshold_error(kind: str, value: Any) -> str | None:
    if value is _UNSET or value is None:
        return None
    low, high = LIMITS[kind]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        return _("Enter a whole number from %(min)s to %(max)s, or nothing for the default.", min=low, max=high)
    return None


def _apply(tenant: Tenant, kind: str, enabled: bool | None, threshold: int | None) -> None:
    row = db.session.scalar(AlertRule.all(tenant).where(AlertRule.kind == kind))
    if row is None:
        row = AlertRule(tenant_id=tenant.id, kind=kind, enabled=True, threshold=None)
        db.session.add(row)
    before = {"enabled": row.enabled, "threshold": row.threshold}
    if enabled is not None:
        row.enabled = enabled
    if threshold is not _UNSET:
        row.threshold = threshold
    changes = diff(before, {"enabled": row.enabled, "threshold": row.threshold})
    if not changes:
        return
    db.session.flush()
    record(tenant, "alert_rule.updated", object_type="alert_rule", object_id=row.id, label=kind, changes=changes)
    if before["enabled"] and not row.enabled:
        db.session.execute(update(Alert).where(Alert.tenant_id == tenant.id, Alert.kind == kind,
                                               Alert.resolved_at.is_(None))
                           .values(resolved_at=utcnow(), resolution="rule_disabled")
                           .execution_options(synchronize_session=False))


# -- alerts ---------------------------------------------------------------------------------------------------
def open_alerts(tenant: Tenant) -> list[Alert]:
    return list(db.session.scalars(Alert.all(tenant).where(Alert.resolved_at.is_(None))
                                   .order_by(Alert.opened_at.desc(), Alert.id.desc())))


def recent_alerts(tenant: Tenant, limit: int = 50) -> list[Alert]:
    """Alerts resolved in the last 30 days, latest first."""
    return list(db.session.scalars(Alert.all(tenant).where(Alert.resolved_at >= utcnow() - RECENT)
                                   .order_by(Alert.resolved_at.desc(), Alert.id.desc()).limit(limit)))


def evaluate(tenant: Tenant, kinds: Iterable[str] = KINDS) -> dict[str, int]:
    """Open and resolve ``tenant``'s alerts of ``kinds`` (rules switched off are skipped); the caller commits, which
    makes the alerts and their notices durable together. Returns how many opened and resolved."""
    outcome: Counter = Counter()
    current = {rule.kind: rule for rule in rules(tenant)}
    for kind in kinds:
        rule = current[kind]
        if rule.enabled:
            _reconcile(tenant, kind, lambda rule=rule: CHECKS[rule.kind](tenant, rule.threshold), outcome)
    return {"opened": outcome["opened"], "resolved": outcome["resolved"]}


def check_mailbox(mailbox: Mailbox) -> None:
    """Right after an attempt moved ``mailbox``'s failure streak: open or resolve its ``mailbox_failing`` alert now,
    not at the next periodic evaluation. The caller commits."""
    tenant = db.session.get(Tenant, mailbox.tenant_id)
    rule = get_rule(tenant, "mailbox_failing")
    if rule.enabled:
        _reconcile(tenant, rule.kind, lambda: mailbox_failing(tenant, rule.threshold, [mailbox.id]), Counter(),
                   keys=[f"mailbox:{mailbox.id}"])


def evaluate_region(region: str) -> dict[str, int]:
    """Every tenant of ``region``, each in its own transaction: one tenant's failure does not stop the others."""
    totals: Counter = Counter()
    for tenant_id in db.session.scalars(select(Tenant.id).where(Tenant.region == region).order_by(Tenant.id)).all():
        tenant = db.session.get(Tenant, tenant_id)
        try:
            with tenant_context(tenant):
                totals.update(evaluate(tenant))
            db.session.commit()
        except Exception:  # logged with its traceback; the next run tries again
            db.session.rollback()
            current_app.logger.exception("alert evaluation failed", extra={"tenant_id": tenant_id})
    return {"opened": totals["opened"], "resolved": totals["resolved"]}


def _reconcile(tenant: Tenant, kind: str, check: Callable[[], dict[str, Finding]], outcome: Counter, *,
               keys: list[str] | None = None) -> None:
    query = Alert.all(tenant).where(Alert.kind == kind, Alert.resolved_at.is_(None))
    if keys is not None:
        query = query.where(Alert.subject_key.in_(keys))
    already = {alert.subject_key: alert for alert in db.session.scalars(query)}
    found = check()
    # A fixed order: two evaluators take the same row locks in the same order, so they cannot deadlock.
    for key in sorted(found.keys() - already.keys()):
        outcome["opened"] += _open(tenant, kind, key, found[key])
    for key in sorted(already.keys() - found.keys()):
        outcome["resolved"] += _resolve(tenant, already[key])


def _open(tenant: Tenant, kind: str, key: str, finding: Finding) -> bool:
    alert = Alert(tenant_id=tenant.id, kind=kind, subject_key=key, label=finding.label[:300], detail=finding.detail,
                  opened_at=utcnow())
    db.session.flush()  # the caller's pending changes: their errors are theirs, not a lost race
    try:
        with db.session.begin_nested():
            db.session.add(alert)
    except IntegrityError:
        return False  # another evaluator opened it a moment ago, and sends the notice
    _notify(tenant, alert, opened=True)
    return True


def _resolve(tenant: Tenant, alert: Alert) -> bool:
    resolution = "withdrawn" if _withdrawn(alert) else "cleared"
    changed = db.session.execute(update(Alert).where(Alert.id == alert.id, Alert.resolved_at.is_(None))
                                 .values(resolved_at=utcnow(), resolution=resolution)).rowcount
    if changed and resolution == "cleared":
        _notify(tenant, alert, opened=False)
    return bool(changed)


def _withdrawn(alert: Alert) -> bool:
    """Its mailbox was paused or removed: the alert closes without a notice ("works again" would not be true)."""
    mailbox_id = (alert.detail or {}).get("mailbox_id")
    if mailbox_id is None:
        return False
    mailbox = db.session.get(Mailbox, mailbox_id)
    return mailbox is None or mailbox.status == MailboxStatus.PAUSED


def _notify(tenant: Tenant, alert: Alert, *, opened: bool) -> None:
    from app.alerts.describe import KIND_LABELS, describe, describe_resolved
    from app.outbound import notifications
    from app.webhooks.payloads import alert_data
    from app.webhooks.services import emit

    emit(tenant, "alert.opened" if opened else "alert.resolved", lambda: alert_data(alert))
    admins = notifications.admins(tenant)
    failing = opened and alert.kind == "mailbox_failing"
    mailbox = db.session.get(Mailbox, alert.detail["mailbox_id"]) if failing else None
    if mailbox is not None:
        # The notice admins know, and may have reworded: the mailbox_failing notification (the only one now).
        notifications.mailbox_alert(tenant, mailbox, "mailbox_failing", admins, reason=alert.detail.get("reason", ""))
        return

    def fields() -> dict:
        return {"alert_title": str(KIND_LABELS[alert.kind]), "tenant_name": tenant.name,
                "alert_detail": describe(alert, tenant.timezone) if opened else describe_resolved(alert)}

    notifications.alert_notice(tenant, "alert_opened" if opened else "alert_resolved", admins, fields)
