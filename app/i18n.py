"""Locale and time zone selection: the user's own setting, then the tenant's default, then the browser."""

from __future__ import annotations

from flask import Flask, g, has_request_context, request
from flask_babel import format_datetime, format_timedelta
from flask_login import current_user

from app.auth.validation import LOCALES
from app.extensions import babel
from tenants.context import get_current_tenant


def _user_setting(name: str) -> str | None:
    return getattr(current_user, name, None) if current_user and current_user.is_authenticated else None


def select_locale() -> str:
    if locale := _user_setting("locale"):
        return locale
    tenant = get_current_tenant()
    if tenant is not None:
        return tenant.default_locale
    if not has_request_context():  # CLI and jobs
        return "en"
    return request.accept_languages.best_match(LOCALES) or "en"


def select_timezone() -> str:
    if timezone := _user_setting("timezone"):
        return timezone
    tenant = get_current_tenant()
    return tenant.timezone if tenant is not None else "UTC"


def init_i18n(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    app.jinja_env.filters["datetime"] = lambda value, fmt="medium": format_datetime(value, fmt) if value else ""
    app.jinja_env.filters["duration"] = lambda value: format_timedelta(value, threshold=1.1) if value else ""

    @app.context_processor
    def _locale_context() -> dict:
        from flask_babel import get_locale

        return {"current_locale": str(get_locale() or "en"), "current_tenant": g.get("tenant")}
