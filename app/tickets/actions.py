"""What agents do to tickets: the verbs behind the inbox's buttons, its bulk actions and the API.

Every verb bumps the ticket's ``version`` (so another agent's open form notices), writes a timeline entry with the
agent as actor and an audit event; the caller commits. ``changes_since`` tells an agent what happened to a ticket
after they opened it (the collision prompt).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update

from app.audit.services import record
from app.auth.models import User
from app.extensions import db
from app.outbound import notifications
from app.tickets.models import Direction, Message, Priority, Ticket, TicketEvent, TicketStatus
from app.tickets.services import TicketNumbers, log_event, open_ticket
from tenants.models import Membership, Tenant, utcnow


class NotAMember(ValueError):
    """The chosen assignee is not a member of the ticket's tenant."""


@dataclass
class Change:
    """Something that happened to a ticket after an agent opened it."""

    at: datetime
    kind: str  # an event kind, or "message" / "note" / "reply"
    actor_id: int | None
    event: TicketEvent | None = None
    message: Message | None = None


def members(tenant: Tenant) -> list[User]:
    return list(db.session.scalars(select(User).join(Membership, Membership.user_id == User.id)
                                   .where(Membership.tenant_id == tenant.id).order_by(User.name, User.email)))


def member(tenant: Tenant, user_id: int | None) -> User | None:
    """The member with this id; ``None`` for no one; ``NotAMember`` for anyone else (another tenant's user)."""
    if user_id is None:
        return None
    user = db.session.scalar(select(User).join(Membership, Membership.user_id == User.id)
                             .where(Membership.tenant_id == tenant.id, User.id == user_id))
    if user is None:
        raise NotAMember(user_id)
    return user


def _changed(tenant: Tenant, ticket: Ticket, actor: User, field: str, before, after, **detail) -> None:
    ticket.version = (ticket.version or 1) + 1
    ticket.updated_at = utcnow()
    log_event(ticket, "changed", {"field": field, "from": before, "to": after, **detail}, actor_id=actor.id)
    record(tenant, f"ticket.{field}", object_type="ticket", object_id=ticket.id, label=ticket.reference,
           changes={field: [before, after]})
    from app.webhooks.payloads import ticket_data
    from app.webhooks.services import emit

    emit(tenant, "ticket.updated", lambda: {"ticket": ticket_data(ticket), "changes": {field: [before, after]},
                                            "actor": {"id": actor.id, "email": actor.email}})


def assign(tenant: Tenant, ticket: Ticket, assignee: User | None, *, actor: User) -> bool:
    """Assign (or, with ``None``, unassign); whether anything changed."""
    new_id = assignee.id if assignee else None
    if ticket.assignee_id == new_id:
        return False
    before, ticket.assignee_id = ticket.assignee_id, new_id
    _changed(tenant, ticket, actor, "assignee", before, new_id,
             name=(assignee.name or assignee.email) if assignee else None)
    return True


def set_status(tenant: Tenant, ticket: Ticket, status: TicketStatus, *, actor: User, notify: bool = True) -> bool:
    """``notify``: tell the requester (held a few seconds: rapid changes make one mail with the final status)."""
    if ticket.status == status:
        return False
    before, ticket.status = ticket.status.value, status
    ticket.closed_at = utcnow() if status == TicketStatus.CLOSED else None
    _changed(tenant, ticket, actor, "status", before, status.value)
    if notify and ticket.requester is not None:
        notifications.status_changed(tenant, ticket)
    return True


def set_priority(tenant: Tenant, ticket: Ticket, priority: Priority, *, actor: User) -> bool:
    """Raising a ticket to urgent escalates it: its assignee (or, unassigned, every agent) is told by mail."""
    if ticket.priority == priority:
        return False
    before, ticket.priority = ticket.priority.value, priority
    _changed(tenant, ticket, actor, "priority", before, priority.value)
    if priority == Priority.URGENT:
        assignee = db.session.get(User, ticket.assignee_id) if ticket.assignee_id else None
        notifications.escalation(tenant, ticket, [assignee] if assignee else [
            user for user in members(tenant) if user.id != actor.id])
    return True


def set_queue(tenant: Tenant, ticket: Ticket, queue_id: int | None, *, actor: User) -> bool:
    """``queue_id`` must be one of the tenant's queues (the caller checked: a form's choice or the API's lookup)."""
    if ticket.queue_id == queue_id:
        return False
    before, ticket.queue_id = ticket.queue_id, queue_id
    _changed(tenant, ticket, actor, "queue", before, queue_id)
    return True


def add_note(tenant: Tenant, ticket: Ticket, body: str, *, actor: User) -> Message:
    """An internal note: on the thread for agents, never sent to anyone."""
    return _agent_message(tenant, ticket, body, actor, Direction.NOTE, "note_added")


