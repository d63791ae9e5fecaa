"""Which mail an event sends, to whom, from which mailbox and in which language; the outbox does the rest.

Requester mail goes out through the ticket's mailbox (the address they wrote to), in their language
(``app.notify.rendering.choose_locale``) and time zone. Mail to agents and admins that concerns no ticket (alerts,
invitations) goes through the region's relay. A notice to several agents is one mail with the agents in Bcc.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import current_app, url_for
from sqlalchemy import select

from app.auth.models import User
from app.extensions import db
from app.mail.threading_keys import ticket_token
from app.mailboxes.models import Mailbox, OutboundMode
from app.outbound.compose import Draft
from app.outbound.models import OutgoingKind, OutgoingMail
from app.outbound.outbox import queue_mail, suppress
from app.tickets.models import Contact, Direction, Message, Ticket
from tenants.models import Tenant
from tenants.regions import get_region

NON_ESSENTIAL = frozenset({"status_changed"})  # a requester who opted out does not get these


def reply(tenant: Tenant, ticket: Ticket, message: Message, author: User) -> OutgoingMail | None:
    """An agent's reply (``message``, already on the thread and flushed) to the ticket's requester. Without a
    mailbox that sends, the reply is kept as ``suppressed`` and its message marked ``not_sent``."""
    requester = ticket.requester
    mailbox = _sending_mailbox(ticket)
    fields = {**ticket_fields(tenant, ticket), "reply_text": message.text or "", "agent_name": author.name or ""}
    draft = _requester_draft(tenant, ticket, mailbox, "agent_reply", fields, automatic=False)
    if draft is None:
        return None
    common = {"kind": OutgoingKind.REPLY, "mailbox": mailbox, "ticket_id": ticket.id, "message_id": message.id,
              "event_name": "agent_reply", "author_id": author.id}
    if mailbox is None:
        outgoing = suppress(tenant, draft, "mailbox_cannot_send", **common)
        message.delivery_status = "not_sent"
    else:
        outgoing = queue_mail(tenant, draft, **common)
    message.message_id = outgoing.rfc_message_id  # the customer's answer to it threads here by In-Reply-To
    message.subject, message.to = draft.subject, [[requester.name or "", requester.email]]
    return outgoing


def acknowledgement(tenant: Tenant, message: Message) -> OutgoingMail | None:
    ticket = db.session.get(Ticket, message.ticket_id)
    return _to_requester(tenant, ticket, "acknowledgement", in_reply_to=message, source_text=message.text)


def status_changed(tenant: Tenant, ticket: Ticket) -> OutgoingMail | None:
    """Held for ``OUTBOUND_NOTIFY_DELAY``; changes in that time rewrite it (one mail with the final status)."""
    return _to_requester(tenant, ticket, "status_changed", dedupe_key=f"status:{ticket.id}",
                         delay=current_app.config["OUTBOUND_NOTIFY_DELAY"])


def attachment_withheld(tenant: Tenant, message: Message, names: list[str]) -> OutgoingMail | None:
    ticket = db.session.get(Ticket, message.ticket_id)
    return _to_requester(tenant, ticket, "attachment_withheld", in_reply_to=message,
                         extra={"attachments": ", ".join(names)})


def escalation(tenant: Tenant, ticket: Ticket, agents: list[User]) -> OutgoingMail | None:
    """To the ticket's assignee, or every agent of the tenant (in Bcc) when nobody has it."""
    return _to_staff(tenant, "escalation", agents, ticket=ticket, fields=ticket_fields(tenant, ticket))


def delivery_failed_notice(tenant: Tenant, ticket: Ticket, failed: OutgoingMail, author: User,
                           response: str) -> OutgoingMail | None:
    fields = {**ticket_fields(tenant, ticket), "reason": response[:1000], "recipients": ", ".join(failed.recipients)}
    return _to_staff(tenant, "delivery_failed", [author], ticket=ticket, fields=fields)


def mailbox_alert(tenant: Tenant, mailbox: Mailbox, event_name: str, admins: list[User],
                  reason: str = "") -> OutgoingMail | None:
    """``reauth_required`` or ``mailbox_failing``, to the tenant's admins, through the relay."""
    fields = {"mailbox_name": mailbox.name, "mailbox_address": mailbox.address, "reason": reason,
              "mailbox_url": _url("mailboxes.show", tenant, mailbox_id=mailbox.id)}
    return _to_staff(tenant, event_name, admins, fields=fields, dedupe_key=f"{event_name}:{mailbox.id}")


