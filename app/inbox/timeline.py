"""The ticket timeline as sentences: one localized line per ``TicketEvent``, from its kind and detail.

Details were written by the pipeline (``app.inbound.assemble``, ``app.routing.services``, ``app.tickets.services``);
a kind this module does not know yet is shown by its name, so nothing on the timeline is ever hidden.
"""

from __future__ import annotations

from collections.abc import Callable

from flask_babel import gettext as _

from app.inbox.labels import AUTOMATIC, PRIORITIES, STATUSES, WITHHELD, label, thread_reason
from app.tickets.models import TicketEvent


class Context:
    """What sentences need besides the event: queue names and the linked ticket's reference."""

    def __init__(self, queue_names: dict[int, str], linked_reference: str | None = None):
        self.queue_names, self.linked_reference = queue_names, linked_reference

    def queue(self, queue_id: int | None) -> str:
        if queue_id is None:
            return _("no queue")
        return self.queue_names.get(queue_id) or _("a deleted queue")


def sentence(event: TicketEvent, context: Context) -> str:
    describe = _SENTENCES.get(event.kind)
    return describe(event.detail or {}, context) if describe else event.kind


def _threaded(d: dict, c: Context) -> str:
    reason = d.get("reason", "")
    if reason == "new":
        return _("A new message opened this ticket.")
    return thread_reason(reason, evidence=d.get("evidence", ""), linked_reference=c.linked_reference)


def _routed(d: dict, c: Context) -> str:
    queue = c.queue(d.get("queue_id"))
    if d.get("by") == "receiving_mailbox":
        return _("Routed to %(queue)s, the default queue of the mailbox %(address)s.", queue=queue,
                 address=d.get("address", ""))
    return _("Routed to %(queue)s because it was sent to %(address)s (%(header)s).", queue=queue,
             address=d.get("address", ""), header=d.get("header", ""))


def _rule_matched(d: dict, c: Context) -> str:
    changes = []
    if d.get("queue_id") is not None:
        changes.append(_("queue %(queue)s", queue=c.queue(d["queue_id"])))
    if d.get("category"):
        changes.append(_("category %(category)s", category=d["category"]))
    if d.get("priority"):
        changes.append(_("priority %(priority)s", priority=label(PRIORITIES, d["priority"])))
    if not changes:
        return _("Rule “%(rule)s” matched “%(matched)s”.", rule=d.get("rule", ""), matched=d.get("matched", ""))
    return _("Rule “%(rule)s” matched “%(matched)s” and set %(changes)s.", rule=d.get("rule", ""),
             matched=d.get("matched", ""), changes=", ".join(changes))


def _rule_error(d: dict, _c: Context) -> str:
    if d.get("error") == "TimeoutError":
        return _("Rule “%(rule)s” was skipped: it took too long on this message.", rule=d.get("rule", ""))
    return _("Rule “%(rule)s” was skipped: its pattern is not valid.", rule=d.get("rule", ""))


def _vip(d: dict, _c: Context) -> str:
    return _("The sender %(sender)s is a VIP: priority %(priority)s, and no rule applies.", sender=d.get("sender", ""),
             priority=label(PRIORITIES, d.get("priority")))


def _automatic(d: dict, _c: Context) -> str:
    return _("Recognized as automatic mail (%(reason)s): it never gets an automatic answer.",
             reason=label(AUTOMATIC, d.get("reason")))


def _acknowledgement(d: dict, _c: Context) -> str:
    if d.get("due"):
        return _("An acknowledgement to the requester is due.")
    why = d.get("suppressed")
    reasons = {
        "automatic": _("the mail is automatic"),
        "no_sender": _("the mail has no sender address"),
        "sender_bouncing": _("mail to the sender bounces"),
        "sender_rate_limited": _("the sender sent too much mail in the last hour"),
        "sender_unverified": _("the sender could not be verified (DMARC failed)"),
    }
    return _("No acknowledgement is sent: %(reason)s.", reason=reasons.get(why, why or ""))


def _sender_flagged(d: dict, _c: Context) -> str:
    results = ", ".join(f"{k}={v}" for k, v in sorted((d.get("authenticity") or {}).items()))
    if results:
        return _("The sender could not be verified (DMARC failed: %(results)s).", results=results)
    return _("The sender could not be verified (DMARC failed).")


def _bounce(d: dict, _c: Context) -> str:
    recipients = ", ".join(r[0] for r in d.get("recipients") or [] if r and r[0]) or "—"
    if d.get("kind") == "transient":
        return _("Delivery to %(recipients)s is delayed or failed for now.", recipients=recipients)
    return _("Delivery to %(recipients)s failed for good.", recipients=recipients)


def _attachment_withheld(d: dict, _c: Context) -> str:
    items = [f"{name} ({label(WITHHELD, reason)})" for name, reason in d.get("attachments") or []]
    return _("Attachments withheld: %(attachments)s.", attachments=", ".join(items))


def _reopened(d: dict, _c: Context) -> str:
    status = label(STATUSES, d.get("from"))
    if d.get("why") == "customer_replied":
        return _("Reopened (it was %(status)s) because the requester replied.", status=status)
    return _("Reopened (it was %(status)s).", status=status)


def _linked_ticket_opened(d: dict, _c: Context) -> str:
    return _("The requester answered after this ticket was closed: the follow-up is ticket #%(reference)s.",
             reference=d.get("ticket", ""))


def _changed(d: dict, c: Context) -> str:
    field, before, after = d.get("field"), d.get("from"), d.get("to")
    if field == "assignee":
        return _("Assigned to %(name)s.", name=d.get("name")) if after else _("Unassigned.")
    if field == "status":
        return _("Status changed from %(before)s to %(after)s.", before=label(STATUSES, before),
                 after=label(STATUSES, after))
    if field == "priority":
        return _("Priority changed from %(before)s to %(after)s.", before=label(PRIORITIES, before),
                 after=label(PRIORITIES, after))
    if field == "queue":
        return _("Moved from %(before)s to %(after)s.", before=c.queue(before), after=c.queue(after))
    return _("%(field)s changed.", field=field)


def _note_added(_d: dict, _c: Context) -> str:
    return _("Added an internal note.")


def _reply_queued(_d: dict, _c: Context) -> str:
    return _("Replied to the requester (queued for sending).")


def _split(d: dict, _c: Context, *, out: bool) -> str:
    if out:
        return _("A message was split off into ticket %(reference)s.", reference=d.get("ticket", ""))
    return _("Split off from ticket %(reference)s.", reference=d.get("ticket", ""))


def _merged(d: dict, _c: Context, *, into: bool) -> str:
    if into:
        return _("Merged into ticket %(reference)s.", reference=d.get("ticket", ""))
    return _("Ticket %(reference)s was merged into this one.", reference=d.get("ticket", ""))


_SENTENCES: dict[str, Callable[[dict, Context], str]] = {
    "changed": _changed, "note_added": _note_added, "reply_queued": _reply_queued,
    "split_out": lambda d, c: _split(d, c, out=True), "split_from": lambda d, c: _split(d, c, out=False),
    "merged_into": lambda d, c: _merged(d, c, into=True), "merged_from": lambda d, c: _merged(d, c, into=False),
    "threaded": _threaded, "routed": _routed, "rule_matched": _rule_matched, "rule_error": _rule_error,
    "vip": _vip, "automatic": _automatic, "acknowledgement": _acknowledgement, "sender_flagged": _sender_flagged,
    "bounce": _bounce, "attachment_withheld": _attachment_withheld, "reopened": _reopened,
    "linked_ticket_opened": _linked_ticket_opened,
}
