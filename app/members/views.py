from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_htmx import make_response
from flask_login import current_user, login_user

from app.errors import FieldErrors
from app.extensions import htmx
from app.forms import show_field_errors
from app.members import services
from app.members.forms import AcceptInvitationForm, ConfirmForm, InviteForm, RoleForm, role_choices
from app.members.models import Invitation
from tenants.models import Role
from tenants.resolver import require_role, tenant_blueprint

bp = tenant_blueprint("members", __name__, "/members")
public = Blueprint("invitations", __name__)


def _page(invite_form: InviteForm | None = None, invite_link: str | None = None, status: int = 200):
    tenant, actor = g.tenant, g.membership
    invite_form = invite_form or InviteForm()
    invite_form.role.choices = role_choices(actor.role)
    html = render_template(
        "members/index.html", members=services.members(tenant), invitations=services.pending_invitations(tenant),
        invite_form=invite_form, invite_link=invite_link, role_choices=role_choices(actor.role),
        confirm=ConfirmForm(), can_manage=actor.role.at_least(Role.ADMIN),
    )
    # A POST answered with the page: the address bar shows the page, so reloading it is a GET, not a 405.
    return make_response(html, status, replace_url=url_for("members.index"))


def _members_partial_or_redirect():
    if htmx and not htmx.boosted and htmx.target == "members":
        return render_template("members/_members.html", members=services.members(g.tenant),
                               role_choices=role_choices(g.membership.role), confirm=ConfirmForm(),
                               can_manage=True, oob_flashes=True)
    return redirect(url_for("members.index"))


@bp.route("/")
def index():
    return _page()


@bp.route("/invite", methods=["POST"])
@require_role(Role.ADMIN)
def invite():
    form = InviteForm()
    form.role.choices = role_choices(g.membership.role)
    if form.validate_on_submit():
        try:
            invitation, token = services.invite(
                g.tenant, email=form.email.data, role=form.role.data, inviter_role=g.membership.role,
                invited_by_id=g.membership.user_id)
        except FieldErrors as error:
            show_field_errors(form, error)
        else:
            link = url_for("invitations.accept", token=token, _external=True)
            flash(_("Invitation created for %(email)s. Send them the link below; it is shown only once.",
                    email=invitation.email), "success")
            return _page(invite_link=link)
    return _page(invite_form=form, status=422)


@bp.route("/invitations/<int:invitation_id>/revoke", methods=["POST"])
@require_role(Role.ADMIN)
def revoke_invitation(invitation_id: int):
    if ConfirmForm().validate_on_submit():
        services.revoke_invitation(Invitation.get_by_id_and_tenant(invitation_id, g.tenant))
        flash(_("The invitation was withdrawn."), "info")
    return redirect(url_for("members.index"))


def _target(membership_id: int):
    target = services.membership_by_id(g.tenant, membership_id)
    if target is None:
        abort(404)
    return target


@bp.route("/<int:membership_id>/role", methods=["POST"])
@require_role(Role.ADMIN)
def change_role(membership_id: int):
    target = _target(membership_id)
    form = RoleForm()
    form.role.choices = role_choices(g.membership.role)
    if form.validate_on_submit():
        try:
            services.change_role(g.membership, target, form.role.data)
            flash(_("The role of %(name)s is now %(role)s.", name=target.user.name,
                    role=dict(form.role.choices)[form.role.data]), "success")
        except FieldErrors as error:
            flash(next(iter(error.errors.values())), "error")
    else:
        flash(_("Choose one of the offered roles."), "error")
    return _members_partial_or_redirect()


@bp.route("/<int:membership_id>/remove", methods=["POST"])
@require_role(Role.ADMIN)
def remove(membership_id: int):
    target = _target(membership_id)
    name = target.user.name
    if ConfirmForm().validate_on_submit():
        try:
            services.remove_member(g.membership, target)
            flash(_("%(name)s no longer has access.", name=name), "info")
        except FieldErrors as error:
            flash(next(iter(error.errors.values())), "error")
    return redirect(url_for("members.index"))


@public.route("/invitations/<token>", methods=["GET", "POST"])
def accept(token: str):
    try:
        invitation = services.load_invitation(token)
    except services.InvitationInvalid as error:
        return render_template("members/invitation_invalid.html", reason=str(error)), 410
    form, confirm = AcceptInvitationForm(), ConfirmForm()
    signed_in = current_user.is_authenticated
    if (confirm if signed_in else form).validate_on_submit():
        try:
            user = services.accept_invitation(
                invitation, user=current_user._get_current_object() if signed_in else None,
                name=form.name.data or "", password=form.password.data or "")
        except FieldErrors as error:
            show_field_errors(form, error)
        except services.InvitationInvalid as error:
            return render_template("members/invitation_invalid.html", reason=str(error)), 403
        else:
            login_user(user)
            flash(_("Welcome to %(tenant)s!", tenant=invitation.tenant_name), "success")
            return redirect(url_for("portal.dashboard", tenant_slug=invitation.tenant_slug))
    status = 422 if form.is_submitted() else 200
    return render_template("members/accept.html", invitation=invitation, form=form, confirm=confirm), status
