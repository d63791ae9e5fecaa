"""Rules shared by the HTML forms and the API schemas, so both answer with the same localized messages."""

from __future__ import annotations

import re
import zoneinfo
from functools import cache

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_babel import gettext as _

from tenants.models import NAME_MAX, SLUG_MAX

PASSWORD_MIN = 10
PASSWORD_MAX = 256
LOCALES = ("en", "de", "fr", "es", "ja")
SLUG_PATTERN = re.compile(rf"^[a-z0-9](?:[a-z0-9-]{{0,{SLUG_MAX - 2}}}[a-z0-9])?$")
RESERVED_SLUGS = frozenset({"admin", "api", "static", "hooks", "login", "logout", "signup", "t", "www"})
_COMMON_PASSWORDS = frozenset({
    "password", "password1", "password123", "123456789", "1234567890", "qwertyuiop", "letmein123", "iloveyou",
    "welcome123", "administrator", "changeme123", "passw0rd123", "qwerty12345", "abcdefghij", "0123456789",
})


@cache
def known_timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def slug_error(slug: str) -> str | None:
    if not SLUG_PATTERN.match(slug):
        return _("Use 1 to %(max)s lower-case letters, digits and dashes, starting and ending with a letter or digit.",
                 max=SLUG_MAX)
    if slug in RESERVED_SLUGS:
        return _("This address is reserved. Please choose another.")
    return None


def name_error(name: str, max_length: int = NAME_MAX) -> str | None:
    if not name.strip():
        return _("This field is required.")
    if len(name) > max_length:
        return _("Use at most %(max)s characters.", max=max_length)
    return None


def password_error(password: str, *, email: str = "") -> str | None:
    """Length first, then the guessable: common passwords, one repeated character, the e-mail's local part."""
    if len(password) < PASSWORD_MIN:
        return _("Use at least %(min)s characters.", min=PASSWORD_MIN)
    if len(password) > PASSWORD_MAX:
        return _("Use at most %(max)s characters.", max=PASSWORD_MAX)
    lowered = password.lower()
    local_part = email.split("@")[0].lower()
    if lowered in _COMMON_PASSWORDS or len(set(lowered)) < 4 or (len(local_part) > 3 and local_part in lowered):
        return _("This password is too easy to guess. Please choose a less common one.")
    return None


def normalize_email(email: str) -> tuple[str | None, str | None]:
    """``(normalized, None)`` for a valid address, ``(None, message)`` otherwise. No DNS lookups."""
    # Outside production, the special-use ".test" domain of the dev stack and the tests is a real address.
    test_environment = current_app.config["POSTROOM_ENV"] != "production"
    try:
        return validate_email(email, check_deliverability=False,
                              test_environment=test_environment).normalized.lower(), None
    except EmailNotValidError:
        return None, _("Enter a valid e-mail address, such as name@example.com.")


def locale_error(locale: str) -> str | None:
    return None if locale in LOCALES else _("Choose one of the offered languages.")


def timezone_error(tz: str) -> str | None:
    return None if tz in known_timezones() else _("Choose a time zone from the list.")
