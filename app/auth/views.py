from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select

from app.auth import services
from app.auth.forms import LoginForm, SignupForm
from app.errors import FieldErrors
from app.extensions import db, limiter
from app.forms import show_field_errors
from tenants.models import Membership, Tenant
from tenants.regions import all_regions

bp = Blueprint("auth", __name__)


def _login_key() -> str:
    # Per account and address: an attacker rotating addresses still hits the per-account bucket.
    return f"{request.remote_addr}|{request.form.get('email', '').strip().lower()}"


def _account_key() -> str:
    return request.form.get("email", "").strip().lower()


def _failed_login(_response) -> bool:
    return bool(g.get("login_failed"))


def _safe_next(target: str | None) -> str | None:
    """Only same-site paths: ``//evil.example`` and absolute URLs are open redirects."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def _home_for(user) -> str:
    tenants = list(db.session.scalars(select(Tenant).join(Membership).where(Membership.user_id == user.id)))
    if len(tenants) == 1:
        return url_for("portal.dashboard", tenant_slug=tenants[0].slug)
    return url_for("auth.home")


@bp.route("/")
def home():
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    tenants = list(db.session.scalars(
        select(Tenant).join(Membership).where(Membership.user_id == current_user.id).order_by(Tenant.name)))
    return render_template("auth/home.html", tenants=tenants)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], key_func=_login_key, methods=["POST"],
               deduct_when=_failed_login, scope="login")
@limiter.limit("20 per hour", key_func=_account_key, methods=["POST"], deduct_when=_failed_login,
               scope="login-account")
def login():
    form = LoginForm()
    if form.validate_on_submit():
        user = services.authenticate(form.email.data, form.password.data)
        if user is not None:
            login_user(user, remember=form.remember.data)
            return redirect(_safe_next(request.args.get("next")) or _home_for(user))
        g.login_failed = True
        form.form_errors.append(_("The e-mail address or password is not correct."))
    elif form.is_submitted():
        g.login_failed = True
    return render_template("auth/login.html", form=form), 401 if g.get("login_failed") else 200


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    logout_user()
    flash(_("You are signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/signup", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["SIGNUP_RATE_LIMIT"], methods=["POST"], scope="signup")
def signup():
    form = SignupForm(regions=list(all_regions()))
    status = 200
    if form.validate_on_submit():
        try:
            tenant, user = services.sign_up(**{name: form[name].data for name in (
                "tenant_name", "slug", "name", "email", "password", "locale", "timezone", "region")})
        except FieldErrors as error:
            show_field_errors(form, error)
        else:
            login_user(user)
            flash(_("Welcome to Postroom! Your portal is ready."), "success")
            return redirect(url_for("portal.dashboard", tenant_slug=tenant.slug))
    if form.is_submitted():
        status = 422
    return render_template("auth/signup.html", form=form), status
