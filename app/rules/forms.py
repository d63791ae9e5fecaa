from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField, TextAreaField

# What each rule field and priority is called on the page (the stored values are the API's).
FIELD_LABELS = {"subject": _l("Subject"), "body": _l("Body"), "sender": _l("Sender"),
                "any": _l("Subject, sender or body")}
PRIORITY_LABELS = {"low": _l("Low"), "normal": _l("Normal"), "high": _l("High"), "urgent": _l("Urgent")}


class RuleForm(FlaskForm):
    """Choices are not checked here: the service answers a bad choice with the same message as the API."""

    name = StringField(_l("Name"), description=_l("Shown in the ticket's timeline, e.g. \"Outages to Operations\"."))
    field = SelectField(_l("Look in"), validate_choice=False)
    pattern = StringField(
        _l("Pattern"),
        description=_l("A regular expression; upper and lower case are the same. Example: outage|down|not working"))
    queue_id = SelectField(_l("Move to queue"), validate_choice=False)
    category = StringField(_l("Set category"), description=_l("Optional, e.g. billing."))
    priority = SelectField(_l("Set priority"), validate_choice=False)
    stop = BooleanField(_l("Stop here: when this rule matches, later rules are not applied"))
    active = BooleanField(_l("Active"), default=True)

    def __init__(self, *args, queues=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.field.choices = tuple((value, str(label)) for value, label in FIELD_LABELS.items())
        self.queue_id.choices = (("", str(_l("Keep the queue"))), *((str(q.id), q.name) for q in queues))
        self.priority.choices = (("", str(_l("Keep the priority"))),
                                 *((value, str(label)) for value, label in PRIORITY_LABELS.items()))

    def show(self, rule) -> RuleForm:
        """Fill the selects from a stored rule (their values are text; a missing queue or priority is "")."""
        self.queue_id.data = str(rule.queue_id or "")
        self.priority.data = rule.priority or ""
        return self

    def values(self) -> dict:
        """The submitted rule, as the services take it. A queue that is not a number goes on as text, which the
        service refuses like any queue that is not the tenant's."""
        queue = (self.queue_id.data or "").strip()
        queue_id = int(queue) if queue.isascii() and queue.isdigit() else (queue or None)
        return {"name": self.name.data or "", "field": self.field.data or "", "pattern": self.pattern.data or "",
                "queue_id": queue_id, "category": self.category.data, "priority": self.priority.data or None,
                "stop": self.stop.data, "active": self.active.data}


class RuleTestForm(FlaskForm):
    sender = StringField(lazy_pgettext("mail header", "From"),
                         description=_l("The sender's address, e.g. jo@example.com."))
    subject = StringField(_l("Subject"))
    body = TextAreaField(_l("Body"), render_kw={"rows": 6})
