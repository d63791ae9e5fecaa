"""What agents do to tickets, through the API: change fields, add notes, reply (the tenant's data-protection
rules apply), and read the mail Postroom sent about a ticket with every delivery attempt. Changes are made as the
user who created the API token (a token made on the command line: the tenant's first owner). A ``version`` older
than the ticket's is a 409: someone changed it meanwhile."""

from __future__ import annotations

from flask import abort, g
from flask_babel import gettext as _
from flask_smorest import Blueprint
from sqlalchemy import select

from app.api import ticket_schemas as schemas
from app.api.auth import authenticate_token
from app.api.problems import field_problems, problem_response
from app.auth.models import User
from app.errors import FieldErrors
from app.extensions import db
from app.outbound.models import OutgoingMail
from app.queues.models import Queue
from app.tickets import actions
from app.tickets.models import Priority, Ticket, TicketStatus
from tenants.models import Membership, Role

blp = Blueprint("api_ticket_actions", __name__, url_prefix="/tickets", description="Changing tickets, notes, replies")
blp.before_request(authenticate_token)


def _actor() -> User:
    """The token's creator; a token made on the command line (no creator) acts as the tenant's first owner. The
    audit log names the token either way."""
    user = db.session.get(User, g.api_token.created_by_id) if g.api_token.created_by_id else None
    if user is None:
        user = db.session.scalar(select(User).join(Membership, Membership.user_id == User.id).where(
            Membership.tenant_id == g.tenant.id, Membership.role == Role.OWNER).order_by(Membership.id).limit(1))
    if user is None:
        abort(403)
    return user


def _ticket(ticket_id: int, version: int | None) -> Ticket:
    ticket = Ticket.get_by_id_and_tenant(ticket_id, g.tenant)
    if version is not None and version != ticket.version:
        abort(problem_response(409, detail=_(
            "The ticket changed since version %(version)s; it is at version %(current)s. Read it again and decide.",
            version=version, current=ticket.version)))
    return ticket


@blp.route("/<int:ticket_id>", methods=["PATCH"])
@blp.arguments(schemas.TicketChangeSchema)
@blp.response(200, schemas.TicketSchema)
def change_ticket(changes: dict, ticket_id: int):
    """Status, priority, assignee and queue; fields not given keep their values. One bad field changes nothing."""
    ticket, actor = _ticket(ticket_id, changes.pop("version", None)), _actor()
    errors = {}
    if "status" in changes and changes["status"] not in {s.value for s in TicketStatus}:
        errors["status"] = _("Choose a status from the list.")
    if "priority" in changes and changes["priority"] not in {p.value for p in Priority}:
        errors["priority"] = _("Choose a priority from the list.")
    if changes.get("queue_id") is not None and db.session.scalar(select(Queue.id).where(
            Queue.tenant_id == g.tenant.id, Queue.id == changes["queue_id"])) is None:
        errors["queue_id"] = _("Choose a queue from the list.")
    try:
        assignee = actions.member(g.tenant, changes["assignee_id"]) if "assignee_id" in changes else None
    except actions.NotAMember:
        errors["assignee_id"] = _("Choose an agent of this tenant.")
    if errors:
        raise FieldErrors(errors)
    if "assignee_id" in changes:
        actions.assign(g.tenant, ticket, assignee, actor=actor)
    if "status" in changes:
        actions.set_status(g.tenant, ticket, TicketStatus(changes["status"]), actor=actor)
    if "priority" in changes:
        actions.set_priority(g.tenant, ticket, Priority(changes["priority"]), actor=actor)
    if "queue_id" in changes:
        actions.set_queue(g.tenant, ticket, changes["queue_id"], actor=actor)
    db.session.commit()
    return ticket


@blp.route("/<int:ticket_id>/notes", methods=["POST"])
@blp.arguments(schemas.TextSchema)
@blp.response(201, schemas.MessageSchema)
def add_note(body: dict, ticket_id: int):
    """An internal note: on the thread for agents, never sent to anyone."""
    ticket = _ticket(ticket_id, body.get("version"))
    message = actions.add_note(g.tenant, ticket, body["body"].strip(), actor=_actor())
    db.session.commit()
    return message


@blp.route("/<int:ticket_id>/replies", methods=["POST"])
@blp.arguments(schemas.TextSchema)
@blp.response(201, schemas.MessageSchema)
def reply(body: dict, ticket_id: int):
    """A reply to the requester, into the outbox (``delivery_status`` follows it). A data-protection rule that
    blocks it is a 422 at ``#/body`` saying which rule and what it found (masked); nothing is sent."""
    ticket = _ticket(ticket_id, body.get("version"))
    if ticket.requester is None:
        raise FieldErrors({"body": _("This ticket has no requester address to reply to.")})
    try:
        message = actions.queue_reply(g.tenant, ticket, body["body"].strip(), actor=_actor())
    except actions.ReplyBlocked as blocked:
        db.session.rollback()
        return problem_response(422, errors=field_problems({"body": blocked.message}))
    db.session.commit()
    return message


@blp.route("/<int:ticket_id>/deliveries", methods=["GET"])
@blp.response(200, schemas.OutgoingSchema(many=True))
def deliveries(ticket_id: int):
    """Every mail Postroom sent (or held back) about the ticket, newest first, each with its attempts."""
    ticket = Ticket.get_by_id_and_tenant(ticket_id, g.tenant)
    return list(db.session.scalars(OutgoingMail.all(g.tenant).where(OutgoingMail.ticket_id == ticket.id)
                                   .order_by(OutgoingMail.id.desc()).limit(200)))
