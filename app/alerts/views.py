"""The alerts page (admins): open and recently resolved alerts, and the rules with their switches and thresholds."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, url_for
from flask_babel import get_timezone
from flask_babel import gettext as _
from flask_htmx import make_response

from app.alerts import services
from app.alerts.describe import KIND_LABELS, RULE_HELP, describe, describe_resolved
from app.alerts.forms import RulesForm
from app.errors import FieldErrors
from app.forms import show_field_errors
from tenants.models import Role
from tenants.resolver import tenant_blueprint

bp = tenant_blueprint("alerts", __name__, "/alerts", role=Role.ADMIN)


@bp.context_processor
def _labels() -> dict:
    zone = str(get_timezone())
    return {"kind_labels": KIND_LABELS, "rule_help": RULE_HELP, "describe_resolved": describe_resolved,
            "describe": lambda alert: describe(alert, zone)}


def _page(form: RulesForm | None = None, status: int = 200):
    tenant = g.tenant
    rules = services.rules(tenant)
    html = render_template("alerts/index.html", open_alerts=services.open_alerts(tenant),
                           recent=services.recent_alerts(tenant), rules=rules, form=form or RulesForm.for_rules(rules))
    return make_response(html, status, replace_url=url_for("alerts.index"))


@bp.route("/")
def index():
    return _page()


@bp.route("/rules", methods=["POST"])
def save_rules():
    form = RulesForm()
    if form.validate_on_submit():
        try:
            services.update_rules(g.tenant, form.values())
        except FieldErrors as error:
            show_field_errors(form, error)
        else:
            flash(_("Alert rules saved."), "success")
            return redirect(url_for("alerts.index"))
    return _page(form, status=422)
