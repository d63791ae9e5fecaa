"""The audit trail: who changed what, when. Secrets appear as "changed", never with their values."""

from __future__ import annotations

from flask import g
from flask_smorest import Blueprint

from app.api.auth import authenticate_token
from app.api.mailbox_schemas import AuditArgsSchema, AuditEventPageSchema
from app.api.pagination import paginate
from app.audit import services

blp = Blueprint("api_audit", __name__, url_prefix="/audit", description="The tenant's audit trail")
blp.before_request(authenticate_token)


@blp.route("", methods=["GET"])
@blp.arguments(AuditArgsSchema, location="query")
@blp.response(200, AuditEventPageSchema)
def list_events(args: dict):
    """Newest first; ``since`` is inclusive and ``until`` exclusive (ISO 8601 date-times, UTC unless given)."""
    query = services.events(g.tenant, action=args.get("action") or None, actor=args.get("actor") or None,
                            object_type=args.get("object_type") or None, since=args.get("since"),
                            until=args.get("until"))
    return paginate(query, page=args["page"], per_page=args["per_page"])