class ReplyBlocked(Exception):
    """A data-loss-prevention rule stopped the reply; ``message`` tells the agent which and why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def queue_reply(tenant: Tenant, ticket: Ticket, body: str, *, actor: User) -> Message:
    """A reply to the requester, on the thread at once and into the outbox (sent by a worker). The tenant's
    data-loss-prevention rules run first: a blocking rule raises ``ReplyBlocked`` before anything changes; redacting
    rules change the text that is kept and sent."""
    from app.dlp.services import describe_block, scan_outgoing

    verdict = scan_outgoing(tenant, body, subject=ticket.subject)
    if verdict.blocked:
        raise ReplyBlocked(describe_block(verdict))
    message = _agent_message(tenant, ticket, verdict.text, actor, Direction.OUTBOUND, "reply_queued")
    message.delivery_status = "queued"
    if verdict.redacted:
        log_event(ticket, "reply_redacted", {"rules": sorted({f.rule for f in verdict.redacted})},
                  message=message, actor_id=actor.id)
    if ticket.status in (TicketStatus.OPEN,):
        set_status(tenant, ticket, TicketStatus.PENDING, actor=actor, notify=False)  # waiting for the customer
    db.session.flush()  # the message's id, for the outbox row
    notifications.reply(tenant, ticket, message, actor)
    return message


def _agent_message(tenant: Tenant, ticket: Ticket, body: str, actor: User, direction: Direction,
                   kind: str) -> Message:
    now = utcnow()
    message = Message(tenant_id=tenant.id, ticket=ticket, direction=direction, text=body, author_id=actor.id,
                      from_address=actor.email, from_name=actor.name or "", subject=ticket.subject,
                      created_at=now, sent_at=now)
    db.session.add(message)
    ticket.version = (ticket.version or 1) + 1
    ticket.updated_at = now
    if direction == Direction.OUTBOUND:
        ticket.last_message_at = now
    log_event(ticket, kind, {}, message=message, actor_id=actor.id)
    record(tenant, f"ticket.{kind}", object_type="ticket", object_id=ticket.id, label=ticket.reference)
    return message


def split(tenant: Tenant, message: Message, *, actor: User) -> Ticket:
    """Move ``message`` (an inbound mail of a ticket with more than one) to a new ticket of the same requester."""
    source = message.ticket
    numbers = TicketNumbers(tenant)
    ticket = open_ticket(tenant, numbers, subject=message.subject or source.subject,
                         normalized_subject=source.normalized_subject, requester=source.requester,
                         mailbox_id=source.mailbox_id, queue_id=source.queue_id, priority=source.priority)
    numbers.save()  # else the tenant's next ticket would be given this one's number again
    db.session.flush()
    message.ticket = ticket
    db.session.execute(update(TicketEvent).where(TicketEvent.tenant_id == tenant.id,
                                                 TicketEvent.message_id == message.id).values(ticket_id=ticket.id))
    for changed in (source, ticket):
        changed.version = (changed.version or 1) + 1
        changed.updated_at = utcnow()
    ticket.last_message_at = message.created_at
    log_event(source, "split_out", {"ticket": ticket.reference, "ticket_id": ticket.id}, actor_id=actor.id)
    log_event(ticket, "split_from", {"ticket": source.reference, "ticket_id": source.id}, actor_id=actor.id)
    record(tenant, "ticket.split", object_type="ticket", object_id=source.id, label=source.reference,
           changes={"message_id": message.id, "new_ticket": ticket.reference})
    return ticket


def survivor(tenant: Tenant, ticket: Ticket) -> Ticket:
    """The ticket ``ticket`` ended up in: itself, or (merged away) the one its merges lead to. Merging into a
    merged ticket lands there, so merges never form a loop."""
    for _hop in range(50):
        if ticket.merged_into_id is None:
            return ticket
        ticket = db.session.scalar(Ticket.all(tenant).where(Ticket.id == ticket.merged_into_id)) or ticket
        if ticket.merged_into_id is not None and ticket.id == ticket.merged_into_id:
            break
    return ticket


def merge(tenant: Tenant, source: Ticket, target: Ticket, *, actor: User) -> None:
    """Move every message and timeline entry of ``source`` onto ``target``; ``source`` is closed and points there."""
    if source.id == target.id:
        raise ValueError("a ticket cannot be merged into itself")
    for model in (Message, TicketEvent):
        db.session.execute(update(model).where(model.tenant_id == tenant.id, model.ticket_id == source.id)
                           .values(ticket_id=target.id).execution_options(synchronize_session=False))
    db.session.expire(source, ["messages"])
    db.session.expire(target, ["messages"])
    source.merged_into_id = target.id
    source.status, source.closed_at = TicketStatus.CLOSED, utcnow()
    target.last_message_at = max(target.last_message_at, source.last_message_at)
    for changed in (source, target):
        changed.version = (changed.version or 1) + 1
        changed.updated_at = utcnow()
    log_event(source, "merged_into", {"ticket": target.reference, "ticket_id": target.id}, actor_id=actor.id)
    log_event(target, "merged_from", {"ticket": source.reference, "ticket_id": source.id}, actor_id=actor.id)
    record(tenant, "ticket.merge", object_type="ticket", object_id=source.id, label=source.reference,
           changes={"into": target.reference})


def changes_since(tenant: Tenant, ticket: Ticket, since: datetime, *, viewer: User) -> list[Change]:
    """What others did to ``ticket`` after ``since`` (when the viewer's page was made): messages, notes, changes."""
    events = db.session.scalars(TicketEvent.all(tenant).where(
        TicketEvent.ticket_id == ticket.id, TicketEvent.created_at > since, TicketEvent.actor_id.is_not(None),
        TicketEvent.actor_id != viewer.id).order_by(TicketEvent.id))
    messages = db.session.scalars(Message.all(tenant).where(
        Message.ticket_id == ticket.id, Message.created_at > since,
        (Message.author_id.is_(None)) | (Message.author_id != viewer.id)).order_by(Message.id))
    found = [Change(e.created_at, e.kind, e.actor_id, event=e) for e in events
             if e.kind not in ("note_added", "reply_queued")]
    found += [Change(m.created_at, _message_kind(m), m.author_id, message=m) for m in messages]
    return sorted(found, key=lambda change: change.at)


def _message_kind(message: Message) -> str:
    return {Direction.NOTE: "note", Direction.OUTBOUND: "reply"}.get(message.direction, "message")
