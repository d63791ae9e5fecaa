from __future__ import annotations

from flask import flash, g, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_htmx import make_response

from app.errors import FieldErrors
from app.forms import show_field_errors
from app.members.forms import ConfirmForm
from app.queues import services
from app.queues.forms import QueueForm
from app.queues.models import Queue
from tenants.models import Role
from tenants.resolver import tenant_blueprint

bp = tenant_blueprint("queues", __name__, "/queues", role=Role.ADMIN)


def _page(form: QueueForm | None = None, status: int = 200):
    html = render_template("queues/index.html", queues=services.queues(g.tenant), form=form or QueueForm(),
                           confirm=ConfirmForm())
    return make_response(html, status, replace_url=url_for("queues.index"))


@bp.route("/")
def index():
    return _page()


@bp.route("/", methods=["POST"])
def create():
    form = QueueForm()
    if form.validate_on_submit():
        try:
            queue = services.create_queue(g.tenant, name=form.name.data or "", description=form.description.data or "")
        except FieldErrors as error:
            show_field_errors(form, error)
        else:
            flash(_("Queue %(name)s created.", name=queue.name), "success")
            return redirect(url_for("queues.index"))
    return _page(form, 422)


@bp.route("/<int:queue_id>", methods=["POST"])
def update(queue_id: int):
    queue = Queue.get_by_id_and_tenant(queue_id, g.tenant)
    form = QueueForm()
    if form.validate_on_submit():
        try:
            services.update_queue(queue, name=form.name.data or "", description=form.description.data or "")
            flash(_("Queue saved."), "success")
        except FieldErrors as error:
            flash(next(iter(error.errors.values())), "error")
    return redirect(url_for("queues.index"))


@bp.route("/<int:queue_id>/delete", methods=["POST"])
def delete(queue_id: int):
    queue = Queue.get_by_id_and_tenant(queue_id, g.tenant)
    if ConfirmForm().validate_on_submit():
        name = queue.name
        services.delete_queue(queue)
        flash(_("Queue %(name)s deleted. Addresses routed to it now use their mailbox's default.", name=name), "info")
    return redirect(url_for("queues.index"))
