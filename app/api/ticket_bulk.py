"""Merging, splitting and bulk changes of tickets, and how the desk writes to a ticket's requester: the inbox's
remaining actions, through the same verbs (``app.tickets.actions``), so the timeline, the audit log, live updates
and webhooks see the same as when an agent clicks. Changes are made as ``_actor()`` of the ticket actions API; a
``version`` older than the ticket's is a 409 there and here."""

from __future__ import annotations

from flask import abort, g
from flask_babel import gettext as _
from flask_smorest import Blueprint

from app.api import ticket_bulk_schemas as schemas
from app.api.auth import authenticate_token
from app.api.problems import PROBLEM_JSON, ProblemSchema, problem_response
from app.api.ticket_actions import _actor, _ticket
from app.api.ticket_schemas import TicketSchema
from app.audit.services import record
from app.auth.validation import locale_error, timezone_error
from app.errors import FieldErrors, collect
from app.extensions import db

# The inbox's bulk action, reused rather than copied: the same verbs in the same order, the same tenant scoping.
from app.inbox.bulk_views import Changes, apply_changes
from app.inbox.services import queue_names
from app.tickets import actions
from app.tickets.models import Contact, Direction, Message, Ticket, TicketStatus

blp = Blueprint("api_ticket_bulk", __name__, url_prefix="/tickets",
                description="Merging, splitting and bulk changes of tickets; a requester's preferences")
blp.before_request(authenticate_token)


def _problem(status: int, description: str):
    return blp.alt_response(status, schema=ProblemSchema, content_type=PROBLEM_JSON, description=description)


_NOT_FOUND = "No ticket (or message) of this tenant has this id"
_STALE = "The ticket changed since the version sent: read it again and decide"
_INVALID = "Invalid fields, each with a JSON pointer; nothing changed"


@blp.route("/<int:ticket_id>/merge", methods=["POST"])
@blp.arguments(schemas.MergeSchema)
@blp.response(200, TicketSchema)
@_problem(404, _NOT_FOUND)
@_problem(409, _STALE)
@_problem(422, _INVALID)
def merge_ticket(body: dict, ticket_id: int):
    """Move every message and timeline entry of this ticket onto ``into``, close this one and point it there;
    answers the ticket that survives. As in the inbox, ``into`` must be another ticket of this tenant: anything else
    (unknown, or another tenant's: the same answer) is a 422 at ``#/into``."""
    source = _ticket(ticket_id, body.get("version"))
    target = db.session.scalar(Ticket.all(g.tenant).where(Ticket.id == body["into"]))
    if target is None:
        raise FieldErrors({"into": _("No other ticket has this id.")})
    target = actions.survivor(g.tenant, target)  # a merged-away ticket: where its mail went
    if target.id == source.id:
        raise FieldErrors({"into": _("A ticket cannot be merged into itself.")})
    actions.merge(g.tenant, source, target, actor=_actor())
    db.session.commit()
    return target


@blp.route("/<int:ticket_id>/messages/<int:message_id>/split", methods=["POST"])
@blp.arguments(schemas.SplitSchema)
@blp.response(201, TicketSchema)
@_problem(404, _NOT_FOUND)
@_problem(409, _STALE)
@_problem(422, "Not a mail of a ticket with more than one message, or invalid fields; nothing changed")
def split_message(body: dict, ticket_id: int, message_id: int):
    """Move one mail of this ticket to a new ticket of the same requester (mailbox, queue and priority as this
    one); answers the new ticket. The body (``version`` only) may be left out."""
    message = Message.get_by_id_and_tenant(message_id, g.tenant)
    if message.ticket_id != ticket_id:
        abort(404)
    source = _ticket(ticket_id, body.get("version"))
    if message.direction != Direction.INBOUND or len(source.messages) < 2:
        abort(problem_response(422, detail=_(
            "Only a mail of a ticket with more than one message can be split off.")))
    ticket = actions.split(g.tenant, message, actor=_actor())
    db.session.commit()
    return ticket