def webhook_disabled(tenant: Tenant, endpoint, admins_: list[User], reason: str) -> OutgoingMail | None:
    """To the tenant's admins: an endpoint that kept failing was switched off (the ``mailbox_failing`` notice's
    wording does not fit; this one has its own event)."""
    page = "webhooks.index" if "webhooks.index" in current_app.view_functions else "portal.dashboard"
    fields = {"reason": reason, "webhook_url": endpoint.url, "webhooks_url": _url(page, tenant)}
    return _to_staff(tenant, "webhook_disabled", admins_, fields=fields, dedupe_key=f"webhook:{endpoint.id}")


def alert_notice(tenant: Tenant, event_name: str, admins_: list[User],
                 fields: Callable[[], dict]) -> OutgoingMail | None:
    """``alert_opened`` or ``alert_resolved`` (``app.alerts``), to the tenant's admins, through the relay.
    ``fields()`` runs in the language the mail is written in: the alert's sentences are translated there."""
    from flask_babel import force_locale

    with force_locale(_staff_locale(tenant, admins_)):
        values = fields()
    return _to_staff(tenant, event_name, admins_, fields={**values, "alerts_url": _url("alerts.index", tenant)})


def invitation(tenant: Tenant, address: str, token: str, inviter: User | None) -> OutgoingMail | None:
    fields = {"invitation_url": _absolute("invitations.accept", token=token), "tenant_name": tenant.name,
              "inviter_name": (inviter.name or inviter.email) if inviter else ""}
    return _system(tenant, "invitation", [address], fields, locale=tenant.default_locale)


def admins(tenant: Tenant) -> list[User]:
    from tenants.models import Membership, Role

    return list(db.session.scalars(select(User).join(Membership, Membership.user_id == User.id).where(
        Membership.tenant_id == tenant.id, Membership.role.in_([Role.OWNER, Role.ADMIN]), User.active)))


# -- building blocks ------------------------------------------------------------------------------------------
def ticket_fields(tenant: Tenant, ticket: Ticket) -> dict:
    """Merge fields about a ticket; ``ticket_status`` is the code until ``_localized`` makes it a word."""
    assignee = db.session.get(User, ticket.assignee_id) if ticket.assignee_id else None
    requester = ticket.requester
    mailbox = db.session.get(Mailbox, ticket.mailbox_id) if ticket.mailbox_id else None
    return {"tenant_name": tenant.name, "mailbox_name": mailbox.name if mailbox else "",
            "mailbox_address": mailbox.address if mailbox else "", "created_at": ticket.created_at,
            "ticket_reference": ticket.reference, "ticket_subject": ticket.subject,
            "ticket_status": ticket.status.value, "assignee_name": assignee.name if assignee else "",
            "requester_name": requester.name if requester else "",
            "requester_email": requester.email if requester else "",
            "ticket_url": _url("inbox.show", tenant, ticket_id=ticket.id)}


def _localized(fields: dict, locale: str) -> dict:
    """Every merge field (a template may use any; those the event has no value for are empty), the status as a
    word in ``locale``."""
    from flask_babel import force_locale

    from app.inbox.labels import STATUSES, label
    from app.notify.fields import MERGE_FIELDS

    complete = {**dict.fromkeys(MERGE_FIELDS, ""), **fields}
    if fields.get("ticket_status"):
        with force_locale(locale):
            complete["ticket_status"] = label(STATUSES, fields["ticket_status"])
    return complete


def _to_requester(tenant: Tenant, ticket: Ticket, event_name: str, *, in_reply_to: Message | None = None,
                  source_text: str | None = None, extra: dict | None = None, dedupe_key: str | None = None,
                  delay: int = 0) -> OutgoingMail | None:
    mailbox = _sending_mailbox(ticket)
    fields = {**ticket_fields(tenant, ticket), **(extra or {})}
    draft = _requester_draft(tenant, ticket, mailbox, event_name, fields, automatic=True, source_text=source_text,
                             in_reply_to=in_reply_to)
    if draft is None:
        return None
    common = {"kind": OutgoingKind.NOTIFICATION, "mailbox": mailbox, "ticket_id": ticket.id, "event_name": event_name,
              "message_id": in_reply_to.id if in_reply_to else None}
    requester = ticket.requester
    why = _why_not(mailbox, requester, event_name)
    if why:
        return suppress(tenant, draft, why, **common)
    return queue_mail(tenant, draft, dedupe_key=dedupe_key, delay=delay, **common)


def _why_not(mailbox: Mailbox | None, requester: Contact, event_name: str) -> str | None:
    if mailbox is None:
        return "mailbox_cannot_send"
    if requester.bouncing:
        return "address_bouncing"
    if event_name in NON_ESSENTIAL and requester.notifications_opt_out:
        return "opted_out"
    return None


