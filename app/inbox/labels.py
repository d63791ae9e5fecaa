"""Words agents see for the codes the pipeline stores: statuses, priorities, why a message joined its ticket,
why mail counts as automatic, why an attachment was withheld. Unknown codes are shown as they are."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.tickets.models import ThreadReason

STATUSES = {"open": _l("Open"), "pending": _l("Pending"), "resolved": _l("Resolved"), "closed": _l("Closed")}
PRIORITIES = {"low": _l("Low"), "normal": _l("Normal"), "high": _l("High"), "urgent": _l("Urgent")}

AUTOMATIC = {
    "own_message_id": _l("our own mail came back"),
    "dsn": _l("delivery report"),
    "mailer_daemon": _l("sent by a mail server"),
    "auto_submitted": _l("marked as sent automatically"),
    "x_autoreply": _l("auto-reply"),
    "x_autorespond": _l("auto-reply"),
    "precedence_bulk": _l("bulk mail"),
    "precedence_junk": _l("junk mail"),
    "precedence_list": _l("mailing list"),
    "list_id": _l("mailing list"),
    "auto_response_suppress": _l("asks for no auto-replies"),
}

DELIVERY = {"queued": _l("Queued"), "sending": _l("Sending"), "sent": _l("Sent"), "failed": _l("Not delivered"),
            "suppressed": _l("Not sent"), "blocked": _l("Blocked"), "bounced": _l("Bounced"),
            "not_sent": _l("Not sent")}
NOTICE_REASONS = {"recipient_limit": _l("too many automatic mails to this address within an hour"),
                  "opted_out": _l("the requester does not want these"),
                  "address_bouncing": _l("mail to this address bounces"),
                  "mailbox_cannot_send": _l("the ticket's mailbox does not send mail"),
                  "no_relay": _l("no relay is set up for this region"), "smtp_rejected": _l("refused by the server"),
                  "retries_exhausted": _l("no more retries"), "bounced": _l("bounced")}
ATTEMPT_OUTCOMES = {"sent": _l("accepted"), "deferred": _l("will be retried"), "failed": _l("refused")}

WITHHELD = {"too_large": _l("too large"), "blocked_type": _l("blocked file type")}

_JOINED = {
    ThreadReason.IN_REPLY_TO: _l("Joined this ticket because it answers an earlier message (In-Reply-To)."),
    ThreadReason.REFERENCES: _l("Joined this ticket because it refers to an earlier message of this ticket "
                                "(References)."),
    ThreadReason.THREAD_INDEX: _l("Joined this ticket because Outlook marked it as part of the same conversation "
                                  "(Thread-Index)."),
    ThreadReason.SUBJECT: _l("Joined this ticket because it has the same subject and comes from the same "
                             "requester."),
    ThreadReason.BOUNCE: _l("A delivery failure report about a message of this ticket."),
    ThreadReason.NEW: _l("New ticket."),
}


def label(mapping: dict, code: str | None) -> str:
    if code is None:
        return ""
    value = mapping.get(str(code))
    return str(value) if value is not None else str(code)


def thread_reason(reason: str, *, evidence: str = "", linked_reference: str | None = None) -> str:
    """Why a message is on its ticket, as one sentence (``evidence``: the token that matched, when known)."""
    if reason == ThreadReason.SUBJECT_TOKEN:
        if evidence:
            return _("Joined this ticket because the subject carries the ticket reference [#%(reference)s].",
                     reference=evidence)
        return _("Joined this ticket because the subject carries the ticket reference.")
    if reason == ThreadReason.LINKED:
        if linked_reference:
            return _("Opened because the requester answered a closed ticket (linked to #%(reference)s).",
                     reference=linked_reference)
        return _("Opened because the requester answered a closed ticket.")
    return label(_JOINED, reason)
