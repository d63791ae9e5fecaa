from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectMultipleField, StringField
from wtforms.widgets import CheckboxInput, ListWidget

from app.webhooks.models import EVENTS

EVENT_LABELS = {
    "ticket.created": _l("A ticket was opened"), "ticket.updated": _l("An agent changed a ticket"),
    "message.received": _l("A mail arrived"), "message.sent": _l("A reply was delivered"),
    "message.failed": _l("A reply could not be delivered"), "message.bounced": _l("A reply bounced"),
    "mailbox.status_changed": _l("A mailbox's status changed"),
    "mailbox.reauth_required": _l("A mailbox needs re-connecting"),
    "alert.opened": _l("An alert rule found a problem"), "alert.resolved": _l("A problem an alert reported cleared"),
}


class EndpointForm(FlaskForm):
    """Choices are checked by the service (``app.webhooks.endpoints``), which answers with field messages."""

    url = StringField(_l("URL"), description=_l("An https:// address of your system; Postroom POSTs JSON to it."))
    description = StringField(_l("Description (optional)"))
    events = SelectMultipleField(_l("Events"), validate_choice=False, widget=ListWidget(prefix_label=False),
                                 option_widget=CheckboxInput())
    active = BooleanField(_l("Active"), default=True)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.events.choices = [(name, f"{name} — {EVENT_LABELS[name]}") for name in EVENTS]

    def values(self) -> dict:
        return {"url": self.url.data or "", "description": self.description.data or "",
                "events": list(self.events.data or []), "active": bool(self.active.data)}
