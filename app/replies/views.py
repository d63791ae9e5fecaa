"""Admins keep the tenant's reply templates here; agents insert them on the ticket page (``inbox_views``)."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_htmx import make_response

from app.errors import FieldErrors
from app.forms import show_field_errors
from app.members.forms import ConfirmForm
from app.replies import services
from app.replies.forms import ReplyTemplateForm
from app.replies.models import ReplyTemplate
from tenants.models import Role
from tenants.resolver import tenant_blueprint

# Named "templates": the portal's navigation has kept a "Templates" section for it (app/portal/nav.py).
bp = tenant_blueprint("templates", __name__, "/reply-templates", role=Role.ADMIN)


@bp.context_processor
def _merge_fields() -> dict:
    return {"merge_fields": [(services.placeholder(name), label) for name, label in services.MERGE_FIELDS.items()]}


def _page(form: ReplyTemplateForm | None = None, status: int = 200):
    html = render_template("replies/index.html", templates=services.reply_templates(g.tenant),
                           form=form or ReplyTemplateForm(formdata=None), confirm=ConfirmForm())
    return make_response(html, status, replace_url=url_for("templates.index"))


@bp.route("/")
def index():
    return _page()


@bp.route("/", methods=["POST"])
def create():
    form = ReplyTemplateForm()
    if form.validate_on_submit():
        try:
            template = services.create_template(g.tenant, name=form.name.data or "", body=form.body.data or "")
        except FieldErrors as error:
            show_field_errors(form, error)
        else:
            flash(_("Template %(name)s created.", name=template.name), "success")
            return redirect(url_for("templates.index"))
    return _page(form, 422)


@bp.route("/<int:template_id>/edit", methods=["GET", "POST"])
def edit(template_id: int):
    template = ReplyTemplate.get_by_id_and_tenant(template_id, g.tenant)
    form = ReplyTemplateForm() if request.method == "POST" else ReplyTemplateForm(obj=template)
    if form.validate_on_submit():
        try:
            services.update_template(template, name=form.name.data or "", body=form.body.data or "")
        except FieldErrors as error:
            show_field_errors(form, error)
        else:
            flash(_("Template %(name)s saved.", name=template.name), "success")
            return redirect(url_for("templates.index"))
    html = render_template("replies/edit.html", form=form, template=template)
    return make_response(html, 422 if form.is_submitted() else 200,
                         replace_url=url_for("templates.edit", template_id=template_id))


@bp.route("/<int:template_id>/delete", methods=["POST"])
def delete(template_id: int):
    template = ReplyTemplate.get_by_id_and_tenant(template_id, g.tenant)
    if ConfirmForm().validate_on_submit():
        name = template.name
        services.delete_template(template)
        flash(_("Template %(name)s deleted.", name=name), "info")
    return redirect(url_for("templates.index"))


# The ticket page's "Insert a template" route lives on the inbox blueprint; importing it here registers it there
# (before app/__init__.py registers that blueprint: this module is imported first).
from app.replies import inbox_views  # noqa: E402, F401
