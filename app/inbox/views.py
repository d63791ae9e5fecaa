from __future__ import annotations

from flask import g, make_response, render_template, request
from flask_login import current_user

from app.extensions import htmx
from app.inbox import listing, services
from app.inbox.labels import ATTEMPT_OUTCOMES, DELIVERY, NOTICE_REASONS, PRIORITIES, STATUSES, WITHHELD, label
from app.tickets import actions
from tenants.resolver import tenant_blueprint

bp = tenant_blueprint("inbox", __name__, "/inbox")


@bp.context_processor
def _labels() -> dict:
    return {"status_label": lambda code: label(STATUSES, code), "priority_label": lambda code: label(PRIORITIES, code),
            "withheld_label": lambda code: label(WITHHELD, code), "statuses": STATUSES,
            "delivery_label": lambda code: label(DELIVERY, code),
            "attempt_label": lambda code: label(ATTEMPT_OUTCOMES, code),
            "notice_label": _event_label, "notice_reason": lambda code: label(NOTICE_REASONS, code)}


def _event_label(event: str | None) -> str:
    from app.notify.events import EVENTS

    found = EVENTS.get(event or "")
    return str(found.label) if found else (event or "")


@bp.route("/")
def index():
    queues, agents = services.queue_names(g.tenant), actions.members(g.tenant)
    filters = listing.read_filters(request.args, queues=queues, agents=agents)
    after = request.args.get("after", "")[:500]
    context = {"filters": filters, "queues": queues, "agents": agents, "sorts": listing.SORTS,
               "priorities": PRIORITIES, "agent_names": {a.id: a.name or a.email for a in agents},
               "listing": listing.ticket_list(g.tenant, current_user, filters, after=after or None, queues=queues),
               "selection": listing.read_selection(request.args),
               "page_args": {**filters.args(), **({"after": after} if after else {})}}
    if htmx and not htmx.boosted and htmx.target == "tickets":  # filters, pages, live updates: the list alone
        response = make_response(render_template("inbox/_list_update.html", **context))
    else:
        response = make_response(render_template("inbox/index.html", **context))
    response.vary.add("HX-Request")
    return response


@bp.route("/<int:ticket_id>")
def show(ticket_id: int):
    view = services.ticket_view(g.tenant, ticket_id)
    page = render_template("inbox/show.html", view=view)
    listing.mark_read(g.tenant, view.ticket, current_user)  # after rendering: its commit expires what the page read
    return page


# Routes of this blueprint kept in their own modules (they register on ``bp`` when imported).
from app.inbox import action_views, bulk_views, live_views, message_views  # noqa: E402, F401
