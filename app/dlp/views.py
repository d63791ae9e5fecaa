"""Data-loss-prevention rules (admins)."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_htmx import make_response

from app.dlp import services
from app.dlp.forms import ACTION_LABELS, KIND_LABELS, DlpRuleForm, TrialForm
from app.dlp.models import DlpRule
from app.errors import FieldErrors
from app.extensions import htmx
from app.forms import show_field_errors
from app.members.forms import ConfirmForm
from tenants.models import Role
from tenants.resolver import tenant_blueprint

bp = tenant_blueprint("dlp", __name__, "/dlp", role=Role.ADMIN)
TRIAL_TARGET = "dlp-trial-result"


@bp.context_processor
def _labels() -> dict:
    return {"kind_labels": KIND_LABELS, "action_labels": ACTION_LABELS, "describe_block": services.describe_block}


def _page(form: DlpRuleForm | None = None, trial_form: TrialForm | None = None, verdict=None, status: int = 200):
    # formdata=None: a form that was not the one submitted starts blank (not from the other form's fields)
    html = render_template("dlp/index.html", rules=services.rules(g.tenant), form=form or DlpRuleForm(formdata=None),
                           trial_form=trial_form or TrialForm(formdata=None), verdict=verdict)
    return make_response(html, status, replace_url=url_for("dlp.index"))


def _rule(rule_id: int) -> DlpRule:
    return DlpRule.get_by_id_and_tenant(rule_id, g.tenant)


@bp.route("/")
def index():
    return _page()


@bp.route("/", methods=["POST"])
def create():
    form = DlpRuleForm()
    if form.validate_on_submit():
        try:
            rule = services.create_rule(g.tenant, **form.values())
        except FieldErrors as error:
            show_field_errors(form, error)
        else:
            flash(_("Rule %(name)s created.", name=rule.name), "success")
            return redirect(url_for("dlp.index"))
    return _page(form, status=422)


@bp.route("/<int:rule_id>/edit", methods=["GET", "POST"])
def edit(rule_id: int):
    rule = _rule(rule_id)
    form = DlpRuleForm() if request.method == "POST" else DlpRuleForm(obj=rule)
    if form.validate_on_submit():
        try:
            services.update_rule(rule, **form.values())
        except FieldErrors as error:
            show_field_errors(form, error)
        else:
            flash(_("Rule %(name)s saved.", name=rule.name), "success")
            return redirect(url_for("dlp.index"))
    html = render_template("dlp/edit.html", form=form, rule=rule)
    return make_response(html, 422 if form.is_submitted() else 200, replace_url=url_for("dlp.edit", rule_id=rule_id))


@bp.route("/<int:rule_id>/enable", methods=["POST"])
def enable(rule_id: int):
    rule = _rule(rule_id)
    if ConfirmForm().validate_on_submit():
        services.update_rule(rule, enabled=True)
        flash(_("Rule %(name)s is enabled: it applies to outgoing mail.", name=rule.name), "success")
    return redirect(url_for("dlp.index"))


@bp.route("/<int:rule_id>/disable", methods=["POST"])
def disable(rule_id: int):
    rule = _rule(rule_id)
    if ConfirmForm().validate_on_submit():
        services.update_rule(rule, enabled=False)
        flash(_("Rule %(name)s is disabled: outgoing mail is not checked by it until you enable it.",
                name=rule.name), "info")
    return redirect(url_for("dlp.index"))


@bp.route("/<int:rule_id>/delete", methods=["GET", "POST"])
def delete(rule_id: int):
    rule = _rule(rule_id)
    if ConfirmForm().validate_on_submit():
        name = rule.name
        services.delete_rule(rule)
        flash(_("Rule %(name)s deleted.", name=name), "info")
        return redirect(url_for("dlp.index"))
    return render_template("dlp/delete.html", rule=rule)


@bp.route("/try", methods=["POST"])
def trial():
    """What the enabled rules would do to a pasted mail; htmx requests aimed at the result box get the box alone."""
    form = TrialForm()
    verdict = services.scan_outgoing(g.tenant, form.text.data or "", subject=form.subject.data or "") if (
        form.validate_on_submit()) else None
    if htmx and not htmx.boosted and htmx.target == TRIAL_TARGET:
        response = make_response(render_template("dlp/_trial_result.html", verdict=verdict))
    else:
        response = _page(trial_form=form, verdict=verdict)
    response.vary.add("HX-Request")
    return response
