from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, IntegerField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Optional
from wtforms.widgets import NumberInput

from app.forms import locale_choices, timezone_choices
from app.settings.inbound import INBOUND_FIELDS

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
    commlog_retention_days = IntegerField(_l("Keep the communication log for (days)"), validators=[Optional()])
    audit_retention_days = IntegerField(_l("Keep the audit log for (days)"), validators=[Optional()])

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


class InboundPolicyForm(FlaskForm):
    """Numbers are text fields with a number widget: the service checks them, with the same messages as the API."""

    ticket_prefix = StringField(
        _l("Ticket reference prefix"),
        description=_l("Up to 12 letters or digits. Subjects carry references such as [#ACME-1042]. "
                       "Empty: derived from your portal address."))
    reopen_policy = SelectField(_l("When a requester answers a closed ticket"), validate_choice=False)
    subject_window_hours = StringField(
        _l("Match replies by subject for (hours)"), widget=NumberInput(min=1, max=720),
        description=_l("A reply that carries neither mail headers nor a ticket reference joins the requester's "
                       "ticket with the same subject if that ticket was active within this many hours (1 to 720)."))
    sender_rate_limit = StringField(
        _l("Acknowledgements per sender and hour"), widget=NumberInput(min=0, max=10000),
        description=_l("After this many mails from one sender within an hour, Postroom stops sending that sender "
                       "automatic replies, which breaks mail loops with other robots. 0 turns the limit off."))
    trusted_authserv_ids = TextAreaField(
        _l("Trusted receiving servers (authserv-ids)"), render_kw={"rows": 3},
        description=_l("The name your receiving mail server writes into Authentication-Results, e.g. "
                       "mx.example.com — headers from any other server are ignored because senders can forge them. "
                       "One per line. Empty: no SPF, DKIM or DMARC verdicts are used."))
    dmarc_policy = SelectField(_l("Mail that fails DMARC at a trusted server"), validate_choice=False)
    max_attachment_mb = StringField(
        _l("Largest attachment (MB)"), widget=NumberInput(min=1, max=100),
        description=_l("1 to 100 MB. Larger attachments are withheld; the mail itself still reaches the ticket."))
    blocked_attachment_types = TextAreaField(
        _l("Blocked attachment types"), render_kw={"rows": 3},
        description=_l("File extensions without the dot, one per line, e.g. exe. Such attachments are withheld."))
    vip_senders = TextAreaField(
        _l("VIP senders"), render_kw={"rows": 4},
        description=_l("E-mail addresses or whole domains written as @example.com, one per line. Their tickets "
                       "start at high priority and skip routing rules."))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.reopen_policy.choices = (("reopen", _l("Reopen the closed ticket")),
                                      ("new_linked", _l("Open a new ticket linked to the closed one")))
        self.dmarc_policy.choices = (("flag", _l("Accept it and flag the ticket for agents")),
                                     ("quarantine", _l("Hold it in quarantine")))

    def policy(self) -> dict:
        """The submitted fields, as ``update_inbound_policy`` takes them."""
        return {name: self[name].data or "" for name in INBOUND_FIELDS}
