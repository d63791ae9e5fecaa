from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_htmx import make_response

from app.errors import FieldErrors
from app.extensions import htmx
from app.forms import show_field_errors
from app.members.forms import ConfirmForm
from app.queues.services import queues
from app.routing.models import RoutingRule
from app.rules import services
from app.rules.forms import FIELD_LABELS, PRIORITY_LABELS, RuleForm, RuleTestForm
from app.rules.tester import try_rules
from tenants.models import Role
from tenants.resolver import tenant_blueprint

bp = tenant_blueprint("rules", __name__, "/rules", role=Role.ADMIN)
TEST_TARGET = "rule-test-result"


@bp.context_processor
def _labels() -> dict:
    return {"field_labels": FIELD_LABELS, "priority_labels": PRIORITY_LABELS}


def _form(**kwargs) -> RuleForm:
    return RuleForm(queues=queues(g.tenant), **kwargs)


def _page(form: RuleForm | None = None, test_form: RuleTestForm | None = None, trial=None, status: int = 200):
    # formdata=None: a form that was not the one submitted starts blank (not from the other form's fields)
    html = render_template("rules/index.html", rules=services.rules(g.tenant), form=form or _form(formdata=None),
                           test_form=test_form or RuleTestForm(formdata=None), trial=trial)
    return make_response(html, status, replace_url=url_for("rules.index"))


def _rule(rule_id: int) -> RoutingRule:
    return RoutingRule.get_by_id_and_tenant(rule_id, g.tenant)


@bp.route("/")
def index():
    return _page()


@bp.route("/", methods=["POST"])
def create():
    form = _form()
    if form.validate_on_submit():
        try:
            rule = services.create_rule(g.tenant, **form.values())
        except FieldErrors as error:
            show_field_errors(form, error)
        else:
            flash(_("Rule %(name)s created.", name=rule.name), "success")
            return redirect(url_for("rules.index"))
    return _page(form, status=422)


@bp.route("/<int:rule_id>/edit", methods=["GET", "POST"])
def edit(rule_id: int):
    rule = _rule(rule_id)
    form = _form() if request.method == "POST" else _form(obj=rule).show(rule)
    if form.validate_on_submit():
        try:
            services.update_rule(rule, **form.values())
        except FieldErrors as error:
            show_field_errors(form, error)
        else:
            flash(_("Rule %(name)s saved.", name=rule.name), "success")
            return redirect(url_for("rules.index"))
    html = render_template("rules/edit.html", form=form, rule=rule)
    return make_response(html, 422 if form.is_submitted() else 200, replace_url=url_for("rules.edit", rule_id=rule_id))


@bp.route("/<int:rule_id>/move", methods=["POST"])
def move(rule_id: int):
    rule = _rule(rule_id)
    step = {"up": -1, "down": 1}.get(request.args.get("direction", ""))
    if step is None:
        abort(400)
    if ConfirmForm().validate_on_submit():
        services.shift_rule(rule, step)
    return redirect(url_for("rules.index"))


@bp.route("/<int:rule_id>/activate", methods=["POST"])
def activate(rule_id: int):
    rule = _rule(rule_id)
    if ConfirmForm().validate_on_submit():
        services.update_rule(rule, active=True)
        flash(_("Rule %(name)s is active: it applies to new tickets.", name=rule.name), "success")
    return redirect(url_for("rules.index"))


@bp.route("/<int:rule_id>/deactivate", methods=["POST"])
def deactivate(rule_id: int):
    rule = _rule(rule_id)
    if ConfirmForm().validate_on_submit():
        services.update_rule(rule, active=False)
        flash(_("Rule %(name)s is inactive: new tickets ignore it until you activate it.", name=rule.name), "info")
    return redirect(url_for("rules.index"))


@bp.route("/<int:rule_id>/delete", methods=["GET", "POST"])
def delete(rule_id: int):
    rule = _rule(rule_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        name = rule.name
        services.delete_rule(rule)
        flash(_("Rule %(name)s deleted.", name=name), "info")
        return redirect(url_for("rules.index"))
    return render_template("rules/delete.html", rule=rule)


@bp.route("/test", methods=["POST"])
def test():
    """Try the rules on a pasted mail; htmx requests aimed at the result box get the box alone."""
    form = RuleTestForm()
    trial = try_rules(g.tenant, subject=form.subject.data or "", body=form.body.data or "",
                      sender=form.sender.data or "") if form.validate_on_submit() else None
    if htmx and not htmx.boosted and htmx.target == TEST_TARGET:
        response = make_response(render_template("rules/_test_result.html", trial=trial))
    else:
        response = _page(test_form=form, trial=trial)
    response.vary.add("HX-Request")
    return response
