"""What webhook events say about tickets, messages and mailboxes: ids, references and states, never secrets or
mail bodies (a receiver that wants the text asks the API with its token)."""

from __future__ import annotations

from app.extensions import db
from app.tickets.models import Message, Ticket


def ticket_data(ticket: Ticket) -> dict:
    requester = ticket.requester
    return {"id": ticket.id, "reference": ticket.reference, "subject": ticket.subject,
            "status": ticket.status.value, "priority": ticket.priority.value, "queue_id": ticket.queue_id,
            "assignee_id": ticket.assignee_id, "mailbox_id": ticket.mailbox_id,
            "requester": {"email": requester.email, "name": requester.name} if requester else None,
            "created_at": ticket.created_at.isoformat(), "updated_at": ticket.updated_at.isoformat()}


def message_data(message: Message) -> dict:
    return {"id": message.id, "ticket_id": message.ticket_id, "direction": message.direction.value,
            "message_id": message.message_id, "from": message.from_address, "to": [a for _n, a in message.to or []],
            "subject": message.subject, "thread_reason": message.thread_reason.value,
            "automatic": message.automatic, "delivery_status": message.delivery_status,
            "created_at": message.created_at.isoformat()}


def message_event(message_id: int, **extra) -> dict:
    message = db.session.get(Message, message_id)
    return {"message": message_data(message), "ticket": ticket_data(message.ticket), **extra}


def mailbox_data(mailbox, **extra) -> dict:
    return {"mailbox": {"id": mailbox.id, "name": mailbox.name, "address": mailbox.address,
                        "status": mailbox.status.value, "failure_category": mailbox.last_failure_category}, **extra}


def alert_data(alert) -> dict:
    """An alert (``app.alerts``): its kind, what it concerns (``subject``: "mailbox:12", "outbox"…) and the figures
    found when it opened."""
    return {"alert": {"id": alert.id, "kind": alert.kind, "subject": alert.subject_key, "label": alert.label,
                      "detail": alert.detail, "opened_at": alert.opened_at.isoformat(),
                      "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None}}
