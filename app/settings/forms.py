from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import InputRequired

from app.forms import locale_choices, timezone_choices

_REQUIRED = InputRequired(message=_l("This field is required."))


class TenantForm(FlaskForm):
    name = StringField(_l("Organization name"), validators=[_REQUIRED])
    default_locale = SelectField(_l("Default language"), validate_choice=False)
    timezone = SelectField(_l("Default time zone"), validate_choice=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.default_locale.choices = locale_choices()
        self.timezone.choices = timezone_choices()


class PreferencesForm(FlaskForm):
    locale = SelectField(_l("Language"), validate_choice=False)
    timezone = SelectField(_l("Time zone"), validate_choice=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.locale.choices = locale_choices(inherit=True)
        self.timezone.choices = timezone_choices(inherit=True)


class TokenForm(FlaskForm):
    name = StringField(_l("Token name"), validators=[_REQUIRED],
                       description=_l("What the token is for, e.g. \"CRM integration\"."))
