"""What agents do to a ticket: assign, status, priority, queue, notes, replies, split and merge.

Each form carries the ticket version it was opened at. A stale one (someone replied, noted or changed the ticket
since) answers 409 with the page, what changed, and the agent's own input kept, to send again knowingly.
"""

from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.audit.services import record
from app.auth.validation import locale_error, timezone_error
from app.extensions import db
from app.inbox import services
from app.inbox.forms import MergeForm, NoteForm, ReplyForm, RequesterForm, TicketFieldsForm
from app.inbox.ticket_forms import apply_fields, collision, fill_choices, ticket_forms
from app.inbox.views import bp
from app.tickets import actions
from app.tickets.models import Direction, Message, Ticket


@bp.context_processor
def _forms() -> dict:
    return {"ticket_forms": ticket_forms}


def _page(ticket: Ticket, status: int, **forms):
    """The ticket page again, with the submitted form (its errors, or the collision) in place of a fresh one."""
    view = services.ticket_view(g.tenant, ticket.id)
    chosen = {**ticket_forms(ticket), **forms}
    return render_template("inbox/show.html", view=view, forms=chosen,
                           collision=collision(g.tenant, ticket, next(iter(forms.values())), current_user)), status


def _stale(ticket: Ticket, form) -> bool:
    return form.confirm.data != "1" and form.version.data != ticket.version


def _done(ticket: Ticket, message: str):
    db.session.commit()
    flash(message, "success")
    return redirect(url_for("inbox.show", ticket_id=ticket.id))


@bp.post("/<int:ticket_id>/fields")
def update_fields(ticket_id: int):
    ticket = Ticket.get_by_id_and_tenant(ticket_id, g.tenant)
    form = fill_choices(TicketFieldsForm(), g.tenant)
    if not form.validate():
        return _page(ticket, 422, fields=form)
    if _stale(ticket, form):
        return _page(ticket, 409, fields=form)
    errors = apply_fields(g.tenant, ticket, form, current_user)
    if errors:
        return _page(ticket, 422, fields=form)
    return _done(ticket, _("Ticket %(reference)s saved.", reference=ticket.reference))


@bp.post("/<int:ticket_id>/notes")
def add_note(ticket_id: int):
    ticket = Ticket.get_by_id_and_tenant(ticket_id, g.tenant)
    form = NoteForm()
    if not form.validate():
        return _page(ticket, 422, note=form)
    if _stale(ticket, form):
        return _page(ticket, 409, note=form)
    actions.add_note(g.tenant, ticket, form.body.data.strip(), actor=current_user)
    return _done(ticket, _("Note added. Notes are never sent to the requester."))


@bp.post("/<int:ticket_id>/replies")
def reply(ticket_id: int):
    ticket = Ticket.get_by_id_and_tenant(ticket_id, g.tenant)
    form = fill_choices(ReplyForm(), g.tenant)
    if not form.validate():
        return _page(ticket, 422, reply=form)
    if ticket.requester is None:
        form.body.errors = [*form.body.errors, _("This ticket has no requester address to reply to.")]
        return _page(ticket, 422, reply=form)
    if _stale(ticket, form):
        return _page(ticket, 409, reply=form)
    try:
        message = actions.queue_reply(g.tenant, ticket, form.body.data.strip(), actor=current_user)
    except actions.ReplyBlocked as blocked:
        db.session.rollback()
        form.body.errors = [*form.body.errors, blocked.message]
        return _page(Ticket.get_by_id_and_tenant(ticket_id, g.tenant), 422, reply=form)
    if message.delivery_status == "not_sent":
        return _done(ticket, _("Reply kept on the ticket but not sent: the ticket's mailbox does not send mail."))
    return _done(ticket, _("Reply queued: it is sent from the ticket's mailbox."))


@bp.post("/<int:ticket_id>/requester")
def update_requester(ticket_id: int):
    """The requester's language, time zone and notification choice (for every ticket of theirs)."""
    ticket = Ticket.get_by_id_and_tenant(ticket_id, g.tenant)
    form = RequesterForm()
    if ticket.requester is None:
        abort(404)
    valid = form.validate()  # CSRF; it resets field errors, so the choices are checked after it
    errors = {"locale": locale_error(form.locale.data) if form.locale.data else None,
              "timezone": timezone_error(form.timezone.data) if form.timezone.data else None}
    for name, message in errors.items():
        if message:
            getattr(form, name).errors = [message]
    if not valid or any(errors.values()):
        return _page(ticket, 422, requester=form)
    requester = ticket.requester
    before = {"locale": requester.locale, "timezone": requester.timezone,
              "notifications_opt_out": requester.notifications_opt_out}
    requester.locale, requester.timezone = form.locale.data or None, form.timezone.data or None
    requester.notifications_opt_out = bool(form.notifications_opt_out.data)
    after = {"locale": requester.locale, "timezone": requester.timezone,
             "notifications_opt_out": requester.notifications_opt_out}
    record(g.tenant, "contact.updated", object_type="contact", object_id=requester.id, label=requester.email,
           changes={name: [before[name], after[name]] for name in after if before[name] != after[name]})
    return _done(ticket, _("Saved how we write to %(address)s.", address=requester.email))


@bp.post("/<int:ticket_id>/merge")
def merge(ticket_id: int):
    ticket = Ticket.get_by_id_and_tenant(ticket_id, g.tenant)
    form = MergeForm()
    if not form.validate():
        return _page(ticket, 422, merge=form)
    target = services.ticket_by_reference(g.tenant, form.target.data)
    target = actions.survivor(g.tenant, target) if target is not None else None
    if target is None or target.id == ticket.id:
        form.target.errors = [*form.target.errors, _("No other ticket has this reference.") if target is None
                              else _("A ticket cannot be merged into itself.")]
        return _page(ticket, 422, merge=form)
    if _stale(ticket, form):
        return _page(ticket, 409, merge=form)
    actions.merge(g.tenant, ticket, target, actor=current_user)
    db.session.commit()
    flash(_("%(source)s was merged into %(target)s.", source=ticket.reference, target=target.reference), "success")
    return redirect(url_for("inbox.show", ticket_id=target.id))


@bp.post("/messages/<int:message_id>/split")
def split(message_id: int):
    message = Message.get_by_id_and_tenant(message_id, g.tenant)
    source = message.ticket
    if message.direction != Direction.INBOUND or len(source.messages) < 2:
        flash(_("Only a mail of a ticket with more than one message can be split off."), "error")
        return redirect(url_for("inbox.show", ticket_id=source.id))
    ticket = actions.split(g.tenant, message, actor=current_user)
    db.session.commit()
    flash(_("The message is now ticket %(reference)s.", reference=ticket.reference), "success")
    return redirect(url_for("inbox.show", ticket_id=ticket.id))


@bp.get("/<int:ticket_id>/changes")
def changes(ticket_id: int):
    """Polled by the open ticket page: 204 while its version is current, else the new poller and a
    ``ticket-changed`` event that makes the page fetch its thread again."""
    ticket = Ticket.get_by_id_and_tenant(ticket_id, g.tenant)
    if request.args.get("version", type=int) == ticket.version:
        return "", 204
    body = render_template("inbox/_ticket_poll.html", ticket=ticket)
    return body, 200, {"HX-Trigger": "ticket-changed"}


@bp.get("/<int:ticket_id>/thread")
def thread(ticket_id: int):
    return render_template("inbox/_thread.html", view=services.ticket_view(g.tenant, ticket_id))
