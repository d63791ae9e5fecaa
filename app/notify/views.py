"""The notification-template editor (admins): which events and languages have the tenant's own text, an edit page
per (event, locale) with a live preview, and "reset to default"."""

from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_htmx import make_response

from app.auth.validation import LOCALES
from app.errors import FieldErrors
from app.extensions import htmx
from app.forms import LOCALE_NAMES, show_field_errors
from app.members.forms import ConfirmForm
from app.notify import services
from app.notify.events import AUDIENCE_LABELS, EVENTS, Event
from app.notify.fields import MERGE_FIELDS
from app.notify.forms import NotificationTemplateForm
from app.notify.rendering import Rendered
from app.notify.sandbox import FILTERS
from tenants.models import Role
from tenants.resolver import tenant_blueprint

bp = tenant_blueprint("notifications", __name__, "/notification-templates", role=Role.ADMIN)
PREVIEW_TARGET = "notification-preview"


@bp.context_processor
def _labels() -> dict:
    return {"locale_names": LOCALE_NAMES, "audience_labels": AUDIENCE_LABELS, "merge_fields": MERGE_FIELDS,
            "template_filters": FILTERS}


def _event(event: str, locale: str) -> Event:
    if event not in EVENTS or locale not in LOCALES:
        abort(404)
    return EVENTS[event]


@bp.route("/")
def index():
    html = render_template("notify/index.html", rows=services.overview(g.tenant), locales=services.tenant_locales(
        g.tenant))
    return make_response(html, replace_url=url_for("notifications.index"))


@bp.route("/<event>/<locale>", methods=["GET", "POST"])
def edit(event: str, locale: str):
    spec = _event(event, locale)
    if request.method == "GET":
        subject, body = services.current_source(g.tenant, event, locale)
        form = NotificationTemplateForm(data={"subject": subject, "body": body})
        return _edit_page(spec, locale, form, _preview(locale, form))
    form = NotificationTemplateForm()
    if form.validate_on_submit():
        try:
            services.save_template(g.tenant, event, locale, subject=form.subject.data or "",
                                   body=form.body.data or "", author_id=g.membership.user_id)
        except FieldErrors as error:
            show_field_errors(form, error)
        else:
            flash(_("Notification “%(event)s” (%(language)s) saved.", event=spec.label,
                    language=LOCALE_NAMES[locale]), "success")
            return redirect(url_for("notifications.index"))
    return _edit_page(spec, locale, form, None, 422)


@bp.route("/<event>/<locale>/preview", methods=["POST"])
def preview(event: str, locale: str):
    """The preview of the text being edited, on sample values; htmx requests aimed at the preview get it alone."""
    spec = _event(event, locale)
    form = NotificationTemplateForm()
    rendered = _preview(locale, form) if form.validate_on_submit() else None
    status = 200 if rendered is not None else 422
    if htmx and not htmx.boosted and htmx.target == PREVIEW_TARGET:
        response = make_response(render_template("notify/_preview.html", form=form, rendered=rendered), status)
    else:
        response = _edit_page(spec, locale, form, rendered, status)
    response.vary.add("HX-Request")
    return response


@bp.route("/<event>/<locale>/reset", methods=["POST"])
def reset(event: str, locale: str):
    spec = _event(event, locale)
    if ConfirmForm().validate_on_submit() and services.reset_template(g.tenant, event, locale):
        flash(_("Notification “%(event)s” (%(language)s) reset to the default.", event=spec.label,
                language=LOCALE_NAMES[locale]), "info")
    return redirect(url_for("notifications.index"))


def _preview(locale: str, form: NotificationTemplateForm) -> Rendered | None:
    """The sample rendering of the form's text, or None with the problems on the form's fields."""
    try:
        return services.preview(g.tenant, locale, subject=form.subject.data or "", body=form.body.data or "")
    except FieldErrors as error:
        show_field_errors(form, error)
        return None


def _edit_page(spec: Event, locale: str, form: NotificationTemplateForm, rendered: Rendered | None,
               status: int = 200):
    customised = services.find_template(g.tenant, spec.name, locale) is not None
    html = render_template("notify/edit.html", event=spec, locale=locale, form=form, rendered=rendered,
                           customised=customised, confirm=ConfirmForm())
    return make_response(html, status, replace_url=url_for("notifications.edit", event=spec.name, locale=locale))
