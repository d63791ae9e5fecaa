"""Form helpers shared by the features' ``forms.py``."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm

from app.auth.validation import LOCALES, known_timezones
from app.errors import FieldErrors

LOCALE_NAMES = {"en": "English", "de": "Deutsch", "fr": "Français", "es": "Español", "ja": "日本語"}


def locale_choices(*, inherit: bool = False) -> list[tuple[str, str]]:
    choices = [(code, LOCALE_NAMES[code]) for code in LOCALES]
    return [("", str(_l("Same as the tenant"))), *choices] if inherit else choices


def timezone_choices(*, inherit: bool = False) -> list[tuple[str, str]]:
    choices = [(tz, tz) for tz in sorted(known_timezones())]
    return [("", str(_l("Same as the tenant"))), *choices] if inherit else choices


def show_field_errors(form: FlaskForm, error: FieldErrors) -> None:
    """Attach a service's field errors to the form fields (unknown fields go to the form as a whole)."""
    for name, message in error.errors.items():
        field = getattr(form, name, None)
        if field is not None:
            field.errors = [*field.errors, message]
        else:
            form.form_errors.append(message)
