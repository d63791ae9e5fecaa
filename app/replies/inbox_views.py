"""The ticket page's "Insert a template": the reply box again, the chosen template's text (merge fields filled) after
what the agent had written. Registered on the inbox blueprint, so any member of the tenant may use it.

The page sends the draft by POST: a draft in the query string would be cut off by the server's request-line limit
(gunicorn: 4 KB) and written to access logs. GET works the same, for links and tests.
"""

from __future__ import annotations

from flask import g, render_template, request, url_for
from flask_babel import gettext as _
from flask_htmx import make_response
from flask_login import current_user
from werkzeug.exceptions import NotFound

from app.extensions import htmx
from app.inbox import services as inbox
from app.inbox.forms import ReplyForm
from app.inbox.ticket_forms import ticket_forms
from app.inbox.views import bp
from app.replies import services
from app.replies.models import ReplyTemplate
from app.tickets.models import Ticket
from tenants.models import Role
from tenants.resolver import current_role

TARGET = "reply-body-field"


@bp.context_processor
def _reply_templates() -> dict:
    """Lazily: only the ticket page asks for the picker's choices."""
    role = current_role()
    return {"reply_template_choices": lambda: [(t.id, t.name) for t in services.reply_templates(g.tenant)],
            "can_manage_reply_templates": role is not None and role.at_least(Role.ADMIN)}


@bp.route("/<int:ticket_id>/reply-template", methods=["GET", "POST"])
def insert_reply_template(ticket_id: int):
    ticket = Ticket.get_by_id_and_tenant(ticket_id, g.tenant)
    form = ReplyForm() if request.method == "POST" else ticket_forms(ticket)["reply"]
    draft = request.values.get("reply-body", "")
    template_id = request.values.get("template", type=int)
    form.body.data, status = draft, 200
    if template_id is not None:
        try:
            template = ReplyTemplate.get_by_id_and_tenant(template_id, g.tenant)
        except NotFound:  # deleted meanwhile, or never this tenant's: the draft comes back untouched
            form.body.errors = [*form.body.errors, _("This template no longer exists. Choose another one.")]
            status = 404
        else:
            form.body.data = services.append(draft, services.render(template, ticket, current_user))
    return _answer(ticket, form, status)


def _answer(ticket: Ticket, form: ReplyForm, status: int):
    """htmx swaps the reply box alone; without JavaScript (the form's Insert button) the whole page comes back."""
    if htmx and not htmx.boosted and htmx.target == TARGET:
        response = make_response(render_template("replies/_reply_body.html", ticket=ticket, reply_form=form,
                                                 autofocus=True), status)
    else:
        view = inbox.ticket_view(g.tenant, ticket.id)
        html = render_template("inbox/show.html", view=view, forms={**ticket_forms(ticket), "reply": form})
        response = make_response(html, status, replace_url=url_for("inbox.show", ticket_id=ticket.id))
    response.vary.add("HX-Request")
    return response
