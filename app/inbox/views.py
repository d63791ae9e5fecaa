from __future__ import annotations

from flask import g, render_template, request

from app.extensions import htmx
from app.inbox import services
from app.inbox.labels import PRIORITIES, STATUSES, WITHHELD, label
from tenants.resolver import tenant_blueprint

bp = tenant_blueprint("inbox", __name__, "/inbox")


@bp.context_processor
def _labels() -> dict:
    return {"status_label": lambda code: label(STATUSES, code), "priority_label": lambda code: label(PRIORITIES, code),
            "withheld_label": lambda code: label(WITHHELD, code), "statuses": STATUSES}


@bp.route("/")
def index():
    filters = {"status": request.args.get("status", "").strip()[:16], "queue": request.args.get("queue", type=int),
               "q": request.args.get("q", "").strip()[:200]}
    page = min(max(request.args.get("page", 1, type=int), 1), 10_000)
    rows, has_next = services.ticket_page(g.tenant, status=filters["status"] or None, queue_id=filters["queue"],
                                          q=filters["q"] or None, page=page)
    context = {"rows": rows, "has_next": has_next, "page": page, "filters": {k: v for k, v in filters.items() if v},
               "queues": services.queue_names(g.tenant)}
    if htmx and not htmx.boosted and htmx.target == "tickets":  # the search box refreshes the list alone
        return render_template("inbox/_tickets.html", **context)
    return render_template("inbox/index.html", **context)


@bp.route("/<int:ticket_id>")
def show(ticket_id: int):
    return render_template("inbox/show.html", view=services.ticket_view(g.tenant, ticket_id))


# Routes of this blueprint kept in their own modules (they register on ``bp`` when imported).
from app.inbox import action_views, live_views, message_views  # noqa: E402, F401
