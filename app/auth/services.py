"""Accounts: sign-up, authentication."""

from __future__ import annotations

from functools import cache

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from app.auth import validation as v
from app.auth.models import User
from app.errors import FieldErrors, collect
from app.extensions import db
from tenants.models import Membership, Role, Tenant
from tenants.regions import all_regions


@cache
def _dummy_hash() -> str:
    # Checking a password against this when the e-mail is unknown keeps both answers equally slow.
    return generate_password_hash("not a real password")


def user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == email.strip().lower()))


def authenticate(email: str, password: str) -> User | None:
    """The active user with this e-mail and password, else ``None``; timing does not tell which part was wrong."""
    user = user_by_email(email)
    if user is None:
        check_password_hash(_dummy_hash(), password)
        return None
    if not user.check_password(password) or not user.is_active:
        return None
    return user


def _region_error(region: str) -> str | None:
    return None if region in all_regions() else _("Choose one of the offered regions.")


def _slug_taken(slug: str) -> str | None:
    taken = db.session.scalar(select(Tenant.id).where(Tenant.slug == slug))
    return _("This address is already taken.") if taken else None


def _email_taken(email: str) -> str | None:
    taken = user_by_email(email)
    return _("An account with this e-mail address already exists. Please log in instead.") if taken else None


def _checked_signup_email(*, tenant_name, slug, name, email, password, locale, timezone, region) -> str:
    """Every field's problem at once (format first, then availability); returns the normalized e-mail."""
    normalized, email_message = v.normalize_email(email)
    collect(
        tenant_name=v.name_error(tenant_name), slug=v.slug_error(slug) or _slug_taken(slug),
        name=v.name_error(name), email=email_message or _email_taken(normalized or ""),
        password=v.password_error(password, email=email), locale=v.locale_error(locale),
        timezone=v.timezone_error(timezone), region=_region_error(region),
    )
    assert normalized is not None  # collect() raised otherwise
    return normalized


def sign_up(*, tenant_name: str, slug: str, name: str, email: str, password: str, locale: str = "en",
            timezone: str = "UTC", region: str | None = None) -> tuple[Tenant, User]:
    """Create a tenant and its owner in one transaction.

    Raises ``FieldErrors`` (nothing is created) when any field is invalid or the slug or e-mail is taken,
    including when a concurrent sign-up wins the race for them.
    """
    region = region or next(iter(all_regions()))
    email = _checked_signup_email(tenant_name=tenant_name, slug=slug, name=name, email=email, password=password,
                                  locale=locale, timezone=timezone, region=region)
    tenant = Tenant(slug=slug, name=tenant_name.strip(), region=region, default_locale=locale, timezone=timezone)
    user = User(email=email, name=name.strip(), locale=None, timezone=None)
    user.set_password(password)
    db.session.add_all([tenant, user, Membership(tenant=tenant, user=user, role=Role.OWNER)])
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise FieldErrors({"slug": _("This address is already taken.")}) from None
    current_app.logger.info("tenant signed up", extra={"tenant": tenant.slug})
    return tenant, user


def update_preferences(user: User, *, locale: str | None, timezone: str | None) -> None:
    """A user's own language and time zone; empty means "use the tenant's"."""
    collect(locale=v.locale_error(locale) if locale else None,
            timezone=v.timezone_error(timezone) if timezone else None)
    user.locale, user.timezone = locale or None, timezone or None
    db.session.commit()
