from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import format_date
from flask_babel import gettext as _
from flask_htmx import make_response

from app.connections import services as connections
from app.errors import FieldErrors
from app.forms import show_field_errors
from app.mailboxes import services
from app.mailboxes.forms import AliasForm, BackfillForm, MailboxForm
from app.mailboxes.models import Mailbox, MailboxAlias, MailboxStatus
from app.members.forms import ConfirmForm
from app.queues.services import queues
from tenants.models import Role
from tenants.resolver import tenant_blueprint

bp = tenant_blueprint("mailboxes", __name__, "/mailboxes", role=Role.ADMIN)


def _form(**kwargs) -> MailboxForm:
    return MailboxForm(queues=queues(g.tenant), allow_plaintext=g.tenant.allow_plaintext, **kwargs)


def _edit_page(form: MailboxForm, mailbox: Mailbox | None, status: int = 200):
    html = render_template("mailboxes/form.html", form=form, mailbox=mailbox)
    target = url_for("mailboxes.edit", mailbox_id=mailbox.id) if mailbox else url_for("mailboxes.new")
    return make_response(html, status, replace_url=target)


@bp.route("/")
def index():
    from app.oauth.services import connectable_providers

    rows = [(m, connections.health(m)) for m in services.mailboxes(g.tenant)]
    return render_template("mailboxes/index.html", rows=rows, providers=connectable_providers(g.tenant))


@bp.route("/new", methods=["GET", "POST"])
def new():
    form = _form()
    if form.validate_on_submit():
        try:
            mailbox = services.create_mailbox(g.tenant, form.settings(), form.alias_list())
        except FieldErrors as error:
            show_field_errors(form, error)
        else:
            test = connections.start_test(mailbox)
            flash(_("Mailbox %(address)s added. Its connection test is running.", address=mailbox.address),
                  "success")
            return redirect(url_for("mailboxes.show", mailbox_id=mailbox.id, test=test.job_id))
    return _edit_page(form, None, 422 if form.is_submitted() else 200)


def _mailbox(mailbox_id: int) -> Mailbox:
    return Mailbox.get_by_id_and_tenant(mailbox_id, g.tenant)


@bp.route("/<int:mailbox_id>")
def show(mailbox_id: int):
    mailbox = _mailbox(mailbox_id)
    job_id = request.args.get("test")
    test = connections.test_by_job_id(g.tenant, job_id) if job_id else None
    if test is not None and test.mailbox_id != mailbox.id:
        test = None
    return _show_page(mailbox, test=test)


def _show_page(mailbox: Mailbox, *, test=None, backfill_form: BackfillForm | None = None) -> str:
    alias_form = AliasForm()
    alias_form.queue_id.choices = [("", _("Mailbox default"))] + [(q.id, q.name) for q in queues(g.tenant)]
    from app.hooks.services import poke_token

    return render_template("mailboxes/show.html", mailbox=mailbox, health=connections.health(mailbox),
                           log=connections.recent_log(mailbox), test=test, alias_form=alias_form,
                           queues=queues(g.tenant), confirm=ConfirmForm(),
                           backfill_form=backfill_form or BackfillForm(),
                           poke_url=url_for("hooks.poke", token=poke_token(mailbox), _external=True))


@bp.route("/<int:mailbox_id>/edit", methods=["GET", "POST"])
def edit(mailbox_id: int):
    mailbox = _mailbox(mailbox_id)
    form = _form(obj=mailbox) if request.method == "GET" else _form()
    if request.method == "GET":
        form.folders.data = ", ".join(mailbox.folders or [])
        form.aliases.data = ""
    if form.validate_on_submit():
        try:
            services.update_mailbox(mailbox, form.settings())
        except FieldErrors as error:
            show_field_errors(form, error)
        else:
            flash(_("Mailbox settings saved."), "success")
            return redirect(url_for("mailboxes.show", mailbox_id=mailbox.id))
    return _edit_page(form, mailbox, 422 if form.is_submitted() else 200)


@bp.route("/<int:mailbox_id>/pause", methods=["POST"])
def pause(mailbox_id: int):
    if ConfirmForm().validate_on_submit():
        services.pause_mailbox(_mailbox(mailbox_id))
        flash(_("Paused: Postroom will not fetch or send mail with this mailbox until you resume it."), "info")
    return redirect(url_for("mailboxes.show", mailbox_id=mailbox_id))


