"""Read bounces: which of our messages failed, for which recipients, and whether for good.

Three shapes, tried in this order:

- ``rfc3464``: ``multipart/report`` with a ``message/delivery-status`` part (Postfix, Sendmail, Gmail, modern Exim,
  Microsoft Exchange and Office 365, whose NDRs add X-MS-Exchange-* headers and 3-digit status details such as
  5.1.10 around a standard report). The original Message-ID comes from the ``message/rfc822`` or
  ``text/rfc822-headers`` part.
- ``qmail``: qmail-send's plain text ("Hi. This is the qmail-send program at ..."), ``<address>:`` paragraphs,
  then the original message after "--- Below this line is a copy of the message.".
- ``text``: other plain-text bounces (older Exim, Postfix without DSN, various appliances), recognized by two of
  three signals (a bounce-like subject, a mailer-daemon/postmaster sender, bounce wording in the body) so that a
  customer writing "Delivery failure of my order" is not taken for one.

``kind`` is "permanent" when a recipient failed with a 5.x.x status, else "transient" (4.x.x or delayed). A
recipient that "failed" with a 4.x.x status (the sending server gave up after its queue lifetime) makes the bounce
transient: the message is lost, but nothing says the address is bad. Reports in which every recipient was
delivered, relayed or expanded are not bounces and give None.

Parsing uses the stdlib ``email`` package with compat32 and never raises: anything unreadable gives None. It does
not descend into attached messages, so a forwarded bounce is not read as one.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.message import Message

from app.mail.parse import Parsed
from app.mail.parse_decode import decode_bytes, header_str, msg_ids
from app.mail.parse_feed import parse_bytes

__all__ = ["Bounce", "BounceRecipient", "parse_bounce"]

ACTIONS = ("failed", "delayed", "delivered", "relayed", "expanded")
MAX_RECIPIENTS = 100
MAX_DIAGNOSTIC = 1000
MAX_PARTS = 200
MAX_TEXT = 200_000  # characters of a text bounce read: explanation and quoted headers come first

_STATUS_PARTS = frozenset({"message/delivery-status", "message/global-delivery-status"})
_MESSAGE_PARTS = frozenset({"message/rfc822", "message/global"})
_HEADER_PARTS = frozenset({"text/rfc822-headers", "message/global-headers"})
# x.y.z with class 2, 4 or 5; not part of a longer dotted number such as an IP address "4.2.2.1".
_STATUS = re.compile(r"(?<![\w.])([245]\.[0-9]{1,3}\.[0-9]{1,3})(?!\.?[0-9])")
_SMTP_REPLY = re.compile(r"(?<![\w.])([245])[0-9]{2}(?![\w.])")
_QUOTED_MESSAGE_ID = re.compile(r"^[ \t]*message-id:[ \t]*(?:\r?\n[ \t]+)?(<[^<>\s]+>)", re.IGNORECASE | re.MULTILINE)
# The line that introduces the quoted original. Dashes are required for the generic phrases: Postfix's text says
# "delete your own text from the attached returned message" *before* the recipients.
_COPY_MARKER = re.compile(
    r"^(?:[ \t]*-{2,}.*(?:copy of the message|original (?:message|headers)|returned message|headers follow)"
    r"|.*(?:below this line is a copy of the message|original message follows)).*$",
    re.IGNORECASE | re.MULTILINE)
_QMAIL = re.compile(r"this is the qmail-send program", re.IGNORECASE)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver(?:ed|able)|returned mail|mail delivery (?:failed|failure|delayed)|delivery status notification"
    r"|delivery (?:failure|has failed)|failure notice|non-?delivery|delayed mail|warning: message .* delayed"
    r"|unzustellbar|nicht zustellbar", re.IGNORECASE)
_BOUNCE_BODY = re.compile(
    r"could ?n[o']t be delivered|was not delivered|delivery (?:has )?failed|permanent (?:fatal )?error"
    r"|mail delivery (?:software|system|subsystem)|the mail system|undeliverable|not yet been delivered"
    r"|returned to sender|following address(?:es|\(es\))? failed", re.IGNORECASE)
_DELAYED_BODY = re.compile(
    r"not yet been delivered|will (?:continue|keep) (?:to )?try|still being retried|(?:has been|is) delayed", re.I)
_DAEMONS = frozenset({"mailer-daemon", "postmaster"})
# "<nobody@example.org>: host ... said: 550 ..." at the start of a line (Postfix, qmail; an indented one is part of
# a diagnostic), or an indented bare address on a line of its own (Exim).
_ANGLED_RECIPIENT = re.compile(r"^<([^\s<>@]+@[^\s<>]+)>:?\s*(.*)$")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_FOLD = re.compile(r"\n[ \t]+")
_INDENTED_RECIPIENT = re.compile(r"^[ \t]+([^\s<>@:]+@[^\s<>:]+?)\.?\s*$")


@dataclass
class BounceRecipient:
    address: str
    action: str  # one of ACTIONS
    status: str | None = None  # enhanced status code (RFC 3463), e.g. "5.1.1"
    diagnostic: str | None = None  # the remote server's words, e.g. "550 5.1.1 User unknown"


@dataclass
class Bounce:
    original_message_id: str | None  # without angle brackets, like Parsed.message_id
    recipients: list[BounceRecipient] = field(default_factory=list)
    kind: str = "permanent"  # "permanent" | "transient"
    format: str = "rfc3464"  # "rfc3464" | "qmail" | "text"


def parse_bounce(raw: bytes, parsed: Parsed) -> Bounce | None:
    """The bounce in ``raw`` (already parsed as ``parsed``), or None if it is not one or cannot be read."""
    if not parsed.ok:  # parse.py's size, depth and header limits failed: do not parse it again here
        return None
    try:
        message = parse_bytes(bytes(raw))
        parts = _parts(message)
        report = next((part for part in parts if part.get_content_type() in _STATUS_PARTS), None)
        if report is not None:  # a machine-readable report is the whole truth, even when it reports success
            return _rfc3464(report, parts)
        return _qmail(parts, parsed) or _plain_text(parts, parsed)
    except Exception:  # the contract is "never raises"; RecursionError included
        return None


def _parts(message: Message) -> list[Message]:
    """All MIME parts, depth first, without entering attached messages (message/*)."""
    found: list[Message] = []
    stack = [message]
    while stack and len(found) < MAX_PARTS:
        part = stack.pop()
        found.append(part)
        payload = part.get_payload()
        if isinstance(payload, list) and part.get_content_maintype() != "message":
            stack.extend(reversed(payload))
    return found


# --- RFC 3464 ---------------------------------------------------------------------------------------------------

def _rfc3464(report: Message, parts: list[Message]) -> Bounce | None:
    recipients = [r for r in map(_report_recipient, _status_blocks(report)) if r][:MAX_RECIPIENTS]
    return _bounce(_original_message_id(parts, None), recipients, "rfc3464")


def _report_recipient(fields: dict[str, str]) -> BounceRecipient | None:
    address = _typed_value(fields.get("final-recipient") or fields.get("original-recipient") or "").strip("<> ")
    if not address:
        return None  # the per-message block, or a recipient block without a recipient
    diagnostic = _typed_value(fields.get("diagnostic-code", ""))
    status = _status(fields.get("status", "")) or _status(diagnostic)
    words = fields.get("action", "").lower().split()
    action = words[0] if words and words[0] in ACTIONS else _action_for(status)
    return BounceRecipient(address, action, status, diagnostic[:MAX_DIAGNOSTIC] or None)


def _typed_value(value: str) -> str:
    """"rfc822; nobody@example.org" -> "nobody@example.org" (RFC 3464 address-type and diagnostic-type)."""
    return value.split(";", 1)[1].strip() if ";" in value else value.strip()


def _action_for(status: str | None) -> str:
    return {"2": "delivered", "4": "delayed"}.get((status or "5")[0], "failed")


def _status_blocks(part: Message) -> list[dict[str, str]]:
    """The field blocks of a status part. compat32 has already split message/delivery-status into one header-only
    Message per block, and message/global-delivery-status into one Message whose body holds the other blocks."""
    payload = part.get_payload()
    if not isinstance(payload, list):
        return _field_blocks(_leaf_text(part))
    blocks = [block for block in payload if isinstance(block, Message)]
    if str(part.get("Content-Transfer-Encoding", "")).strip().lower() == "base64":
        # compat32 split the still-encoded text as if it were field blocks: join the pieces and decode them
        encoded = b"".join(block.get_payload(decode=True) or b"" for block in blocks)
        return _field_blocks(_utf8(base64.b64decode(b"".join(encoded.split()))))
    fields = []
    for block in blocks:
        fields.append(_fields(block.raw_items()))
        body = block.get_payload(decode=True)  # bytes: get_payload() would turn 8-bit text into U+FFFD
        if isinstance(body, bytes) and body.strip():
            fields.extend(_field_blocks(_utf8(body)))
    return [block for block in fields if block]


def _utf8(data: bytes) -> str:
    return decode_bytes(data, "utf-8", [], "report")  # RFC 6533 reports are UTF-8; ASCII ones are too


def _leaf_text(part: Message) -> str:
    data = part.get_payload(decode=True)
    return decode_bytes(data, part.get_content_charset(), [], "report") if isinstance(data, bytes) else ""


def _field_blocks(text: str) -> list[dict[str, str]]:
    """RFC 3464 field blocks: groups of "Name: value" lines separated by blank lines."""
    blocks = []
    for chunk in _BLANK_LINE.split(text.replace("\r\n", "\n")):
        lines = _FOLD.sub(" ", chunk).split("\n")
        fields = _fields(tuple(line.split(":", 1)) for line in lines if ":" in line)
        if fields:
            blocks.append(fields)
    return blocks


def _fields(items: Iterable[tuple[str, ...]]) -> dict[str, str]:
    """Lower-cased names to clean values; the first occurrence of a name wins."""
    fields: dict[str, str] = {}
    for name, value in items:
        name = name.strip().lower()
        if name and " " not in name:
            fields.setdefault(name, header_str(value, [], name))
    return fields


# --- plain-text bounces ----------------------------------------------------------------------------------------

def _qmail(parts: list[Message], parsed: Parsed) -> Bounce | None:
    text = (parsed.text or "")[:MAX_TEXT]
    if not _QMAIL.search(text[:2000]):
        return None
    explanation, quoted = _split_at_copy(text)
    recipients = _text_recipients(explanation, delayed=False)
    return _bounce(_original_message_id(parts, quoted), recipients, "qmail")


def _plain_text(parts: list[Message], parsed: Parsed) -> Bounce | None:
    text = (parsed.text or "")[:MAX_TEXT]
    explanation, quoted = _split_at_copy(text)
    daemon = (parsed.from_[1] or "").rsplit("@", 1)[0].strip().lower() in _DAEMONS
    signals = (bool(_BOUNCE_SUBJECT.search(parsed.subject)), daemon, bool(_BOUNCE_BODY.search(explanation)))
    if sum(signals) < 2:
        return None
    delayed = "delay" in parsed.subject.lower() or bool(_DELAYED_BODY.search(explanation[:2000]))
    recipients = _text_recipients(explanation, delayed=delayed)
    original = _original_message_id(parts, quoted)
    if not recipients and original is None:
        return None
    return _bounce(original, recipients, "text", delayed=delayed)


def _split_at_copy(text: str) -> tuple[str, str | None]:
    """The explanation, and the quoted original after the "copy of the message" line (None without one)."""
    marker = _COPY_MARKER.search(text)
    return (text[: marker.start()], text[marker.end():]) if marker else (text, None)


def _text_recipients(explanation: str, *, delayed: bool) -> list[BounceRecipient]:
    """Each recipient line starts a block; the lines after it, up to a blank line, are the server's diagnostic."""
    blocks: list[tuple[str, list[str]]] = []
    current: list[str] | None = None
    for line in explanation.splitlines():
        match = _ANGLED_RECIPIENT.match(line) or _INDENTED_RECIPIENT.match(line)
        if match and len(blocks) >= MAX_RECIPIENTS:
            break
        if match:
            current = [match.group(2)] if match.re is _ANGLED_RECIPIENT and match.group(2) else []
            blocks.append((match.group(1), current))
        elif current is not None and line.strip():
            current.append(line.strip())
        else:
            current = None
    unique: dict[str, BounceRecipient] = {}
    for address, lines in blocks:
        unique.setdefault(address.lower(), _text_recipient(address, " ".join(lines), delayed))
    return list(unique.values())[:MAX_RECIPIENTS]


def _text_recipient(address: str, diagnostic: str, delayed: bool) -> BounceRecipient:
    status = _status(diagnostic)
    if status is None:
        reply = _SMTP_REPLY.search(diagnostic)
        status = f"{reply.group(1)}.0.0" if reply else ("4.0.0" if delayed else "5.0.0")
    return BounceRecipient(address, "delayed" if delayed else "failed", status, diagnostic[:MAX_DIAGNOSTIC] or None)


def _status(text: str) -> str | None:
    return match.group(1) if (match := _STATUS.search(text or "")) else None


def _original_message_id(parts: list[Message], quoted: str | None) -> str | None:
    """From an attached original (or its headers), else from headers quoted in the body after the copy marker."""
    for part in parts:
        ctype = part.get_content_type()
        payload = part.get_payload()
        if ctype in _MESSAGE_PARTS | _HEADER_PARTS and isinstance(payload, list) and payload:
            found = _message_id(payload[0].raw_items())
        elif ctype in _HEADER_PARTS:
            blocks = _field_blocks(_leaf_text(part))
            found = _message_id(blocks[0].items()) if blocks else None
        else:
            continue
        if found:
            return found
    match = _QUOTED_MESSAGE_ID.search(quoted) if quoted else None
    ids = msg_ids(match.group(1)) if match else []
    return ids[0] if ids else None


def _message_id(items: Iterable[tuple[str, str]]) -> str | None:
    for name, value in items:
        if name.strip().lower() == "message-id":
            ids = msg_ids(header_str(value, [], "Message-ID"))
            return ids[0] if ids else None
    return None


def _bounce(original: str | None, recipients: list[BounceRecipient], fmt: str, *, delayed: bool = False
            ) -> Bounce | None:
    if any(r.action == "failed" and (r.status or "5").startswith("5") for r in recipients):
        kind = "permanent"
    elif any(r.action in ("failed", "delayed") for r in recipients) or (not recipients and delayed):
        kind = "transient"
    elif not recipients and fmt != "rfc3464":
        kind = "permanent"  # a bounce whose recipients we could not read: its wording said it failed
    else:
        return None  # only delivered/relayed/expanded: a success report, not a bounce
    return Bounce(original, recipients, kind, fmt)
