"""Turn raw RFC 5322 bytes into a ``Parsed`` record without ever raising.

Cheap limits are checked on the raw bytes first (``parse_prescan``), then the message is parsed with the fast
``compat32`` policy (``parse_feed``) and walked iteratively. Anything unexpected ends as
``Parsed(ok=False, quarantine_reason=...)``.
Quarantine reasons: too_large, too_many_parts, too_deep, header_too_long, too_many_headers, not_a_message,
undecodable, parser_error.
"""

from __future__ import annotations

import hashlib
import io
import mimetypes
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from email.generator import BytesGenerator
from email.message import Message
from typing import TypeVar

from app.mail.parse_decode import (
    addresses,
    decode_bytes,
    decode_words,
    header_str,
    msg_ids,
    noted,
    parse_date,
    safe_filename,
    sanitize_html,
    unfold,
)
from app.mail.parse_feed import parse_bytes
from app.mail.parse_prescan import Limits, Quarantine, prescan

__all__ = ["LOOP_HEADERS", "Attachment", "Limits", "Parsed", "parse_message"]

LOOP_HEADERS = ("Auto-Submitted", "X-Autoreply", "X-Autorespond", "Precedence", "List-Id",
                "X-Auto-Response-Suppress", "Thread-Index", "Delivered-To", "X-Original-To", "Authentication-Results",
                "X-Postroom-Loop")
_LOOP_CANONICAL = {name.lower(): name for name in LOOP_HEADERS}
MAX_DISPLAY_VALUE = 998
T = TypeVar("T")


@dataclass
class Attachment:
    filename: str
    content_type: str
    size: int
    sha256: str
    disposition: str  # "attachment" | "inline"
    content_id: str | None = None
    is_calendar: bool = False
    payload: bytes = field(default=b"", repr=False)


@dataclass
class Parsed:
    ok: bool
    quarantine_reason: str | None = None
    quarantine_detail: str | None = None
    message_id: str | None = None
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    subject: str = ""
    from_: tuple[str, str] = ("", "")
    to: list[tuple[str, str]] = field(default_factory=list)
    cc: list[tuple[str, str]] = field(default_factory=list)
    reply_to: list[tuple[str, str]] = field(default_factory=list)
    date: datetime | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    loop_headers: dict[str, list[str]] = field(default_factory=dict)
    text: str | None = None
    html_sanitized: str | None = None
    attachments: list[Attachment] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)


def parse_message(raw: bytes, *, limits: Limits = Limits()) -> Parsed:  # noqa: B008 - frozen dataclass
    """Parse ``raw``; never raises for bad input (quarantines it instead)."""
    try:
        if not isinstance(raw, (bytes, bytearray, memoryview)):
            raise Quarantine("not_a_message", f"expected bytes, got {type(raw).__name__}")
        raw = bytes(raw)
        prescan(raw, limits)
        msg = parse_bytes(raw)
        parsed = Parsed(ok=True)
        _read_headers(msg, parsed, limits)
        _read_parts(msg, parsed, limits)
    except Quarantine as q:
        return Parsed(ok=False, quarantine_reason=q.reason, quarantine_detail=q.detail)
    except RecursionError:
        return Parsed(ok=False, quarantine_reason="parser_error", quarantine_detail="RecursionError: nesting too deep")
    except Exception as exc:  # the contract is "never raises"
        detail = f"{type(exc).__name__}: {exc}"[:500]
        return Parsed(ok=False, quarantine_reason="parser_error", quarantine_detail=detail)
    parsed.defects = list(dict.fromkeys(parsed.defects))
    _storable(parsed)
    return parsed


