"""The message trace page: search by Message-ID, address or ticket, then every step of one message."""

from __future__ import annotations

from flask import g, make_response, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l

from app.extensions import htmx
from app.inbound.models import Receipt
from app.tickets.models import Message
from app.trace import services
from tenants.models import Role
from tenants.resolver import tenant_blueprint

bp = tenant_blueprint("trace", __name__, "/trace", role=Role.ADMIN)
RESULTS = "trace-results"
DETAIL = "trace-detail"
DIRECTIONS = {"inbound": _l("Received"), "outbound": _l("Sent"), "note": _l("Note")}
RECEIPT_STATUSES = {"stored": _l("Not processed yet"), "quarantined": _l("Quarantined")}


@bp.context_processor
def _helpers() -> dict:
    return {"elapsed": services.elapsed_text, "took": services.duration_text, "direction_label": _direction}


def _direction(candidate: services.Candidate) -> str:
    if candidate.kind == "receipt":  # never became a message: what happened to it says more than its direction
        return str(RECEIPT_STATUSES.get(candidate.status or "", candidate.status or ""))
    return str(DIRECTIONS.get(candidate.direction or "", candidate.direction or ""))


def _query() -> str:
    return request.args.get("q", "").strip()[:services.MAX_QUERY]


@bp.route("/")
def index():
    q = _query()
    candidates = services.find(g.tenant, q) if q else []
    # One match: its trace at once, no extra click.
    trace = _trace_of(candidates[0]) if len(candidates) == 1 else None
    context = {"q": q, "candidates": candidates, "trace": trace, "limit": services.MAX_CANDIDATES}
    template = "trace/_results.html" if _aimed_at(RESULTS) else "trace/index.html"
    return _vary(render_template(template, **context))


@bp.route("/messages/<int:message_id>")
def show(message_id: int):
    trace = services.trace_message(g.tenant, Message.get_by_id_and_tenant(message_id, g.tenant))
    return _page(trace)


@bp.route("/receipts/<int:receipt_id>")
def show_receipt(receipt_id: int):
    receipt = Receipt.get_by_id_and_tenant(receipt_id, g.tenant)
    if receipt.message_id is not None and not htmx:
        return redirect(url_for("trace.show", message_id=receipt.message_id, q=_query() or None))
    return _page(services.trace_receipt(g.tenant, receipt))


def _trace_of(candidate: services.Candidate) -> services.Trace:
    if candidate.kind == "receipt":
        return services.trace_receipt(g.tenant, Receipt.get_by_id_and_tenant(candidate.id, g.tenant))
    return services.trace_message(g.tenant, Message.get_by_id_and_tenant(candidate.id, g.tenant))


def _page(trace: services.Trace):
    template = "trace/_timeline.html" if _aimed_at(DETAIL) else "trace/show.html"
    return _vary(render_template(template, trace=trace, q=_query()))


def _aimed_at(target: str) -> bool:
    return bool(htmx) and not htmx.boosted and htmx.target == target


def _vary(body: str):
    response = make_response(body)
    response.vary.add("HX-Request")
    return response
