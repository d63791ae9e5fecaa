"""Mail Postroom sent or will send (replies, notifications, system mail), newest first, each with its attempts."""

from __future__ import annotations

from flask import g
from flask_smorest import Blueprint

from app.api.auth import authenticate_token
from app.api.health_schemas import OutboxArgsSchema, OutboxMailSchema, OutboxPageSchema
from app.api.pagination import paginate
from app.outbound.models import OutgoingMail

blp = Blueprint("api_outbox", __name__, url_prefix="/outbox", description="Mail Postroom sent or will send")
blp.before_request(authenticate_token)

_FILTERS = {"status": OutgoingMail.status, "kind": OutgoingMail.kind, "mailbox": OutgoingMail.mailbox_id,
            "ticket": OutgoingMail.ticket_id}


@blp.route("", methods=["GET"])
@blp.arguments(OutboxArgsSchema, location="query")
@blp.response(200, OutboxPageSchema)
def list_outbox(args: dict):
    """Filter by ``status`` (e.g. ``failed``), ``kind``, ``mailbox`` or ``ticket``."""
    query = OutgoingMail.all(g.tenant)
    for name, column in _FILTERS.items():
        if args.get(name) is not None:
            query = query.where(column == args[name])
    return paginate(query.order_by(OutgoingMail.id.desc()), page=args["page"], per_page=args["per_page"])


@blp.route("/<int:mail_id>", methods=["GET"])
@blp.response(200, OutboxMailSchema)
def get_outbox_mail(mail_id: int):
    return OutgoingMail.get_by_id_and_tenant(mail_id, g.tenant)