def _requester_draft(tenant: Tenant, ticket: Ticket, mailbox: Mailbox | None, event_name: str, fields: dict, *,
                     automatic: bool, source_text: str | None = None,
                     in_reply_to: Message | None = None) -> Draft | None:
    from app.notify.rendering import choose_locale, render_notification

    requester = ticket.requester
    if requester is None:
        return None
    parent = in_reply_to or _last_inbound(ticket)
    if source_text is None and not requester.locale:  # their language from their latest mail
        source_text = parent.text if parent is not None else None
    locale = choose_locale(tenant, requester, source_text)
    fields = {**fields, "ticket_url": ""}  # the agents' inbox is no place for a requester: no link (no portal yet)
    rendered = render_notification(tenant, event_name, locale, _localized(fields, locale),
                                   timezone=requester.timezone or tenant.timezone)
    sender = mailbox.address if mailbox else current_app.config["MESSAGE_ID_DOMAIN"]
    return Draft(sender=sender, sender_name=(mailbox.from_name or mailbox.name) if mailbox else tenant.name,
                 to=[(requester.name or "", requester.email)], subject=_with_token(rendered.subject, ticket),
                 text=rendered.text, reply_to=mailbox.reply_to if mailbox else None,
                 in_reply_to=parent.message_id if parent else None,
                 references=list(parent.references or []) if parent else [], automatic=automatic,
                 loop_tag=tenant.slug, signature=mailbox.signature if mailbox else "",
                 disclaimer=mailbox.disclaimer if mailbox else "")


def _to_staff(tenant: Tenant, event_name: str, people: list[User], *, fields: dict, ticket: Ticket | None = None,
              dedupe_key: str | None = None) -> OutgoingMail | None:
    addresses = sorted({person.email for person in people if person.email})
    if not addresses:
        return None
    return _system(tenant, event_name, addresses, fields, locale=_staff_locale(tenant, people), ticket=ticket,
                   dedupe_key=dedupe_key)


def _staff_locale(tenant: Tenant, people: list[User]) -> str:
    return people[0].locale or tenant.default_locale if len(people) == 1 else tenant.default_locale


def _system(tenant: Tenant, event_name: str, addresses: list[str], fields: dict, *, locale: str,
            ticket: Ticket | None = None, dedupe_key: str | None = None) -> OutgoingMail | None:
    """Mail to staff through the region's relay (a ticket's mailbox may be the very thing that is failing)."""
    from app.notify.rendering import render_notification

    rendered = render_notification(tenant, event_name, locale or "en", _localized(fields, locale or "en"),
                                   timezone=tenant.timezone)
    relay = get_region(tenant.region).smtp_relay
    sender = relay.get("from") or f"postroom@{current_app.config['MESSAGE_ID_DOMAIN']}"
    group = len(addresses) > 1  # several people: one mail, the list in Bcc, nobody sees the others' addresses
    draft = Draft(sender=sender, sender_name=f"Postroom · {tenant.name}",
                  to=[] if group else [("", addresses[0])], bcc=addresses if group else [],
                  subject=_with_token(rendered.subject, ticket) if ticket else rendered.subject, text=rendered.text,
                  automatic=True, loop_tag=tenant.slug)
    common = {"kind": OutgoingKind.SYSTEM, "mailbox": None, "ticket_id": ticket.id if ticket else None,
              "event_name": event_name}
    if not relay.get("host"):
        return suppress(tenant, draft, "no_relay", **common)
    return queue_mail(tenant, draft, dedupe_key=dedupe_key, **common)


def _sending_mailbox(ticket: Ticket) -> Mailbox | None:
    mailbox = db.session.get(Mailbox, ticket.mailbox_id) if ticket.mailbox_id else None
    return mailbox if mailbox is not None and mailbox.outbound_mode != OutboundMode.NONE else None


def _last_inbound(ticket: Ticket) -> Message | None:
    return db.session.scalar(select(Message).where(
        Message.tenant_id == ticket.tenant_id, Message.ticket_id == ticket.id,
        Message.direction == Direction.INBOUND, Message.message_id.is_not(None)).order_by(Message.id.desc()).limit(1))


def _with_token(subject: str, ticket: Ticket | None) -> str:
    """Our ticket token in every subject that concerns a ticket: replies find their ticket by it."""
    if ticket is None:
        return subject
    token = ticket_token(ticket.reference)
    return subject if token in subject else f"{subject} {token}".strip()


def _url(endpoint: str, tenant: Tenant, **values) -> str:
    return _absolute(endpoint, tenant_slug=tenant.slug, **values)


def _absolute(endpoint: str, **values) -> str:
    """A link for mail: ``BASE_URL`` and the path, whether or not a request is being served (jobs)."""
    with current_app.test_request_context():
        return current_app.config["BASE_URL"].rstrip("/") + url_for(endpoint, **values)
