from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField
from wtforms.validators import InputRequired

from app.forms import locale_choices, timezone_choices

_REQUIRED = InputRequired(message=_l("This field is required."))


class LoginForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[_REQUIRED])
    password = PasswordField(_l("Password"), validators=[_REQUIRED])
    remember = BooleanField(_l("Keep me signed in"))


class SignupForm(FlaskForm):
    tenant_name = StringField(_l("Organization name"), validators=[_REQUIRED])
    slug = StringField(_l("Portal address"), validators=[_REQUIRED],
                       description=_l("Lower-case letters, digits and dashes; your portal lives at /t/<address>/."))
    name = StringField(_l("Your name"), validators=[_REQUIRED])
    email = EmailField(_l("E-mail"), validators=[_REQUIRED])
    password = PasswordField(_l("Password"), validators=[_REQUIRED],
                             description=_l("At least 10 characters; avoid common passwords."))
    locale = SelectField(_l("Language"), default="en", validate_choice=False)
    timezone = SelectField(_l("Time zone"), default="UTC", validate_choice=False)
    region = SelectField(_l("Data region"), validate_choice=False)

    def __init__(self, *args, regions: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.locale.choices = locale_choices()
        self.timezone.choices = timezone_choices()
        self.region.choices = [(r, r) for r in regions]
