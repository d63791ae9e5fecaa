"""Quarantined mail: what could not become a ticket message, why, and replay."""

from __future__ import annotations

from flask import Response, abort, g
from flask_smorest import Blueprint

from app.api import ticket_schemas as schemas
from app.api.auth import authenticate_token
from app.api.pagination import paginate
from app.inbound.models import Receipt, ReceiptStatus
from app.inbound.pipeline import replay
from app.quarantine import services
from app.tickets.queries import quarantine_query, quarantined_ids

blp = Blueprint("api_quarantine", __name__, url_prefix="/quarantine", description="Quarantined mail")
blp.before_request(authenticate_token)


@blp.route("", methods=["GET"])
@blp.arguments(schemas.QuarantineArgsSchema, location="query")
@blp.response(200, schemas.QuarantinePageSchema)
def list_quarantine(args: dict):
    """Newest first; filter by ``reason`` or ``mailbox`` (id)."""
    return paginate(quarantine_query(g.tenant, reason=args.pop("reason"), mailbox_id=args.pop("mailbox")), **args)


@blp.route("/<int:receipt_id>", methods=["GET"])
@blp.response(200, schemas.QuarantineSchema)
def get_quarantined(receipt_id: int):
    return _held(receipt_id)


@blp.route("/<int:receipt_id>/original", methods=["GET"])
@blp.doc(responses={"200": {"description": "The message exactly as it came off the server",
                            "content": {"message/rfc822": {"schema": {"type": "string", "format": "binary"}}}}})
def get_original(receipt_id: int):
    """The raw message (``message/rfc822``), to look at it with your own tools before replaying it."""
    receipt = _held(receipt_id)
    response = Response(services.original(g.tenant, receipt), mimetype="message/rfc822")
    response.headers["Content-Disposition"] = f'attachment; filename="quarantined-{receipt.id}.eml"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@blp.route("/<int:receipt_id>/replay", methods=["POST"])
@blp.arguments(schemas.ReplaySchema)
@blp.response(202, schemas.ReplayedSchema)
def replay_one(body: dict, receipt_id: int):
    """Run this message through ingestion again (after a fix, a raised limit, or with ``accept`` to waive
    sender policies)."""
    return {"replayed": replay(g.tenant, [_held(receipt_id).id], accept=body["accept"])}


@blp.route("/replay", methods=["POST"])
@blp.arguments(schemas.BulkReplaySchema)
@blp.response(202, schemas.ReplayedSchema)
def replay_many(body: dict):
    """Replay the given ``ids``, or everything held for ``reason``, or (neither given) the whole quarantine."""
    ids = quarantined_ids(g.tenant, ids=body["ids"], reason=body["reason"])
    return {"replayed": replay(g.tenant, ids, accept=body["accept"])}


def _held(receipt_id: int) -> Receipt:
    receipt = Receipt.get_by_id_and_tenant(receipt_id, g.tenant)
    if receipt.status != ReceiptStatus.QUARANTINED:
        abort(404)  # released or never held: not in the quarantine
    return receipt
