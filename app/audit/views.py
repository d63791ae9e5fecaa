from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import g, render_template, request
from flask_babel import get_timezone
from sqlalchemy import Select

from app.audit import services
from app.extensions import db
from tenants.models import Role
from tenants.resolver import tenant_blueprint

bp = tenant_blueprint("audit", __name__, "/audit", role=Role.ADMIN)
PER_PAGE = 50


def _day(value: str | None, *, end: bool = False) -> datetime | None:
    """A date from the filter form, as the start (or end) of that day in the viewer's time zone."""
    try:
        day = datetime.strptime(value or "", "%Y-%m-%d").date()
    except ValueError:
        return None
    moment = datetime.combine(day, time.min, tzinfo=ZoneInfo(str(get_timezone())))
    return moment + timedelta(days=1) if end else moment


FILTERS = ("action", "actor", "object_type", "since", "until")


def audit_filters(tenant, args) -> Select:
    """The audit query the page's filters describe (also the CSV export's)."""
    filters = {key: args.get(key, "").strip() for key in FILTERS}
    return services.events(tenant, action=filters["action"] or None, actor=filters["actor"] or None,
                           object_type=filters["object_type"] or None, since=_day(filters["since"]),
                           until=_day(filters["until"], end=True))


@bp.route("/")
def index():
    filters = {key: request.args.get(key, "").strip() for key in FILTERS}
    page = min(max(request.args.get("page", 1, type=int), 1), 10_000)
    query = audit_filters(g.tenant, request.args)
    rows = list(db.session.scalars(query.limit(PER_PAGE + 1).offset((page - 1) * PER_PAGE)))
    return render_template("audit/index.html", events=rows[:PER_PAGE], filters=filters, page=page,
                           has_next=len(rows) > PER_PAGE, actions=services.known_actions(g.tenant))
