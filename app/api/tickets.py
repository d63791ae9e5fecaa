"""Tickets and their messages (reading; changes, notes and replies are in ``ticket_actions``)."""

from __future__ import annotations

from flask import g
from flask_smorest import Blueprint
from sqlalchemy import select

from app.api import ticket_schemas as schemas
from app.api.auth import authenticate_token
from app.api.pagination import paginate
from app.extensions import db
from app.tickets.models import Ticket, TicketEvent
from app.tickets.queries import ticket_query

blp = Blueprint("api_tickets", __name__, url_prefix="/tickets", description="Tickets and their messages")
blp.before_request(authenticate_token)


@blp.route("", methods=["GET"])
@blp.arguments(schemas.TicketArgsSchema, location="query")
@blp.response(200, schemas.TicketPageSchema)
def list_tickets(args: dict):
    """Newest activity first; filter by ``status``, ``queue`` (id) and ``q`` (reference, subject, requester)."""
    query = ticket_query(g.tenant, status=args.pop("status"), queue_id=args.pop("queue"), q=args.pop("q"))
    return paginate(query, **args)


@blp.route("/<int:ticket_id>", methods=["GET"])
@blp.response(200, schemas.TicketDetailSchema)
def get_ticket(ticket_id: int):
    """The ticket with every message (``thread_reason`` says why each joined) and its timeline of decisions."""
    ticket = Ticket.get_by_id_and_tenant(ticket_id, g.tenant)
    ticket.events = list(db.session.scalars(select(TicketEvent).where(
        TicketEvent.tenant_id == g.tenant.id, TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)))
    return ticket
