from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, EmailField, IntegerField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Optional

_OPTIONAL = Optional()


class MailboxForm(FlaskForm):
    """Field names match the service's; rules live in ``app.mailboxes.validation`` (shared with the API)."""

    name = StringField(_l("Display name"))
    address = EmailField(_l("E-mail address"))
    aliases = TextAreaField(_l("Other addresses (one per line)"),
                            description=_l("Aliases delivered to this mailbox; they go to its default queue."))
    default_queue_id = SelectField(_l("Default queue"), coerce=lambda v: int(v) if v else None, validate_choice=False)

    inbound_protocol = SelectField(_l("Protocol"), validate_choice=False)
    inbound_host = StringField(_l("Server"), description=_l("For example imap.example.com"))
    inbound_port = IntegerField(_l("Port"), validators=[_OPTIONAL], default=993)
    inbound_security = SelectField(_l("Security"), validate_choice=False)
    inbound_username = StringField(_l("User name"))
    inbound_password = PasswordField(_l("Password"), description=_l("Leave empty to keep the stored password."))
    folders = StringField(_l("Folders"), default="INBOX", description=_l("Comma-separated, e.g. INBOX, Support"))
    after_fetch = SelectField(_l("After fetching"), validate_choice=False)
    move_to_folder = StringField(_l("Move to folder"))
    sync_mode = SelectField(_l("Sync"), validate_choice=False)
    poll_interval = IntegerField(_l("Poll interval (seconds)"), validators=[_OPTIONAL], default=60)
    ca_pem = TextAreaField(_l("Private CA certificate (optional, PEM)"))

    outbound_mode = SelectField(_l("Sending"), validate_choice=False)
    outbound_host = StringField(_l("SMTP server"))
    outbound_port = IntegerField(_l("SMTP port"), validators=[_OPTIONAL], default=587)
    outbound_security = SelectField(_l("SMTP security"), validate_choice=False)
    outbound_username = StringField(_l("SMTP user name"))
    outbound_password = PasswordField(_l("SMTP password"), description=_l("Leave empty to keep the stored password."))
    from_name = StringField(_l("Sender name"))
    reply_to = EmailField(_l("Reply-To address (optional)"))
    signature = TextAreaField(_l("Signature"), description=_l("Added below every reply and notification from this "
                                                               "mailbox."))
    disclaimer = TextAreaField(_l("Disclaimer"), description=_l("Added below the signature."))
    sent_folder = StringField(_l("Sent folder (optional)"), description=_l(
        "An IMAP folder, such as Sent, that keeps a copy of every mail sent from this mailbox."))

    def __init__(self, *args, queues=(), allow_plaintext: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.inbound_protocol.choices = [("imap", "IMAP"), ("pop3", "POP3")]
        self.after_fetch.choices = [
            ("keep", _("Keep on the server (tracked by UID)")), ("mark_seen", _("Mark as read")),
            ("move", _("Move to a folder")), ("delete", _("Delete from the server"))]
        self.sync_mode.choices = [("poll", _("Poll at an interval")), ("idle", _("Push (IMAP IDLE)"))]
        self.outbound_mode.choices = [
            ("own", _("Our own SMTP server")), ("relay", _("The region's relay")), ("none", _("Do not send"))]
        self.default_queue_id.choices = [("", _("No queue")), *((q.id, q.name) for q in queues)]
        security = [("tls", "TLS"), ("starttls", "STARTTLS")]
        if allow_plaintext:
            security.append(("none", _("None (unencrypted: passwords cross the network readable)")))
        self.inbound_security.choices = security
        self.outbound_security.choices = security

    def settings(self) -> dict:
        """The submitted settings in the service's shape."""
        from app.mailboxes.services import SETTINGS

        data = {name: getattr(self, name).data for name in SETTINGS if name not in ("folders", "oauth_grant_id")}
        data["folders"] = [f.strip() for f in (self.folders.data or "").split(",") if f.strip()]
        return data

    def alias_list(self) -> list[str]:
        return [line.strip() for line in (self.aliases.data or "").splitlines() if line.strip()]


class AliasForm(FlaskForm):
    address = EmailField(_l("Address"))
    queue_id = SelectField(_l("Queue"), coerce=lambda v: int(v) if v else None, validate_choice=False)


class BackfillForm(FlaskForm):
    since = DateField(_l("Import mail since"), validators=[InputRequired(message=_l("Choose a date."))],
                      description=_l("Mail from this day on that is still on the server is imported; mail already "
                                     "imported is not imported twice."))
