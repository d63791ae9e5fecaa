"""The events Postroom sends a notification for: who gets it, when, and which merge fields it fills."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString

# Audiences: who the notification is addressed to.
REQUESTER, SENDER, AGENT, ADMINS, INVITEE = "requester", "sender", "agent", "admins", "invitee"
AUDIENCE_LABELS = {
    REQUESTER: _l("The requester"),
    SENDER: _l("The sender of the mail"),
    AGENT: _l("Agents"),
    ADMINS: _l("The tenant's admins"),
    INVITEE: _l("The person invited"),
}
_TICKET = ("ticket_reference", "ticket_subject", "ticket_status", "ticket_url", "requester_name", "requester_email",
           "mailbox_name", "mailbox_address", "created_at", "when", "tenant_name")


@dataclass(frozen=True)
class Event:
    name: str
    label: LazyString
    description: LazyString
    audience: str
    fields: tuple[str, ...]
    # Non-essential notifications are the ones a requester may opt out of (Contact.notifications_opt_out).
    essential: bool = True


EVENTS: dict[str, Event] = {event.name: event for event in (
    Event("acknowledgement", _l("Ticket received"),
          _l("Sent to the requester when their mail opens a new ticket."), REQUESTER, _TICKET),
    Event("agent_reply", _l("Agent reply"),
          _l("Wraps an agent's reply to the requester: the reply's text goes where the template says."), REQUESTER,
          (*_TICKET, "assignee_name", "agent_name", "reply_text")),
    Event("status_changed", _l("Status changed"),
          _l("Sent to the requester when their ticket's status changes, e.g. when it is resolved."), REQUESTER,
          (*_TICKET, "assignee_name"), essential=False),
    Event("escalation", _l("Escalation"),
          _l("Sent to agents when a ticket is escalated, e.g. when it waited too long for an answer."), AGENT,
          (*_TICKET, "assignee_name", "reason")),
    Event("attachment_withheld", _l("Attachment withheld"),
          _l("Sent to the sender when an attachment of their mail was withheld: too large, or of a blocked type."),
          SENDER, (*_TICKET, "attachments", "reason")),
    Event("reauth_required", _l("Mailbox needs re-connecting"),
          _l("Sent to the tenant's admins when a mailbox's sign-in expired and it must be connected again."), ADMINS,
          ("mailbox_name", "mailbox_address", "mailbox_url", "reason", "when", "tenant_name")),
    Event("delivery_failed", _l("Reply not delivered"),
          _l("Sent to the agent whose reply could not be delivered to the requester."), AGENT,
          (*_TICKET, "assignee_name", "recipients", "reason")),
    Event("invitation", _l("Invitation"),
          _l("Sent to a person invited to join the tenant; the link lets them accept."), INVITEE,
          ("tenant_name", "inviter_name", "invitation_url", "when")),
    Event("mailbox_failing", _l("Mailbox failing"),
          _l("Sent to the tenant's admins when a mailbox keeps failing to sync or send."), ADMINS,
          ("mailbox_name", "mailbox_address", "mailbox_url", "reason", "when", "tenant_name")),
    Event("webhook_disabled", _l("Webhook switched off"),
          _l("Sent to the tenant's admins when a webhook endpoint kept failing and was switched off."), ADMINS,
          ("webhook_url", "webhooks_url", "reason", "when", "tenant_name")),
    Event("alert_opened", _l("Alert"),
          _l("Sent to the tenant's admins when an alert rule finds a problem, e.g. mail piling up in the outbox. "
             "A mailbox that keeps failing is announced by its own notification."), ADMINS,
          ("alert_title", "alert_detail", "alerts_url", "when", "tenant_name")),
    Event("alert_resolved", _l("Alert resolved"),
          _l("Sent to the tenant's admins when the problem an alert reported has cleared."), ADMINS,
          ("alert_title", "alert_detail", "alerts_url", "when", "tenant_name")),
)}


def opted_out(event: str, contact) -> bool:
    """Whether ``contact`` asked not to get ``event``: only non-essential notifications can be declined."""
    return contact is not None and bool(contact.notifications_opt_out) and not EVENTS[event].essential
