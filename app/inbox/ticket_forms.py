"""Filling, reading and checking the ticket page's forms (the views stay thin)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from flask_babel import gettext as _

from app.auth.models import User
from app.inbox import labels, services
from app.inbox.forms import MergeForm, NoteForm, ReplyForm, RequesterForm, TicketFieldsForm
from app.inbox.timeline import Context, sentence
from app.tickets import actions
from app.tickets.models import Priority, Ticket, TicketStatus
from tenants.models import Tenant, utcnow


def ticket_forms(ticket: Ticket) -> dict:
    """Fresh forms for the ticket page, stamped with the ticket's current version."""
    from flask import g

    stamp = {"version": ticket.version, "opened_at": utcnow().isoformat()}
    fields = fill_choices(TicketFieldsForm(formdata=None, assignee=str(ticket.assignee_id or ""),
                                           status=ticket.status.value, priority=ticket.priority.value,
                                           queue=str(ticket.queue_id or ""), **stamp), g.tenant)
    requester = ticket.requester
    preferences = RequesterForm(formdata=None, locale=requester.locale or "", timezone=requester.timezone or "",
                                notifications_opt_out=requester.notifications_opt_out) if requester else None
    return {"fields": fields, "note": NoteForm(formdata=None, **stamp), "reply": ReplyForm(formdata=None, **stamp),
            "merge": MergeForm(formdata=None, **stamp), "requester": preferences}


def fill_choices(form, tenant: Tenant):
    if isinstance(form, TicketFieldsForm):
        agents = services.member_names(tenant)
        form.assignee.choices = [("", _("Unassigned"))] + [(str(i), name) for i, name in agents.items()]
        form.status.choices = [(code, str(name)) for code, name in labels.STATUSES.items()]
        form.priority.choices = [(code, str(name)) for code, name in labels.PRIORITIES.items()]
        form.queue.choices = [("", _("No queue"))] + [(str(i), n) for i, n in services.queue_names(tenant).items()]
    return form


def apply_fields(tenant: Tenant, ticket: Ticket, form: TicketFieldsForm, actor: User) -> bool:
    """Apply the form's choices; ``True`` when one was refused (its error is on the field)."""
    status = TicketStatus._value2member_map_.get(form.status.data or "")
    priority = Priority._value2member_map_.get(form.priority.data or "")
    queue_id = _int(form.queue.data)
    queues = services.queue_names(tenant)
    checks = [(form.status, status is None, _("Choose a status from the list.")),
              (form.priority, priority is None, _("Choose a priority from the list.")),
              (form.queue, queue_id is not None and queue_id not in queues, _("Choose a queue from the list."))]
    try:
        assignee = actions.member(tenant, _int(form.assignee.data))
    except actions.NotAMember:
        checks.append((form.assignee, True, _("Choose an agent of this tenant.")))
        assignee = None
    refused = False
    for field, bad, message in checks:
        if bad:
            field.errors = [*field.errors, message]
            refused = True
    if refused:
        return True
    actions.assign(tenant, ticket, assignee, actor=actor)
    actions.set_status(tenant, ticket, status, actor=actor)
    actions.set_priority(tenant, ticket, priority, actor=actor)
    actions.set_queue(tenant, ticket, queue_id, actor=actor)
    return False


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return -1  # not a choice of the list: refused like any unknown id


@dataclass
class Collision:
    changes: list[tuple[str, str, str]]  # (when, who, what)


def collision(tenant: Tenant, ticket: Ticket, form, viewer: User) -> Collision | None:
    """What changed since the form was opened, when its version is stale (``None`` otherwise)."""
    if getattr(form, "version", None) is None or form.version.data == ticket.version or form.confirm.data == "1":
        return None
    since = _opened_at(form.opened_at.data)
    names = services.member_names(tenant)
    context = Context(services.queue_names(tenant))
    rows = []
    for change in actions.changes_since(tenant, ticket, since, viewer=viewer):
        who = names.get(change.actor_id, _("someone")) if change.actor_id else _("the requester")
        rows.append((change.at, who, _describe(change, context)))
    form.confirm.data, form.version.data = "1", ticket.version
    return Collision(rows)


def _describe(change: actions.Change, context: Context) -> str:
    if change.event is not None:
        return sentence(change.event, context)
    excerpt = " ".join((change.message.text or "").split())[:160]
    return {"note": _("added a note: “%(text)s”", text=excerpt), "reply": _("replied: “%(text)s”", text=excerpt)}.get(
        change.kind, _("wrote: “%(text)s”", text=excerpt))


def _opened_at(value: str | None) -> datetime:
    try:
        opened = datetime.fromisoformat(value or "")
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return opened if opened.tzinfo else opened.replace(tzinfo=UTC)
