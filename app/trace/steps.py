"""One step of a trace, the words for each kind, and elapsed times as people read them ("+120 ms", "+3 s").

Every step is a fact a row recorded with its own timestamp: nothing estimates a time. A fact no table dates
(a notification's delayed-delivery report) is no step.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l


@dataclass
class Step:
    kind: str
    label: str
    at: datetime
    detail: str = ""
    ok: bool = True  # False: something failed, or was held back
    related_message_id: int | None = None  # another message this step is about (a bounce report), traceable too
    since_previous: timedelta = timedelta(0)
    since_first: timedelta = timedelta(0)


LABELS = {
    "received": _l("Received from the server"),
    "stored": _l("Stored"),
    "duplicate": _l("Recognized as a duplicate"),
    "quarantined": _l("Quarantined"),
    "released": _l("Released from quarantine"),
    "parsed": _l("Parsed"),
    "written": _l("Written"),
    "ingested": _l("Ingestion finished"),
    "routed": _l("Routed"),
    "rule_matched": _l("Rule applied"),
    "rule_error": _l("Rule skipped"),
    "vip": _l("VIP sender"),
    "automatic": _l("Automatic mail"),
    "sender_flagged": _l("Sender not verified"),
    "bounce": _l("Delivery report"),
    "attachment_withheld": _l("Attachments withheld"),
    "reopened": _l("Ticket reopened"),
    "reply_redacted": _l("Redacted"),
    "mail_not_sent": _l("Not sent"),
    "mail_sent": _l("Sent"),
    "mail_deferred": _l("Deferred"),
    "mail_refused": _l("Refused"),
    "mail_failed": _l("Delivery failed"),
    "mail_bounced": _l("Bounced"),
    "bounce_received": _l("Bounce report received"),
    "webhook_queued": _l("Webhook event queued"),
    "webhook_delivered": _l("Webhook delivered"),
    "webhook_failed": _l("Webhook attempt failed"),
    "webhook_dead": _l("Webhook given up"),
}
THREADED = {True: _l("Ticket created"), False: _l("Added to a ticket")}
ACKNOWLEDGEMENT = {True: _l("Acknowledgement due"), False: _l("No acknowledgement")}
QUEUED = {"reply": _l("Reply queued"), "acknowledgement": _l("Acknowledgement queued"),
          "other": _l("Notification queued")}


def step(kind: str, at: datetime, detail: str = "", *, ok: bool = True, label: object = None, **extra) -> Step:
    """A step labelled by its kind (``label`` overrides), in the viewer's language."""
    return Step(kind, str(label if label is not None else LABELS.get(kind, kind)), at, detail, ok, **extra)


def in_order(steps: list[Step]) -> list[Step]:
    """Oldest first, with the time since the previous step and since the first. Steps recorded at the same
    moment (one transaction) keep the order their builders gave them, which is the order they happened in."""
    ordered = sorted(steps, key=lambda s: s.at)
    for previous, current in zip([None, *ordered], ordered, strict=False):
        current.since_previous = current.at - previous.at if previous else timedelta(0)
        current.since_first = current.at - ordered[0].at
    return ordered


def duration_text(elapsed: timedelta) -> str:
    seconds = max(elapsed.total_seconds(), 0.0)
    if seconds < 1:
        return _("%(value)s ms", value=format_decimal(round(seconds * 1000)))
    if seconds < 60:
        return _("%(value)s s", value=format_decimal(round(seconds, 1)))
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return _("%(minutes)s min %(seconds)s s", minutes=minutes, seconds=rest)
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return _("%(hours)s h %(minutes)s min", hours=hours, minutes=minutes)
    days, hours = divmod(hours, 24)
    return _("%(days)s d %(hours)s h", days=days, hours=hours)


def elapsed_text(elapsed: timedelta) -> str:
    """``+120 ms``, ``+3 s``, ``+2 min 5 s``: how long after the step before."""
    return "+" + duration_text(elapsed)


def milliseconds(elapsed: timedelta) -> int:
    return round(elapsed.total_seconds() * 1000)
