from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from app.connections.services import start_test
from app.mailboxes.models import Mailbox
from app.members.forms import ConfirmForm
from app.oauth import flow, onboarding
from app.oauth.models import OAuthGrant
from tenants.models import Role
from tenants.resolver import tenant_blueprint

bp = tenant_blueprint("oauth_connect", __name__, "/mailboxes", role=Role.ADMIN)
public = Blueprint("oauth", __name__)


def _go(tenant, provider_key: str, **kwargs):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        return redirect(flow.begin(tenant, provider_key, **kwargs))
    except flow.FlowError as error:
        flash(str(error), "error")
        return redirect(url_for("mailboxes.index"))


@bp.route("/connect/<provider>", methods=["POST"])
def connect(provider: str):
    """Start "Connect a Google / Microsoft mailbox": off to the provider's consent page."""
    return _go(g.tenant, provider)


@bp.route("/<int:mailbox_id>/reconnect", methods=["POST"])
def reconnect(mailbox_id: int):
    mailbox = Mailbox.get_by_id_and_tenant(mailbox_id, g.tenant)
    grant = OAuthGrant.get_by_id_and_tenant(mailbox.oauth_grant_id, g.tenant) if mailbox.oauth_grant_id else None
    if grant is None:
        abort(404)
    return _go(g.tenant, grant.provider, mailbox_id=mailbox.id, login_hint=mailbox.inbound_username)


@public.route("/oauth/callback")
@login_required
def callback():
    try:
        authorized = flow.complete(request.args.to_dict())
        mailbox, warnings = onboarding.connect(authorized)
    except flow.FlowError as error:
        return render_template("oauth/failed.html", reason=str(error)), 400
    test = start_test(mailbox)
    for warning in warnings:
        flash(warning, "error")
    flash(_("%(address)s is connected. Its connection test is running.", address=mailbox.address), "success")
    return redirect(url_for("mailboxes.show", tenant_slug=authorized.tenant.slug, mailbox_id=mailbox.id,
                            test=test.job_id))
