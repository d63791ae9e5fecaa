"""``/ops/``: for platform operators only; anyone else gets the 404 of a page that does not exist."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.extensions import db, htmx
from app.mailboxes.models import Mailbox
from app.operator import services
from app.operator.queues import region_stats
from tenants.regions import all_regions

bp = Blueprint("operator", __name__, url_prefix="/ops")


@bp.before_request
def operators_only():
    if not (current_user.is_authenticated and getattr(current_user, "is_operator", False)):
        abort(404)


@bp.route("/")
def index():
    status, region = request.args.get("status") or None, request.args.get("region") or None
    context = {"lines": services.mailbox_lines(status=status, region=region),
               "regions": [region_stats(r) for r in all_regions().values() if region in (None, r.name)],
               "status": status or "", "region": region or "", "region_names": list(all_regions())}
    if htmx and not htmx.boosted and htmx.target == "operator-panel":
        return render_template("operator/_panel.html", **context)
    return render_template("operator/index.html", **context)


@bp.post("/mailboxes/<int:mailbox_id>/pause")
def pause(mailbox_id: int):
    return _set_paused(mailbox_id, True)


@bp.post("/mailboxes/<int:mailbox_id>/resume")
def resume(mailbox_id: int):
    return _set_paused(mailbox_id, False)


def _set_paused(mailbox_id: int, paused: bool):
    mailbox = db.get_or_404(Mailbox, mailbox_id)
    services.set_mailbox_paused(mailbox, paused, request.form.get("reason", ""))
    current_app.logger.info("operator action", extra={"mailbox_id": mailbox.id, "paused": paused})
    flash(_("%(address)s paused.", address=mailbox.address) if paused
          else _("%(address)s resumed.", address=mailbox.address), "success")
    return redirect(url_for("operator.index"))


@bp.route("/actions")
def actions():
    return render_template("operator/actions.html", actions=services.recent_actions())
