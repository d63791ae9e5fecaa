from __future__ import annotations

from io import BytesIO

from flask import flash, g, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from app.extensions import htmx
from app.mailboxes.services import mailboxes
from app.members.forms import ConfirmForm
from app.quarantine import services
from app.quarantine.forms import ReasonForm, SelectionForm
from app.quarantine.reasons import acceptable, describe
from tenants.models import Role
from tenants.resolver import tenant_blueprint

bp = tenant_blueprint("quarantine", __name__, "/quarantine", role=Role.ADMIN)


@bp.context_processor
def _helpers() -> dict:
    return {"describe_reason": describe, "acceptable": acceptable, "confirm": ConfirmForm(),
            "header_label": lambda name: services.HEADER_LABELS.get(name, name)}


def _filters() -> dict:
    return {"reason": request.args.get("reason", "").strip()[:40], "mailbox": request.args.get("mailbox", type=int)}


def _back_to_list():
    """Actions carry the list's filters in their URL, so the admin lands on the list they acted from."""
    return redirect(url_for("quarantine.index", **{k: v for k, v in _filters().items() if v}))


@bp.route("/")
def index():
    filters = _filters()
    page = min(max(request.args.get("page", 1, type=int), 1), 10_000)
    rows, has_next = services.held_page(g.tenant, reason=filters["reason"] or None, mailbox_id=filters["mailbox"],
                                        page=page)
    return render_template("quarantine/index.html", rows=rows, has_next=has_next, page=page,
                           filters={k: v for k, v in filters.items() if v}, mailboxes=mailboxes(g.tenant),
                           by_reason=services.counts_by_reason(g.tenant))


@bp.route("/<int:receipt_id>")
def show(receipt_id: int):
    held = services.held_mail(g.tenant, receipt_id)
    context = {"held": held, "headers": services.key_headers(services.original(g.tenant, held.receipt))}
    if htmx and not htmx.boosted and htmx.target == "quarantine-detail":
        return render_template("quarantine/_detail.html", **context)
    return render_template("quarantine/show.html", **context)


@bp.route("/<int:receipt_id>/original.eml")
def download(receipt_id: int):
    receipt = services.held_mail(g.tenant, receipt_id).receipt
    response = send_file(BytesIO(services.original(g.tenant, receipt)), mimetype="message/rfc822",
                         as_attachment=True, download_name=f"quarantined-{receipt.id}.eml", max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"  # a browser must never render it as a page
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/<int:receipt_id>/replay", methods=["POST"])
def replay(receipt_id: int):
    held = services.held_mail(g.tenant, receipt_id)
    if ConfirmForm().validate_on_submit():
        _flash_replayed(services.replay_one(g.tenant, held.receipt))
    return _back_to_list()


@bp.route("/<int:receipt_id>/accept", methods=["GET", "POST"])
def accept(receipt_id: int):
    """Waiving a sender policy is asked for twice: this page, then its button."""
    held = services.held_mail(g.tenant, receipt_id)
    if not acceptable(held.receipt.quarantine_reason):
        return _not_acceptable(receipt_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        if services.accept_one(g.tenant, held.receipt):
            flash(_("Accepted: the message is being turned into a ticket despite the sender policy."), "success")
        else:
            _flash_replayed(0)
        return redirect(url_for("quarantine.index"))
    headers = services.key_headers(services.original(g.tenant, held.receipt))
    return render_template("quarantine/accept.html", held=held, headers=headers, confirm=form)


def _not_acceptable(receipt_id: int):
    flash(_("Only mail held by a sender policy can be accepted; replay this message instead."), "error")
    return redirect(url_for("quarantine.show", receipt_id=receipt_id))


@bp.route("/replay", methods=["POST"])
def replay_selected():
    form = SelectionForm()
    if form.validate_on_submit() and form.ids.data:
        _flash_replayed(services.replay_selected(g.tenant, form.ids.data))
    else:
        flash(_("Select the messages to replay first."), "error")
    return _back_to_list()


@bp.route("/replay-reason", methods=["POST"])
def replay_reason():
    form = ReasonForm()
    if form.validate_on_submit():
        _flash_replayed(services.replay_reason(g.tenant, (form.reason.data or "").strip()))
    return _back_to_list()


def _flash_replayed(count: int) -> None:
    if count:
        flash(ngettext("%(num)d message was put back into processing.",
                       "%(num)d messages were put back into processing.", count), "success")
    else:
        flash(_("Nothing was replayed: the messages are no longer in quarantine."), "info")