@bp.route("/<int:mailbox_id>/resume", methods=["POST"])
def resume(mailbox_id: int):
    mailbox = _mailbox(mailbox_id)
    if ConfirmForm().validate_on_submit() and mailbox.status != MailboxStatus.ACTIVE:
        services.resume_mailbox(mailbox)
        test = connections.start_test(mailbox)
        flash(_("Resumed. A connection test is running."), "success")
        return redirect(url_for("mailboxes.show", mailbox_id=mailbox_id, test=test.job_id))
    return redirect(url_for("mailboxes.show", mailbox_id=mailbox_id))


@bp.route("/<int:mailbox_id>/delete", methods=["GET", "POST"])
def delete(mailbox_id: int):
    mailbox = _mailbox(mailbox_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        address = mailbox.address
        services.delete_mailbox(mailbox)
        flash(_("Mailbox %(address)s was deleted.", address=address), "info")
        return redirect(url_for("mailboxes.index"))
    return render_template("mailboxes/delete.html", mailbox=mailbox, confirm=form)


@bp.route("/<int:mailbox_id>/test", methods=["POST"])
def test(mailbox_id: int):
    mailbox = _mailbox(mailbox_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    run = connections.start_test(mailbox)
    return redirect(url_for("mailboxes.show", mailbox_id=mailbox.id, test=run.job_id))


@bp.route("/<int:mailbox_id>/sync", methods=["POST"])
def sync_now(mailbox_id: int):
    from app.inbound.services import start_sync

    if ConfirmForm().validate_on_submit():
        start_sync(_mailbox(mailbox_id))
        flash(_("Sync started: new mail appears in a moment."), "info")
    return redirect(url_for("mailboxes.show", mailbox_id=mailbox_id))


@bp.route("/<int:mailbox_id>/backfill", methods=["POST"])
def backfill(mailbox_id: int):
    """"Import mail since <date>": older mail the first sync skipped (see ``start_backfill``)."""
    mailbox = _mailbox(mailbox_id)
    form = BackfillForm()
    if form.validate_on_submit():
        from app.inbound.backfill import start_backfill

        try:
            start_backfill(mailbox, form.since.data)
        except FieldErrors as error:
            show_field_errors(form, error)
        else:
            flash(_("Importing mail since %(date)s: it appears in the inbox as it is fetched.",
                    date=format_date(form.since.data)), "info")
            return redirect(url_for("mailboxes.show", mailbox_id=mailbox.id))
    # The page again with the errors; the address bar shows the mailbox page, so a reload is a GET.
    return make_response(_show_page(mailbox, backfill_form=form), 422,
                         replace_url=url_for("mailboxes.show", mailbox_id=mailbox.id))


@bp.route("/<int:mailbox_id>/tests/<job_id>")
def test_progress(mailbox_id: int, job_id: str):
    """The test widget alone: it replaces itself every second while the test runs."""
    mailbox = _mailbox(mailbox_id)
    run = connections.test_by_job_id(g.tenant, job_id)
    if run is None or run.mailbox_id != mailbox.id:
        abort(404)
    return render_template("mailboxes/_test.html", mailbox=mailbox, test=run)


@bp.route("/<int:mailbox_id>/aliases", methods=["POST"])
def add_alias(mailbox_id: int):
    mailbox = _mailbox(mailbox_id)
    form = AliasForm()
    if form.validate_on_submit():
        try:
            services.add_alias(mailbox, form.address.data or "", form.queue_id.data)
            flash(_("Address added."), "success")
        except FieldErrors as error:
            flash(next(iter(error.errors.values())), "error")
    return redirect(url_for("mailboxes.show", mailbox_id=mailbox.id))


def _alias(mailbox_id: int, alias_id: int) -> MailboxAlias:
    alias = MailboxAlias.get_by_id_and_tenant(alias_id, g.tenant)
    if alias.mailbox_id != mailbox_id:
        abort(404)
    return alias


@bp.route("/<int:mailbox_id>/aliases/<int:alias_id>/queue", methods=["POST"])
def route_alias(mailbox_id: int, alias_id: int):
    form = AliasForm()
    if form.validate_on_submit():
        try:
            services.route_alias(_alias(mailbox_id, alias_id), form.queue_id.data)
            flash(_("Routing saved."), "success")
        except FieldErrors as error:
            flash(next(iter(error.errors.values())), "error")
    return redirect(url_for("mailboxes.show", mailbox_id=mailbox_id))


@bp.route("/<int:mailbox_id>/aliases/<int:alias_id>/remove", methods=["POST"])
def remove_alias(mailbox_id: int, alias_id: int):
    if ConfirmForm().validate_on_submit():
        services.remove_alias(_alias(mailbox_id, alias_id))
        flash(_("Address removed."), "info")
    return redirect(url_for("mailboxes.show", mailbox_id=mailbox_id))
