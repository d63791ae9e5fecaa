"""``/t/<slug>/logs/``: the communication log of all mailboxes, searchable, and both logs as CSV."""

from __future__ import annotations

from flask import g, render_template, request

from app.audit.views import _day, audit_filters
from app.extensions import db
from app.logs import services
from app.logs.csv_export import csv_response
from app.mailboxes.models import Mailbox
from tenants.models import Role
from tenants.resolver import tenant_blueprint

bp = tenant_blueprint("logs", __name__, "/logs", role=Role.ADMIN)
PER_PAGE = 50
FILTERS = ("mailbox", "kind", "outcome", "category", "since", "until")


def _query():
    filters = {key: request.args.get(key, "").strip() for key in FILTERS}
    mailbox_id = int(filters["mailbox"]) if filters["mailbox"].isdigit() and len(filters["mailbox"]) < 10 else None
    query = services.communication_log(g.tenant, mailbox_id=mailbox_id, kind=filters["kind"] or None,
                                       outcome=filters["outcome"] or None, category=filters["category"] or None,
                                       since=_day(filters["since"]), until=_day(filters["until"], end=True))
    return filters, query


@bp.route("/communication")
def communication():
    filters, query = _query()
    page = min(max(request.args.get("page", 1, type=int), 1), 10_000)
    rows = list(db.session.scalars(query.limit(PER_PAGE + 1).offset((page - 1) * PER_PAGE)))
    mailboxes = {m.id: m for m in db.session.scalars(Mailbox.all(g.tenant).order_by(Mailbox.name))}
    return render_template("logs/communication.html", entries=rows[:PER_PAGE], has_next=len(rows) > PER_PAGE,
                           page=page, filters=filters, mailboxes=mailboxes, kinds=services.KINDS)


@bp.route("/communication.csv")
def communication_csv():
    _filters, query = _query()
    addresses = dict(db.session.execute(Mailbox.all(g.tenant).with_only_columns(Mailbox.id, Mailbox.address)).all())
    header = ["started_at", "mailbox", "kind", "direction", "ok", "duration_ms", "category", "step",
              "server_response", "job_id"]
    return csv_response(f"{g.tenant.slug}-communication-log.csv", header, query, lambda e: [
        e.started_at, addresses.get(e.mailbox_id, e.mailbox_id), e.kind.value, e.direction, e.ok, e.duration_ms,
        e.category, e.step, e.server_response, e.job_id])


@bp.route("/audit.csv")
def audit_csv():
    query = audit_filters(g.tenant, request.args)
    header = ["created_at", "actor", "action", "object_type", "object_id", "object_label", "changes", "request_id"]
    return csv_response(f"{g.tenant.slug}-audit-log.csv", header, query, lambda e: [
        e.created_at, e.actor, e.action, e.object_type, e.object_id, e.object_label, e.changes, e.request_id])
