"""The audit trail: every configuration change, with its actor. Secrets are recorded as "changed", never as values."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from flask import g, has_request_context
from sqlalchemy import Select

from app.audit.models import AuditEvent
from app.extensions import db
from tenants.models import Tenant

REDACTED = "changed"


def _actor() -> tuple[int | None, str]:
    if not has_request_context():
        return None, "system"
    if g.get("api_token") is not None:
        return g.api_token.created_by_id, f"API token “{g.api_token.name}”"
    membership = g.get("membership")
    if membership is not None:
        return membership.user_id, membership.user.email
    from flask_login import current_user

    if current_user and current_user.is_authenticated:
        return current_user.id, current_user.email
    return None, "anonymous"


def diff(before: dict[str, Any], after: dict[str, Any], secrets: frozenset[str] = frozenset()) -> dict[str, Any]:
    """``{field: [old, new]}`` for changed fields; secret fields become ``"changed"``."""
    changes: dict[str, Any] = {}
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old != new:
            changes[key] = REDACTED if key in secrets else [_plain(old), _plain(new)]
    return changes


def _plain(value: Any) -> Any:
    if isinstance(value, date):  # dates and datetimes
        return value.isoformat()
    if hasattr(value, "value"):  # enums
        return value.value
    return value


def record(tenant: Tenant, action: str, *, object_type: str, object_id: int | None = None, label: str = "",
           changes: dict[str, Any] | None = None) -> AuditEvent:
    """Add an audit event to the session; the caller's commit makes it durable together with the change itself."""
    actor_id, actor = _actor()
    jsonable = json.loads(json.dumps(changes or {}, default=_plain))  # dates, enums → strings, once, here
    event = AuditEvent(tenant_id=tenant.id, actor_user_id=actor_id, actor=actor[:200], action=action,
                       object_type=object_type, object_id=object_id, object_label=label[:300],
                       changes=jsonable, request_id=g.get("request_id") if has_request_context() else None)
    db.session.add(event)
    return event


def events(tenant: Tenant, *, action: str | None = None, actor: str | None = None, object_type: str | None = None,
           since: datetime | None = None, until: datetime | None = None) -> Select:
    query = AuditEvent.all(tenant)
    if action:
        query = query.where(AuditEvent.action == action)
    if actor:
        query = query.where(AuditEvent.actor.contains(actor, autoescape=True))
    if object_type:
        query = query.where(AuditEvent.object_type == object_type)
    if since:
        query = query.where(AuditEvent.created_at >= since)
    if until:
        query = query.where(AuditEvent.created_at < until)
    return query.order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())


def known_actions(tenant: Tenant) -> list[str]:
    from sqlalchemy import select

    query = select(AuditEvent.action).where(AuditEvent.tenant_id == tenant.id).distinct().order_by(AuditEvent.action)
    return list(db.session.scalars(query))
