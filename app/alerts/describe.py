"""What alerts are called and what they say, in the reader's language: on the alerts page, and in the mail to
admins (which renders them under the recipient's locale). Whole sentences, so that they translate well."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_date, format_datetime, format_timedelta
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.alerts.models import Alert

KIND_LABELS = {
    "mailbox_failing": _l("Mailbox failing"),
    "mailbox_silent": _l("No mail for longer than usual"),
    "outbox_backlog": _l("Outbox backlog"),
    "quarantine_growing": _l("Quarantine growing"),
    "oauth_expiring": _l("OAuth sign-in expiring"),
}
# What the threshold of each kind counts, next to its input.
THRESHOLD_LABELS = {
    "mailbox_failing": _l("failures in a row"),
    "mailbox_silent": _l("hours at least"),
    "outbox_backlog": _l("mails waiting, more than"),
    "quarantine_growing": _l("messages in an hour"),
    "oauth_expiring": _l("days ahead"),
}
RULE_HELP = {
    "mailbox_failing": _l("A mailbox failed to sync or send this many times in a row. Empty: the organization's "
                          "setting for marking a mailbox as failing."),
    "mailbox_silent": _l("A mailbox that gets mail most days received none for 1.5 times its longest silence of "
                         "the last two weeks, and at least this many hours."),
    "outbox_backlog": _l("More mails than this wait in the outbox to be sent."),
    "quarantine_growing": _l("This many messages or more were quarantined within the last hour."),
    "oauth_expiring": _l("A mailbox's OAuth sign-in, or the client secret of your own OAuth app, expires within "
                         "this many days."),
}


def describe(alert: Alert, timezone: str = "UTC") -> str:
    """What the alert found, as one or two sentences in the current locale; dates in ``timezone``."""
    d, when = alert.detail or {}, _When(timezone)
    if alert.kind == "mailbox_failing":
        text = ngettext("The mailbox %(mailbox)s failed %(num)s time in a row.",
                        "The mailbox %(mailbox)s failed %(num)s times in a row.", d.get("failures", 0),
                        mailbox=_mailbox(d))
        if not d.get("reason"):
            return text
        return text + " " + _("Last error: %(reason)s", reason=d["reason"])  # outside an f-string: extractable
    if alert.kind == "mailbox_silent":
        return _("The mailbox %(mailbox)s has received no mail since %(since)s; in the two weeks before, it was "
                 "never silent for longer than %(usual)s.", mailbox=_mailbox(d),
                 since=when.moment(d.get("last_received_at")),
                 usual=when.span(timedelta(hours=d.get("usual_silence_hours", 0))))
    if alert.kind == "outbox_backlog":
        return ngettext("%(num)s mail is waiting in the outbox (the alert is set at more than %(threshold)s).",
                        "%(num)s mails are waiting in the outbox (the alert is set at more than %(threshold)s).",
                        d.get("waiting", 0), threshold=d.get("threshold", 0))
    if alert.kind == "quarantine_growing":
        return ngettext("%(num)s message was quarantined in the last hour (the alert is set at %(threshold)s).",
                        "%(num)s messages were quarantined in the last hour (the alert is set at %(threshold)s).",
                        d.get("count", 0), threshold=d.get("threshold", 0))
    if alert.kind == "oauth_expiring" and "account" in d:
        return _("The OAuth sign-in of %(account)s expires on %(date)s. Connect its mailbox again before then.",
                 account=d["account"], date=when.moment(d.get("expires_at")))
    if alert.kind == "oauth_expiring":
        return _("The client secret of your own OAuth app for %(provider)s expires on %(date)s. Enter a new one "
                 "before then.", provider=d.get("provider", ""), date=when.day(d.get("expires_on")))
    return ""


def describe_resolved(alert: Alert) -> str:
    """What clearing the alert means, in the current locale."""
    d = alert.detail or {}
    texts = {
        "mailbox_failing": lambda: _("The mailbox %(mailbox)s works again.", mailbox=_mailbox(d)),
        "mailbox_silent": lambda: _("The mailbox %(mailbox)s receives mail again, or no longer counts as one that "
                                    "usually does.", mailbox=_mailbox(d)),
        "outbox_backlog": lambda: _("The outbox is no longer backed up."),
        "quarantine_growing": lambda: _("Fewer messages are being quarantined again."),
        "oauth_expiring": lambda: _("The OAuth sign-in of %(account)s was renewed, or is no longer in use.",
                                    account=d["account"]) if "account" in d else _(
            "The client secret of your own OAuth app for %(provider)s was renewed, or the app was removed.",
            provider=d.get("provider", "")),
    }
    return texts[alert.kind]() if alert.kind in texts else ""


def _mailbox(detail: dict) -> str:
    name, address = detail.get("mailbox_name") or "", detail.get("mailbox_address") or ""
    return f"{name} ({address})" if name and address and name != address else (address or name)


class _When:
    """Dates and spans in the current locale, in one time zone (jobs have no user to take it from)."""

    def __init__(self, timezone: str) -> None:
        try:
            self.zone = ZoneInfo(timezone or "UTC")
        except (ZoneInfoNotFoundError, ValueError):
            self.zone = ZoneInfo("UTC")
        self.locale = get_locale() or "en"

    def moment(self, value: str | None) -> str:
        return format_datetime(datetime.fromisoformat(value), "medium", tzinfo=self.zone,
                               locale=self.locale) if value else ""

    def day(self, value: str | None) -> str:
        return format_date(date.fromisoformat(value), "long", locale=self.locale) if value else ""

    def span(self, value: timedelta) -> str:
        return format_timedelta(value, threshold=1.1, locale=self.locale)
