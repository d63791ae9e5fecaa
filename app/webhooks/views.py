"""Webhook endpoints in the portal (admins): create (the secret shown once), edit, rotate the secret, delete, and
each endpoint's delivery log with a replay button."""

from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_htmx import make_response
from sqlalchemy import select

from app.audit.services import record
from app.errors import FieldErrors
from app.extensions import db
from app.forms import show_field_errors
from app.members.forms import ConfirmForm
from app.webhooks import endpoints, services
from app.webhooks.forms import EVENT_LABELS, EndpointForm
from app.webhooks.models import WebhookDelivery, WebhookEndpoint
from tenants.models import Role
from tenants.resolver import tenant_blueprint

bp = tenant_blueprint("webhooks", __name__, "/webhooks", role=Role.ADMIN)
LOG_SIZE = 100


@bp.context_processor
def _labels() -> dict:
    return {"event_labels": EVENT_LABELS}


def _page(form: EndpointForm | None = None, *, secret: str | None = None, shown: WebhookEndpoint | None = None,
          status: int = 200):
    html = render_template("webhooks/index.html", endpoints=_endpoints(), form=form or EndpointForm(formdata=None),
                           secret=secret, shown=shown, confirm=ConfirmForm())
    return make_response(html, status, replace_url=url_for("webhooks.index"))


def _endpoints() -> list[WebhookEndpoint]:
    return list(db.session.scalars(WebhookEndpoint.all(g.tenant).order_by(WebhookEndpoint.id)))


def _endpoint(endpoint_id: int) -> WebhookEndpoint:
    return WebhookEndpoint.get_by_id_and_tenant(endpoint_id, g.tenant)


@bp.route("/")
def index():
    return _page()


@bp.route("/", methods=["POST"])
def create():
    form = EndpointForm()
    if form.validate_on_submit():
        try:
            endpoint, secret = endpoints.create_endpoint(g.tenant, **form.values())
        except FieldErrors as error:
            show_field_errors(form, error)
        else:
            db.session.commit()
            return _page(secret=secret, shown=endpoint)  # shown once, in this answer only (never in a cookie)
    return _page(form, status=422)


@bp.route("/<int:endpoint_id>/edit", methods=["GET", "POST"])
def edit(endpoint_id: int):
    endpoint = _endpoint(endpoint_id)
    form = EndpointForm() if request.method == "POST" else EndpointForm(obj=endpoint)
    if form.validate_on_submit():
        try:
            endpoints.update_endpoint(g.tenant, endpoint, **form.values())
        except FieldErrors as error:
            db.session.rollback()
            show_field_errors(form, error)
        else:
            db.session.commit()
            flash(_("Webhook saved."), "success")
            return redirect(url_for("webhooks.index"))
    html = render_template("webhooks/edit.html", form=form, endpoint=endpoint)
    return make_response(html, 422 if form.is_submitted() else 200,
                         replace_url=url_for("webhooks.edit", endpoint_id=endpoint_id))


@bp.route("/<int:endpoint_id>/rotate", methods=["POST"])
def rotate(endpoint_id: int):
    endpoint = _endpoint(endpoint_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    secret = endpoints.rotate_secret(g.tenant, endpoint)
    db.session.commit()
    return _page(secret=secret, shown=endpoint)


@bp.route("/<int:endpoint_id>/delete", methods=["POST"])
def delete(endpoint_id: int):
    endpoint = _endpoint(endpoint_id)
    if ConfirmForm().validate_on_submit():
        record(g.tenant, "webhook.deleted", object_type="webhook_endpoint", object_id=endpoint.id,
               label=endpoint.url)
        db.session.delete(endpoint)
        db.session.commit()
        flash(_("Webhook deleted."), "success")
    return redirect(url_for("webhooks.index"))


@bp.route("/<int:endpoint_id>/deliveries")
def deliveries(endpoint_id: int):
    endpoint = _endpoint(endpoint_id)
    rows = list(db.session.scalars(select(WebhookDelivery).where(
        WebhookDelivery.tenant_id == g.tenant.id, WebhookDelivery.endpoint_id == endpoint.id)
        .order_by(WebhookDelivery.id.desc()).limit(LOG_SIZE)))
    return render_template("webhooks/deliveries.html", endpoint=endpoint, deliveries=rows, confirm=ConfirmForm())


@bp.route("/<int:endpoint_id>/deliveries/<int:delivery_id>/replay", methods=["POST"])
def replay(endpoint_id: int, delivery_id: int):
    endpoint = _endpoint(endpoint_id)
    delivery = services.delivery_of(g.tenant, endpoint, delivery_id)
    if delivery is None:
        abort(404)
    if ConfirmForm().validate_on_submit():
        services.replay(g.tenant, delivery)
        db.session.commit()
        flash(_("Delivery %(id)s queued again, with the same Postroom-Id.", id=delivery.event_id), "success")
    return redirect(url_for("webhooks.deliveries", endpoint_id=endpoint.id))
