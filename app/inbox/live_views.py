"""Live updates for the ticket list: an open list polls every 2 s whether any ticket of the tenant changed.

Polling a cheap endpoint rather than server-sent events: an answer is one index-only look-up (the newest
``updated_at``, ix_tickets_tenant_id_updated_at) and usually a 204; it needs no long-lived connection per agent in
the web workers, passes every proxy, and resumes by itself after a deploy or a network blip. 2 s is the issue's bound.
"""

from __future__ import annotations

from flask import g, render_template, request
from sqlalchemy import func, select

from app.extensions import db
from app.inbox.views import bp
from app.tickets.models import Ticket


def inbox_stamp(tenant) -> str:
    """When the tenant's tickets last changed (ISO), or "" when it has none."""
    newest = db.session.scalar(select(func.max(Ticket.updated_at)).where(Ticket.tenant_id == tenant.id))
    return newest.isoformat() if newest else ""


@bp.context_processor
def _stamp() -> dict:
    return {"inbox_stamp": lambda: inbox_stamp(g.tenant)}


@bp.get("/changes")
def list_changes():
    """204 while nothing changed since ``since``; else the new poller, and ``inbox-changed`` for the list."""
    stamp = inbox_stamp(g.tenant)
    if stamp == request.args.get("since", ""):
        return "", 204
    return render_template("inbox/_list_poll.html", stamp=stamp), 200, {"HX-Trigger": "inbox-changed"}