def _clean(text: str) -> str:
    """Databases refuse NUL characters (PostgreSQL) and lone surrogates (any UTF-8 encoder): drop or replace them."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    if text.isascii():  # constant time in CPython; nearly every value is ASCII
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def _storable(parsed: Parsed) -> None:
    for name in ("message_id", "in_reply_to", "subject", "text", "html_sanitized"):
        value = getattr(parsed, name)
        if value:
            setattr(parsed, name, _clean(value))
    parsed.references = [_clean(ref) for ref in parsed.references]
    parsed.from_ = (_clean(parsed.from_[0]), _clean(parsed.from_[1]))
    for field_name in ("to", "cc", "reply_to"):
        setattr(parsed, field_name, [(_clean(n), _clean(a)) for n, a in getattr(parsed, field_name)])
    parsed.headers = [(_clean(n), _clean(v)) for n, v in parsed.headers]
    parsed.loop_headers = {k: [_clean(v) for v in vs] for k, vs in parsed.loop_headers.items()}
    for attachment in parsed.attachments:
        attachment.filename = _clean(attachment.filename)
        if attachment.content_id:
            attachment.content_id = _clean(attachment.content_id)


def _read_headers(msg: Message, parsed: Parsed, limits: Limits) -> None:
    defects = parsed.defects
    by_name: dict[str, list[tuple[str, bool]]] = {}
    for name, value in msg.raw_items():  # raw values: msg.get() turns 8-bit headers into lossy Header objects
        key = name.strip().lower()
        unfolded = unfold(value)
        text = noted(unfolded, defects, name)
        by_name.setdefault(key, []).append(unfolded)
        parsed.headers.append((name, decode_words(text, defects, name)[:MAX_DISPLAY_VALUE]))
        canonical = _LOOP_CANONICAL.get(key)
        if canonical:
            parsed.loop_headers.setdefault(canonical, []).append(text)

    def first(name: str) -> str | None:
        values = by_name.get(name.lower())
        return noted(values[0], defects, name) if values else None

    ids = msg_ids(first("Message-ID"))
    parsed.message_id = ids[0] if ids else None
    if parsed.message_id is None:
        defects.append("missing Message-ID")
    replied = msg_ids(first("In-Reply-To"))
    parsed.in_reply_to = replied[0] if replied else None
    parsed.references = msg_ids(first("References"))
    subject = first("Subject")
    parsed.subject = "" if subject is None else decode_words(subject, defects, "Subject")
    cap = limits.max_addresses_per_header
    senders = addresses(by_name.get("from", []), cap, defects, "From")
    if senders:
        parsed.from_ = senders[0]
    else:
        defects.append("missing From")
    parsed.to = addresses(by_name.get("to", []), cap, defects, "To")
    parsed.cc = addresses(by_name.get("cc", []), cap, defects, "Cc")
    parsed.reply_to = addresses(by_name.get("reply-to", []), cap, defects, "Reply-To")
    parsed.date = parse_date(first("Date"), defects)


def _read_parts(msg: Message, parsed: Parsed, limits: Limits) -> None:
    """Iterative depth-first walk; forwarded messages are kept whole but still counted against the limits."""
    stack: list[tuple[Message, int, bool]] = [(msg, 0, False)]
    count = 0
    while stack:
        part, depth, inside_forward = stack.pop()
        count += 1
        if count > limits.max_parts:
            raise Quarantine("too_many_parts", f"more than {limits.max_parts} MIME parts")
        if depth > limits.max_depth:
            raise Quarantine("too_deep", f"nesting deeper than {limits.max_depth} levels")
        if part is not msg:
            _check_part_headers(part, limits)
        parsed.defects.extend(type(defect).__name__ for defect in part.defects)
        ctype = part.get_content_type()
        payload = part.get_payload()
        if ctype.startswith("message/") and part is not msg and isinstance(payload, list):
            if not inside_forward and ctype in ("message/rfc822", "message/global"):
                _add_forward(part, parsed)
            stack.extend((child, depth + 1, True) for child in reversed(payload))
        elif isinstance(payload, list):
            stack.extend((child, depth + 1, inside_forward) for child in reversed(payload))
        elif not inside_forward:
            _read_leaf(part, ctype, parsed)


def _check_part_headers(part: Message, limits: Limits) -> None:
    items = list(part.raw_items())
    if len(items) > limits.max_headers:
        raise Quarantine("too_many_headers", f"a MIME part with more than {limits.max_headers} headers")
    for name, value in items:
        if len(name) + len(str(value)) > limits.max_header_line:
            raise Quarantine("header_too_long", f"a MIME part header longer than {limits.max_header_line} bytes")


def _read_leaf(part: Message, ctype: str, parsed: Parsed) -> None:
    defects = parsed.defects
    if ctype.startswith("multipart/"):  # no usable boundary: the parser left the whole body as one string
        ctype = "text/plain"
    data = _guarded(lambda: part.get_payload(decode=True), b"", defects, "undecodable MIME payload")
    if not isinstance(data, bytes):
        data = b""
    disposition = part.get_content_disposition()
    filename = _filename(part, defects)
    charset = _guarded(part.get_content_charset, None, defects, "unreadable MIME parameters")
    is_body = disposition != "attachment" and not filename
    if is_body and ctype == "text/plain" and parsed.text is None:
        parsed.text = decode_bytes(data, charset, defects, "text/plain body")
        return
    if is_body and ctype == "text/html" and parsed.html_sanitized is None:
        html = decode_bytes(data, charset, defects, "text/html body")
        parsed.html_sanitized = sanitize_html(html)
        return
    content_id = part.get("Content-ID")
    content_id = (header_str(content_id, defects, "Content-ID").strip("<> ") or None) if content_id else None
    if disposition not in ("inline", "attachment"):
        disposition = "inline" if content_id else "attachment"
    index = len(parsed.attachments) + 1
    default = f"attachment-{index}{mimetypes.guess_extension(ctype) or '.bin'}"
    parsed.attachments.append(Attachment(
        filename=safe_filename(filename, default), content_type=ctype, size=len(data),
        sha256=hashlib.sha256(data).hexdigest(), disposition=disposition, content_id=content_id,
        is_calendar=ctype == "text/calendar", payload=data))


def _add_forward(part: Message, parsed: Parsed) -> None:
    inner = part.get_payload(0)
    buffer = io.BytesIO()
    try:
        BytesGenerator(buffer, mangle_from_=False, maxheaderlen=0).flatten(inner)
        data = buffer.getvalue()
    except Exception as exc:  # re-serialization of odd messages can fail; keep what we have
        parsed.defects.append(f"forwarded message could not be re-serialized ({type(exc).__name__})")
        data = buffer.getvalue()
    name = _filename(part, parsed.defects)
    index = len(parsed.attachments) + 1
    filename = safe_filename(name, f"forwarded-{index}.eml")
    if not filename.lower().endswith(".eml"):
        filename = safe_filename(filename[:196] + ".eml", f"forwarded-{index}.eml")
    disposition = "inline" if part.get_content_disposition() == "inline" else "attachment"
    parsed.attachments.append(Attachment(
        filename=filename, content_type="message/rfc822", size=len(data), sha256=hashlib.sha256(data).hexdigest(),
        disposition=disposition, payload=data))


def _guarded(call: Callable[[], T], default: T, defects: list[str], note: str) -> T:
    """The stdlib's parameter decoding raises on some malformed RFC 2231 input; one bad part must not sink all."""
    try:
        return call()
    except Exception as exc:
        defects.append(f"{note} ({type(exc).__name__})")
        return default


def _filename(part: Message, defects: list[str]) -> str | None:
    raw_name = _guarded(part.get_filename, None, defects, "unreadable MIME parameters")
    if raw_name is None:
        return None
    return decode_words(header_str(raw_name, defects, "filename"), defects, "filename")
