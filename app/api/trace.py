"""Message trace through the API: find a message, then every step it went through with its timings."""

from __future__ import annotations

from flask import g
from flask_smorest import Blueprint

from app.api.auth import authenticate_token
from app.api.problems import PROBLEM_JSON, ProblemSchema
from app.api.trace_schemas import TraceArgsSchema, TraceCandidatePageSchema, TraceSchema
from app.inbound.models import Receipt
from app.tickets.models import Message
from app.trace import services

blp = Blueprint("api_trace", __name__, url_prefix="/trace", description="Every step of one message")
blp.before_request(authenticate_token)


def _not_found(what: str):
    return blp.alt_response(404, schema=ProblemSchema, content_type=PROBLEM_JSON,
                            description=f"No {what} of this tenant has this id (another tenant's: the same answer)")


@blp.route("", methods=["GET"])
@blp.arguments(TraceArgsSchema, location="query")
@blp.response(200, TraceCandidatePageSchema)
def find_messages(args: dict):
    """Messages (and mail that never became one) that ``q`` names, newest first."""
    items, total = services.find_page(g.tenant, args["q"], page=args["page"], per_page=args["per_page"])
    per_page = args["per_page"]
    return {"items": items, "meta": {"page": args["page"], "per_page": per_page, "total": total,
                                     "pages": (total + per_page - 1) // per_page}}


@blp.route("/messages/<int:message_id>", methods=["GET"])
@blp.response(200, TraceSchema)
@_not_found("message")
def trace_message(message_id: int):
    """Every step of the message, oldest first: received from the server, stored, parsed, threaded, routed,
    notified, webhooks delivered; or, for a reply, queued, each attempt (deferred, retried), sent, bounced."""
    return services.trace_message(g.tenant, Message.get_by_id_and_tenant(message_id, g.tenant))


@blp.route("/receipts/<int:receipt_id>", methods=["GET"])
@blp.response(200, TraceSchema)
@_not_found("received mail")
def trace_receipt(receipt_id: int):
    """Mail as it was received (e.g. quarantined): a receipt that became a message is traced as that message."""
    return services.trace_receipt(g.tenant, Receipt.get_by_id_and_tenant(receipt_id, g.tenant))
