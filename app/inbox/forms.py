"""The ticket page's forms. Each carries the ticket ``version`` it was opened at, and when: a stale version means
another agent (or the requester) got there first, and the agent sees what changed before anything goes out."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

BODY_MAX = 100_000


class _Versioned(FlaskForm):
    """Several of these share the ticket page: each has its own prefix, so ids and names never clash."""

    prefix_name = ""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, prefix=self.prefix_name, **kwargs)

    version = IntegerField(widget=HiddenField.widget)
    opened_at = HiddenField()
    confirm = HiddenField(default="")  # "1": the agent saw what changed and goes on


class TicketFieldsForm(_Versioned):
    prefix_name = "fields"
    assignee = SelectField(_l("Assignee"), validate_choice=False)
    status = SelectField(_l("Status"), validate_choice=False)
    priority = SelectField(_l("Priority"), validate_choice=False)
    queue = SelectField(_l("Queue"), validate_choice=False)


class NoteForm(_Versioned):
    prefix_name = "note"
    body = TextAreaField(_l("Internal note"), validators=[DataRequired(_l("Write the note first.")),
                                                           Length(max=BODY_MAX)])


class ReplyForm(_Versioned):
    prefix_name = "reply"
    body = TextAreaField(_l("Reply"), validators=[DataRequired(_l("Write the reply first.")), Length(max=BODY_MAX)])


class MergeForm(_Versioned):
    prefix_name = "merge"
    target = StringField(_l("Merge into ticket"), validators=[DataRequired(_l("Give the reference of the ticket to "
                                                                              "merge into, e.g. ACME-12."))])


class RequesterForm(FlaskForm):
    """How the desk writes to a requester: their language and time zone (empty: detected from their mail, the
    tenant's time zone) and whether they get non-essential notices such as status changes."""

    locale = SelectField(_l("Language"), validate_choice=False)
    timezone = SelectField(_l("Time zone"), validate_choice=False)
    notifications_opt_out = BooleanField(_l("No status notifications"))

    def __init__(self, *args, **kwargs) -> None:
        from app.forms import locale_choices, timezone_choices

        super().__init__(*args, prefix="requester", **kwargs)
        self.locale.choices = [("", str(_l("Detect from their mail"))), *locale_choices()]
        self.timezone.choices = timezone_choices(inherit=True)
