from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, IntegerField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Optional

from app.forms import locale_choices, timezone_choices

_REQUIRED = InputRequired(message=_l("This field is required."))


class TenantForm(FlaskForm):
    name = StringField(_l("Organization name"), validators=[_REQUIRED])
    default_locale = SelectField(_l("Default language"), validate_choice=False)
    timezone = SelectField(_l("Default time zone"), validate_choice=False)
    allowed_sender_domains = TextAreaField(
        _l("Sender domains that may open tickets"),
        description=_l("One per line or comma-separated, e.g. example.com. Empty: anyone may write in."))
    allowed_mailbox_domains = TextAreaField(
        _l("Domains mailboxes may be connected for"), description=_l("Empty: any domain."))
    allow_plaintext = BooleanField(_l("Allow unencrypted mail connections (not recommended)"))
    failure_threshold = IntegerField(_l("Mark a mailbox as failing after this many failures in a row"),
                                     validators=[Optional()])

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


class OAuthAppForm(FlaskForm):
    client_id = StringField(_l("Client ID"))
    client_secret = PasswordField(_l("Client secret"), description=_l("Leave empty to keep the stored secret."))
    secret_expires_on = DateField(_l("Secret expires on (optional)"), validators=[Optional()],
                                  description=_l("Postroom warns you two weeks before."))
    directory = StringField(_l("Directory (tenant) ID"), description=_l("Microsoft only: your tenant ID or domain; "
                                                                       "empty for any organization."))
