"""Routing rules: the tenant's ordered regex rules that set queue, category and priority of new tickets.

The ingest pipeline (``app.routing.services``) applies the active rules in list order; here they are created,
changed, reordered and tried out. Positions are kept as 1..n in list order.
"""

from __future__ import annotations

from typing import Any

import regex
from flask_babel import gettext as _

from app.audit.services import diff, record
from app.auth import validation as v
from app.errors import FieldErrors
from app.extensions import db
from app.queues.models import Queue
from app.routing.models import RULE_FIELDS, RoutingRule
from app.routing.services import compile_pattern
from app.tickets.models import Priority
from tenants.models import Tenant

NAME_MAX = 120
PATTERN_MAX = 500
CATEGORY_MAX = 80
PRIORITIES = tuple(p.value for p in Priority)
EDITABLE = ("name", "field", "pattern", "queue_id", "category", "priority", "stop", "active")


def rules(tenant: Tenant) -> list[RoutingRule]:
    """The tenant's rules in the order the pipeline applies them."""
    return list(db.session.scalars(RoutingRule.all(tenant).order_by(RoutingRule.position, RoutingRule.id)))


def pattern_error(pattern: Any) -> str | None:
    if not isinstance(pattern, str) or not pattern.strip():
        return _("This field is required.")
    if len(pattern) > PATTERN_MAX:
        return _("Use at most %(max)s characters.", max=PATTERN_MAX)
    try:
        compile_pattern(pattern)
    except (regex.error, OverflowError, RecursionError) as error:
        # the regex module's own words (English) say where the pattern goes wrong, e.g. "missing ) at position 6"
        return _("This is not a valid regular expression: %(error)s", error=str(error))
    return None


def _check(tenant: Tenant, key: str, value: Any) -> tuple[Any, str | None]:
    """``(normalized value, error)`` of one editable field."""
    if key == "name":
        return (value.strip(), v.name_error(value, NAME_MAX)) if isinstance(value, str) else (
            value, _("This field is required."))
    if key == "field":
        return value, None if value in RULE_FIELDS else _("Choose one of: %(choices)s.", choices=", ".join(RULE_FIELDS))
    if key == "pattern":
        return value, pattern_error(value)
    if key == "queue_id":
        return value, None if value is None or Queue.id_in_tenant(value, tenant) else _("Choose one of your queues.")
    if key == "category":
        category = (value or "").strip() if isinstance(value, str) or value is None else value
        if not isinstance(category, str) or len(category) > CATEGORY_MAX:
            return value, _("Use at most %(max)s characters.", max=CATEGORY_MAX)
        return category or None, None
    if key == "priority":
        priority = value or None
        return priority, None if priority is None or priority in PRIORITIES else _(
            "Choose one of: %(choices)s.", choices=", ".join(PRIORITIES))
    return bool(value), None  # stop, active


def _validated(tenant: Tenant, fields: dict[str, Any], position: Any = None, count: int = 0) -> dict[str, Any]:
    """The normalized fields; raises ``FieldErrors`` for every bad one (and a ``position`` outside 1..count)."""
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise TypeError(f"unknown rule fields: {sorted(unknown)}")
    values, errors = {}, {}
    for key, raw in fields.items():
        values[key], error = _check(tenant, key, raw)
        if error:
            errors[key] = error
    if position is not None and (isinstance(position, bool) or not isinstance(position, int)
                                 or not 1 <= position <= count):
        errors["position"] = _("Choose a position between 1 and %(max)s.", max=count)
    if errors:
        raise FieldErrors(errors)
    return values


def _place(ordered: list[RoutingRule], rule: RoutingRule, position: int | None) -> None:
    """Put ``rule`` at ``position`` (1-based; None: the end, for a new rule, or where it is) and renumber 1..n."""
    if rule in ordered:
        if position is None:
            position = ordered.index(rule) + 1
        ordered.remove(rule)
    ordered.insert((position or len(ordered) + 1) - 1, rule)
    _renumber(ordered)


def _renumber(ordered: list[RoutingRule]) -> None:
    for index, rule in enumerate(ordered, start=1):
        rule.position = index


def create_rule(tenant: Tenant, *, name: str, pattern: str, field: str = "subject", queue_id: int | None = None,
                category: str | None = None, priority: str | None = None, stop: bool = False,
                active: bool = True, position: int | None = None) -> RoutingRule:
    """Add a rule at the end of the list (or at ``position``, 1-based); raises ``FieldErrors``, adding nothing."""
    ordered = rules(tenant)
    values = _validated(tenant, {"name": name, "field": field, "pattern": pattern, "queue_id": queue_id,
                                 "category": category, "priority": priority, "stop": stop, "active": active},
                        position, len(ordered) + 1)
    rule = RoutingRule(tenant_id=tenant.id, **values)
    _place(ordered, rule, position)
    db.session.add(rule)
    db.session.flush()
    record(tenant, "rule.created", object_type="routing_rule", object_id=rule.id, label=rule.name,
           changes=diff({}, {**values, "position": rule.position}))
    db.session.commit()
    return rule


def update_rule(rule: RoutingRule, *, position: int | None = None, **changes: Any) -> None:
    """Change any of ``EDITABLE`` and move the rule to ``position`` (1-based); fields not given keep their values.

    Raises ``FieldErrors`` for every bad field, changing nothing.
    """
    tenant = db.session.get(Tenant, rule.tenant_id)
    ordered = rules(tenant)
    values = _validated(tenant, changes, position, len(ordered))
    before = {key: getattr(rule, key) for key in (*values, "position")}
    for key, value in values.items():
        setattr(rule, key, value)
    _place(ordered, rule, position)
    changes = diff(before, {key: getattr(rule, key) for key in before})
    if changes:
        record(tenant, "rule.updated", object_type="routing_rule", object_id=rule.id, label=rule.name,
               changes=changes)
    db.session.commit()


def shift_rule(rule: RoutingRule, step: int) -> None:
    """Move the rule ``step`` places down (negative: up); at either end of the list it stays where it is."""
    ordered = rules(db.session.get(Tenant, rule.tenant_id))
    update_rule(rule, position=min(max(ordered.index(rule) + 1 + step, 1), len(ordered)))


def delete_rule(rule: RoutingRule) -> None:
    tenant = db.session.get(Tenant, rule.tenant_id)
    record(tenant, "rule.deleted", object_type="routing_rule", object_id=rule.id, label=rule.name,
           changes={"pattern": [rule.pattern, None]})
    db.session.delete(rule)
    db.session.flush()
    _renumber(rules(tenant))
    db.session.commit()
