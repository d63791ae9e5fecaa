"""Bulk actions on the ticket list: assign, set the status or move to a queue every selected ticket at once.

Each change goes through ``app.tickets.actions``, as on the ticket page (version, timeline, audit). Only the tenant's
own tickets are loaded: another tenant's id in a selection matches nothing and is never touched.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import flash, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectField, SelectMultipleField

from app.auth.models import User
from app.extensions import db
from app.inbox import services
from app.inbox.views import bp
from app.tickets import actions
from app.tickets.models import Ticket, TicketStatus
from tenants.models import Tenant

MAX_SELECTED = 200  # a page holds 50; more is a hand-made request
KEEP = object()  # a field the agent left at "no change"
_LIST_ARGS = ("status", "queue", "assignee", "priority", "q", "sort", "after")


class BulkForm(FlaskForm):
    ids = SelectMultipleField(coerce=int, validate_choice=False)
    set_assignee = SelectField(_l("Assign to"), validate_choice=False)
    set_status = SelectField(_l("Set status"), validate_choice=False)
    set_queue = SelectField(_l("Move to queue"), validate_choice=False)


@dataclass
class Changes:
    assignee: object = KEEP  # a member, None (unassign) or KEEP
    status: object = KEEP  # a TicketStatus or KEEP
    queue: object = KEEP  # a queue id, None (no queue) or KEEP

    def any(self) -> bool:
        return any(value is not KEEP for value in (self.assignee, self.status, self.queue))


class Refused(ValueError):
    """A choice that is not the tenant's (another tenant's agent or queue) or not a choice at all."""


@bp.post("/bulk")
def bulk_update():
    form = BulkForm()
    if not form.validate_on_submit() or not form.ids.data:
        flash(_("Select the tickets to change first."), "error")
        return _back_to_list()
    if len(form.ids.data) > MAX_SELECTED:
        flash(_("Select at most %(num)d tickets at once.", num=MAX_SELECTED), "error")
        return _back_to_list()
    try:
        changes = read_changes(g.tenant, form, current_user)
    except Refused:
        flash(_("Choose the assignee, status and queue from the lists."), "error")
        return _back_to_list()
    if not changes.any():
        flash(_("Choose what to change: an assignee, a status or a queue."), "error")
        return _back_to_list()
    changed = apply_changes(g.tenant, form.ids.data, changes, actor=current_user)
    db.session.commit()
    if changed:
        flash(ngettext("%(num)d ticket updated.", "%(num)d tickets updated.", changed), "success")
    else:
        flash(_("Nothing changed: the selected tickets were already like that."), "info")
    return _back_to_list()


def read_changes(tenant: Tenant, form: BulkForm, user: User) -> Changes:
    """The form's choices as the verbs take them; ``Refused`` for anything not offered to this tenant's agents."""
    assignee, status, queue = (str(field.data or "") for field in (form.set_assignee, form.set_status,
                                                                    form.set_queue))
    changes = Changes()
    try:
        if assignee:
            changes.assignee = None if assignee == "none" else actions.member(
                tenant, user.id if assignee == "me" else _id(assignee))
        if status:
            changes.status = TicketStatus(status)
        if queue:
            changes.queue = None if queue == "none" else int(queue)
    except (ValueError, actions.NotAMember) as error:
        raise Refused(str(error)) from error
    if changes.queue not in (KEEP, None) and changes.queue not in services.queue_names(tenant):
        raise Refused(queue)
    return changes


def apply_changes(tenant: Tenant, ids: list[int], changes: Changes, *, actor: User) -> int:
    """How many of the tenant's tickets among ``ids`` changed (the caller commits)."""
    changed = 0
    ids = [ticket_id for ticket_id in ids if 0 < ticket_id < 2**31]  # beyond the column's range: none of ours
    for ticket in db.session.scalars(Ticket.all(tenant).where(Ticket.id.in_(ids)).order_by(Ticket.id)):
        done = []  # every verb runs: each writes its own timeline entry and audit event
        if changes.assignee is not KEEP:
            done.append(actions.assign(tenant, ticket, changes.assignee, actor=actor))
        if changes.status is not KEEP:
            done.append(actions.set_status(tenant, ticket, changes.status, actor=actor))
        if changes.queue is not KEEP:
            done.append(actions.set_queue(tenant, ticket, changes.queue, actor=actor))
        changed += any(done)
    return changed


def _id(value: str) -> int:
    number = int(value)
    if not 0 < number < 2**31:
        raise ValueError(value)
    return number


def _back_to_list():
    """The form's URL carries the list's filters and page, so the agent lands on the list they acted from."""
    return redirect(url_for("inbox.index", **{name: request.args[name] for name in _LIST_ARGS
                                              if request.args.get(name)}))
