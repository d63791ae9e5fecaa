"""Tell machine-generated mail (auto-replies, bounces, list traffic, our own mail coming back) from a person's mail.

``classify_automatic`` returns the first reason that applies, checked in this order (strongest evidence first, so
the reason recorded is the most telling one):

1. ``own_message_id``: the Message-ID was minted by us (under one of our own domains, or recognised by
   ``is_own``), so our outgoing mail came back (a forwarding rule or an auto-reply that kept our Message-ID), or it
   still carries our loop header (``X-Postroom-Loop``). Only the message's own Message-ID counts: a customer's reply
   legitimately carries our ids in In-Reply-To and References.
2. ``dsn``: a ``multipart/report`` (RFC 6522: delivery status notifications, but also read receipts and abuse
   reports, all machine-made), or a report's ``text/rfc822-headers`` part among the attachments.
3. ``mailer_daemon``: From ``mailer-daemon@`` or ``postmaster@``, the senders of bounces that are not RFC 3464.
4. ``auto_submitted``: RFC 3834 ``Auto-Submitted`` with any value but ``no``.
5. ``x_autoreply``, ``x_autorespond``: older auto-responders' markers, unless they say no.
6. ``precedence_bulk``, ``precedence_junk``, ``precedence_list``.
7. ``list_id``: mailing-list traffic (RFC 2919).
8. ``auto_response_suppress``: see below; the weakest signal, so it is checked last.

What a reason means is the caller's policy: every reason means "never auto-reply to this" (that is how mail loops
start). Reasons 6-8 also occur on mail a person wrote: a Google Group or an Exchange distribution list in front of
the support address adds List-Id/Precedence: list or X-Auto-Response-Suppress to every customer message, so those
must still become tickets.

X-Auto-Response-Suppress (MS-OXCMAIL 2.1.3.2.20) is a request about *responses* to this message, not a statement
that the message itself is automatic: Exchange sets it on out-of-office replies and system mail, but also on mail
people send through distribution lists, which is why GLPI and Discourse stopped treating it as "auto-generated".
We honour it only when it asks to suppress auto-replies (``All``, ``OOF``, ``AutoReply``): our acknowledgement is
such an auto-reply. ``DR``/``NDR``/``RN``/``NRN`` only concern delivery and read receipts, which Postroom never
sends, so they are ignored, as is ``None``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from app.mail.parse import Parsed

__all__ = ["REASONS", "classify_automatic"]

REASONS = ("own_message_id", "dsn", "mailer_daemon", "auto_submitted", "x_autoreply", "x_autorespond",
           "precedence_bulk", "precedence_junk", "precedence_list", "list_id", "auto_response_suppress")

_DAEMON_LOCAL_PARTS = frozenset({"mailer-daemon", "postmaster"})
# Parsed.attachments never lists a message/delivery-status part (compat32 splits it into field blocks, which
# parse.py does not read), but it does list text/rfc822-headers, a part type made for reports (RFC 6522).
_REPORT_PARTS = frozenset({"text/rfc822-headers"})
# Values an auto-responder header takes when a sender explicitly says "this is not automatic".
_NEGATIVE = frozenset({"", "no", "false", "0", "off", "none"})
_SUPPRESS_REPLIES = frozenset({"all", "oof", "autoreply"})
_COMMENT = re.compile(r"\([^()]*\)")


def classify_automatic(parsed: Parsed, *, own_domains: Iterable[str] = (),
                       is_own: Callable[[str], bool] | None = None) -> str | None:
    """The reason ``parsed`` is automatic (one of ``REASONS``), or None for a person's mail. Never raises."""
    domains = {_domain_key(domain) for domain in own_domains if domain}
    return (_own_message_id(parsed, domains, is_own)
            or _report(parsed)
            or _mailer_daemon(parsed)
            or _auto_submitted(parsed)
            or _flag_header(parsed, "X-Autoreply", "x_autoreply")
            or _flag_header(parsed, "X-Autorespond", "x_autorespond")
            or _precedence(parsed)
            or ("list_id" if any(value.strip() for value in _values(parsed, "List-Id")) else None)
            or _auto_response_suppress(parsed))


def _values(parsed: Parsed, name: str) -> list[str]:
    return parsed.loop_headers.get(name, [])


def _token(value: str) -> str:
    """First word of a structured header value, without RFC 5322 comments and parameters, lower-cased."""
    if "(" in value:
        value = _COMMENT.sub(" ", value)
    value = value.split(";", 1)[0]
    words = value.split()
    return words[0].lower() if words else ""


def _domain_key(domain: str) -> str:
    return domain.strip().rstrip(".").casefold()


def _own_message_id(parsed: Parsed, domains: set[str], is_own: Callable[[str], bool] | None) -> str | None:
    message_id = parsed.message_id or ""
    if any(value.strip() for value in _values(parsed, "X-Postroom-Loop")) or (is_own and is_own(message_id)):
        return "own_message_id"
    if not domains or "@" not in message_id:
        return None
    return "own_message_id" if _domain_key(message_id.rsplit("@", 1)[1]) in domains else None


def _report(parsed: Parsed) -> str | None:
    if _token(_content_type(parsed)) == "multipart/report":
        return "dsn"
    # A report nested in multipart/mixed (some gateways wrap bounces) still shows its headers part.
    if any(attachment.content_type in _REPORT_PARTS for attachment in parsed.attachments):
        return "dsn"
    return None


def _content_type(parsed: Parsed) -> str:
    for name, value in parsed.headers:
        if len(name) >= 12 and name.strip().lower() == "content-type":  # the length test skips most names cheaply
            return value
    return ""


def _mailer_daemon(parsed: Parsed) -> str | None:
    address = parsed.from_[1] or ""
    local_part = address.rsplit("@", 1)[0].strip().lower()
    return "mailer_daemon" if local_part in _DAEMON_LOCAL_PARTS else None


def _auto_submitted(parsed: Parsed) -> str | None:
    words = [_token(value) for value in _values(parsed, "Auto-Submitted")]
    return "auto_submitted" if any(word and word != "no" for word in words) else None


def _flag_header(parsed: Parsed, name: str, reason: str) -> str | None:
    """X-Autoreply/X-Autorespond carry "yes", a number or free text; only an explicit no-word means no."""
    return reason if any(_token(value) not in _NEGATIVE for value in _values(parsed, name)) else None


def _precedence(parsed: Parsed) -> str | None:
    for value in _values(parsed, "Precedence"):
        word = _token(value)
        if word in ("bulk", "junk", "list"):
            return f"precedence_{word}"
    return None


def _auto_response_suppress(parsed: Parsed) -> str | None:
    for value in _values(parsed, "X-Auto-Response-Suppress"):
        flags = {flag.strip().lower() for flag in value.split(",")}
        if flags & _SUPPRESS_REPLIES:
            return "auto_response_suppress"
    return None