@blp.route("/bulk", methods=["POST"])
@blp.arguments(schemas.BulkChangeSchema)
@blp.response(200, schemas.BulkResultSchema)
@_problem(422, _INVALID)
def bulk_change(body: dict):
    """Assign, set the status or move to a queue many tickets at once, each change on its ticket's timeline, audited
    and sent to webhooks (``ticket.updated``) as one by one. As in the inbox, ids that are no ticket of this tenant
    are never touched: they are listed in ``skipped`` (an unknown id and another tenant's are alike)."""
    ids = list(dict.fromkeys(body.pop("ids")))  # once each, in the order given
    changes = _bulk_changes(body)
    tickets = {ticket.id: ticket for ticket in db.session.scalars(Ticket.all(g.tenant).where(Ticket.id.in_(ids)))}
    versions = {ticket_id: ticket.version for ticket_id, ticket in tickets.items()}
    apply_changes(g.tenant, list(tickets), changes, actor=_actor())
    # Every verb bumps the version exactly when it changes something.
    changed = {ticket_id for ticket_id, ticket in tickets.items() if ticket.version != versions[ticket_id]}
    result = {"changed": [tickets[ticket_id] for ticket_id in ids if ticket_id in changed],
              "unchanged": [ticket_id for ticket_id in ids if ticket_id in tickets and ticket_id not in changed],
              "skipped": [ticket_id for ticket_id in ids if ticket_id not in tickets]}
    db.session.commit()
    return result


def _bulk_changes(body: dict) -> Changes:
    """The body's choices as the inbox's bulk form hands them to the verbs; ``FieldErrors`` for each bad one."""
    changes, errors = Changes(), {}
    if "status" in body:
        if body["status"] in {status.value for status in TicketStatus}:
            changes.status = TicketStatus(body["status"])
        else:
            errors["status"] = _("Choose a status from the list.")
    if "assignee_id" in body:
        try:
            changes.assignee = actions.member(g.tenant, body["assignee_id"])
        except actions.NotAMember:
            errors["assignee_id"] = _("Choose an agent of this tenant.")
    if "queue_id" in body:
        if body["queue_id"] is None or body["queue_id"] in queue_names(g.tenant):
            changes.queue = body["queue_id"]
        else:
            errors["queue_id"] = _("Choose a queue from the list.")
    if errors:
        raise FieldErrors(errors)
    if not changes.any():
        abort(problem_response(422, detail=_("Choose what to change: an assignee, a status or a queue.")))
    return changes


@blp.route("/<int:ticket_id>/requester", methods=["PATCH"])
@blp.arguments(schemas.RequesterChangeSchema)
@blp.response(200, schemas.RequesterSchema)
@_problem(404, "No ticket of this tenant has this id, or the ticket has no requester")
@_problem(422, _INVALID)
def update_requester(changes: dict, ticket_id: int):
    """The language, time zone and notification choice of the ticket's requester, for every ticket of theirs (as
    the ticket page's requester form). An empty ``locale`` or ``timezone`` is null."""
    ticket = Ticket.get_by_id_and_tenant(ticket_id, g.tenant)
    if ticket.requester is None:
        abort(404)
    changes.update({name: changes[name] or None for name in ("locale", "timezone") if name in changes})
    collect(locale=locale_error(changes["locale"]) if changes.get("locale") else None,
            timezone=timezone_error(changes["timezone"]) if changes.get("timezone") else None)
    _set_preferences(ticket.requester, changes)
    db.session.commit()
    return ticket.requester


def _set_preferences(requester: Contact, changes: dict) -> None:
    """Audited as the inbox's requester form audits it (``contact.updated`` with what changed)."""
    changed = {name: [getattr(requester, name), value] for name, value in changes.items()
               if getattr(requester, name) != value}
    for name, (_before, after) in changed.items():
        setattr(requester, name, after)
    if changed:
        record(g.tenant, "contact.updated", object_type="contact", object_id=requester.id, label=requester.email,
               changes=changed)
