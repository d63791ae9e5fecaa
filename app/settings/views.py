from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import refresh
from flask_htmx import make_response
from flask_login import current_user

from app.auth.services import update_preferences
from app.errors import FieldErrors
from app.forms import show_field_errors
from app.members.forms import ConfirmForm
from app.settings import services
from app.settings.forms import InboundPolicyForm, OAuthAppForm, PreferencesForm, TenantForm, TokenForm
from app.settings.inbound import policy_of, update_inbound_policy
from app.tickets.services import ticket_prefix
from app.tokens import services as tokens
from app.tokens.models import ApiToken
from tenants.models import Role
from tenants.resolver import require_role, tenant_blueprint

bp = tenant_blueprint("settings", __name__, "/settings")


def _tenant_form(tenant) -> TenantForm:
    form = TenantForm(obj=tenant)
    form.allowed_sender_domains.data = "\n".join(tenant.allowed_sender_domains or [])
    form.allowed_mailbox_domains.data = "\n".join(tenant.allowed_mailbox_domains or [])
    return form


def _page(tenant_form: TenantForm | None = None, prefs_form: PreferencesForm | None = None, status: int = 200):
    tenant = g.tenant
    tenant_form = tenant_form or _tenant_form(tenant)
    prefs_form = prefs_form or PreferencesForm(data={"locale": current_user.locale or "",
                                                     "timezone": current_user.timezone or ""})
    html = render_template("settings/index.html", tenant_form=tenant_form, prefs_form=prefs_form,
                           can_edit_tenant=g.membership.role.at_least(Role.ADMIN))
    return make_response(html, status, replace_url=url_for("settings.index"))


@bp.route("/")
def index():
    return _page()


@bp.route("/tenant", methods=["POST"])
@require_role(Role.ADMIN)
def update_tenant():
    form = TenantForm()
    if form.validate_on_submit():
        try:
            services.update_tenant(
                g.tenant, name=form.name.data, default_locale=form.default_locale.data, timezone=form.timezone.data,
                allowed_sender_domains=form.allowed_sender_domains.data or "",
                allowed_mailbox_domains=form.allowed_mailbox_domains.data or "",
                allow_plaintext=form.allow_plaintext.data,
                **{name: getattr(form, name).data for name in ("failure_threshold", "commlog_retention_days",
                                                               "audit_retention_days")
                   if getattr(form, name).data is not None})
        except FieldErrors as error:
            show_field_errors(form, error)
        else:
            flash(_("Settings saved."), "success")
            return redirect(url_for("settings.index"))
    return _page(tenant_form=form, status=422)


@bp.route("/preferences", methods=["POST"])
def update_my_preferences():
    form = PreferencesForm()
    if form.validate_on_submit():
        try:
            update_preferences(current_user._get_current_object(), locale=form.locale.data, timezone=form.timezone.data)
        except FieldErrors as error:
            show_field_errors(form, error)
        else:
            refresh()  # the confirmation speaks the newly chosen language
            flash(_("Your preferences were saved."), "success")
            return redirect(url_for("settings.index"))
    return _page(prefs_form=form, status=422)


def _tokens_page(form: TokenForm | None = None, new_token: str | None = None, status: int = 200):
    html = render_template("settings/tokens.html", tokens=tokens.tokens(g.tenant), form=form or TokenForm(),
                           new_token=new_token, confirm=ConfirmForm())
    return make_response(html, status, replace_url=url_for("settings.list_tokens"))


@bp.route("/tokens")
@require_role(Role.ADMIN)
def list_tokens():
    return _tokens_page()


@bp.route("/tokens", methods=["POST"])
@require_role(Role.ADMIN)
def create_token():
    form = TokenForm()
    if form.validate_on_submit():
        try:
            _token, plaintext = tokens.create_token(g.tenant, name=form.name.data, created_by_id=current_user.id)
        except FieldErrors as error:
            show_field_errors(form, error)
        else:
            return _tokens_page(new_token=plaintext)
    return _tokens_page(form=form, status=422)


@bp.route("/tokens/<int:token_id>/revoke", methods=["POST"])
@require_role(Role.ADMIN)
def revoke_token(token_id: int):
    if ConfirmForm().validate_on_submit():
        tokens.revoke_token(ApiToken.get_by_id_and_tenant(token_id, g.tenant))
        flash(_("The token was revoked; requests using it are refused from now on."), "info")
    return redirect(url_for("settings.list_tokens"))


def _apps_page(forms: dict | None = None, status: int = 200):
    from app.oauth.apps import PROVIDERS, apps

    saved = apps(g.tenant)
    forms = forms or {}
    for provider in PROVIDERS:
        if provider not in forms:
            app = saved.get(provider)
            forms[provider] = OAuthAppForm(prefix=provider, obj=app, formdata=None)
    html = render_template("settings/oauth_apps.html", forms=forms, saved=saved, confirm=ConfirmForm())
    return make_response(html, status, replace_url=url_for("settings.oauth_apps"))


@bp.route("/oauth-apps")
@require_role(Role.ADMIN)
def oauth_apps():
    return _apps_page()


@bp.route("/oauth-apps/<provider>", methods=["POST"])
@require_role(Role.ADMIN)
def save_oauth_app(provider: str):
    from app.oauth.apps import save_app

    form = OAuthAppForm(prefix=provider)
    if form.validate_on_submit():
        try:
            save_app(g.tenant, provider, client_id=form.client_id.data or "", client_secret=form.client_secret.data,
                     secret_expires_on=form.secret_expires_on.data, directory=form.directory.data)
        except FieldErrors as error:
            show_field_errors(form, error)
        else:
            flash(_("Saved. New connections through this provider use your app."), "success")
            return redirect(url_for("settings.oauth_apps"))
    return _apps_page({provider: form}, 422)


@bp.route("/oauth-apps/<provider>/delete", methods=["POST"])
@require_role(Role.ADMIN)
def delete_oauth_app(provider: str):
    from app.oauth.apps import apps, delete_app

    app = apps(g.tenant).get(provider)
    if app is None:
        abort(404)
    if ConfirmForm().validate_on_submit():
        delete_app(app)
        flash(_("Removed. New connections use Postroom's own app."), "info")
    return redirect(url_for("settings.oauth_apps"))


def _inbound_form() -> InboundPolicyForm:
    if request.method == "POST":
        return InboundPolicyForm()
    policy = policy_of(g.tenant)
    for key in ("trusted_authserv_ids", "blocked_attachment_types", "vip_senders"):
        policy[key] = "\n".join(policy[key])
    return InboundPolicyForm(data=policy)


@bp.route("/inbound", methods=["GET", "POST"])
@require_role(Role.ADMIN)
def inbound():
    form = _inbound_form()
    if form.validate_on_submit():
        try:
            update_inbound_policy(g.tenant, **form.policy())
        except FieldErrors as error:
            show_field_errors(form, error)
        else:
            flash(_("Inbound mail settings saved."), "success")
            return redirect(url_for("settings.inbound"))
    html = render_template("settings/inbound.html", form=form, current_prefix=ticket_prefix(g.tenant))
    return make_response(html, 422 if form.is_submitted() else 200, replace_url=url_for("settings.inbound"))
