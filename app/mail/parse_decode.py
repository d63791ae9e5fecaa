"""Lenient decoding helpers for ``app.mail.parse``: charsets, RFC 2047 headers, addresses, filenames, HTML.

Every function here is total: it never raises for bad input and reports what it had to guess in ``defects``.
"""

from __future__ import annotations

import codecs
import os
import re
from datetime import UTC, datetime
from email.header import decode_header
from email.utils import getaddresses, parsedate_to_datetime

import nh3

_FOLD = re.compile(r"\r?\n[ \t]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MSG_ID = re.compile(r"<([^<>\s]+)>")
# Plain mailboxes, each of which email.utils.getaddresses reads as the groups say (checked against it by a test).
_ATEXT = r"A-Za-z0-9!#$%&'*+/=?^_`{|}~-"
_DOT_ATOM = rf"[{_ATEXT}]+(?:\.[{_ATEXT}]+)*"
_PLAIN_MAILBOX = re.compile(
    rf'(?:"(?P<quoted>[^"\\\r\n]*)" ?|(?P<phrase>[.{_ATEXT}]+(?: [.{_ATEXT}]+)*) ?)?'
    rf"<(?P<angle>{_DOT_ATOM}@{_DOT_ATOM})>|(?P<bare>{_DOT_ATOM}@{_DOT_ATOM})")
_SEPARATOR = re.compile(", ?")

# HTML: ammonia's default tag/attribute allow-lists (no script, style, form, iframe, meta, event handlers, style
# attributes), plus cid: images. Elements whose *content* must go too, not just the tag.
_URL_SCHEMES = frozenset(nh3.ALLOWED_URL_SCHEMES | {"cid"})
_DROP_WITH_CONTENT = frozenset({"script", "style", "iframe", "noscript", "object", "template", "title", "textarea"})


def decode_bytes(data: bytes, charset: str | None, defects: list[str], where: str) -> str:
    """Declared charset, then utf-8, then cp1252 with replacement characters."""
    declared = (charset or "").strip().strip('"').lower() or None
    if declared:
        try:
            codecs.lookup(declared)
            known = True
        except (LookupError, ValueError):
            known = False
        if known:
            try:
                return data.decode(declared)
            except (UnicodeError, LookupError, ValueError, TypeError):
                problem = f"wrong charset {declared}"
        else:
            problem = f"unknown charset {declared}"
    else:
        problem = None
    try:
        text = data.decode("utf-8")
        used = "utf-8"
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
        used = "cp1252"
        problem = problem or "no charset"
    if problem:
        defects.append(f"{problem} in {where} decoded as {used}")
    return text


def header_str(value: object, defects: list[str], where: str) -> str:
    """A compat32 raw header value (str with surrogate escapes for 8-bit bytes) as clean unfolded text."""
    return noted(unfold(value), defects, where)


def unfold(value: object) -> tuple[str, bool]:
    """``header_str`` without the defect: the text, and whether it had 8-bit bytes (a header is read more than once;
    the note names the header as each reader calls it)."""
    if not isinstance(value, str):
        value = str(value)
    eight_bit = not value.isascii() and _all_surrogates_or_ascii(value)
    if eight_bit:
        value = decode_bytes(value.encode("ascii", "surrogateescape"), "utf-8", [], "")
    if "\n" in value:
        value = _FOLD.sub(" ", value)
    return value.strip(), eight_bit


def noted(unfolded: tuple[str, bool], defects: list[str], where: str) -> str:
    text, eight_bit = unfolded
    if eight_bit:
        defects.append(f"8-bit header bytes in {where}")
    return text


def _all_surrogates_or_ascii(value: str) -> bool:
    return all(ord(c) < 128 or 0xDC80 <= ord(c) <= 0xDCFF for c in value)


def decode_words(value: str, defects: list[str], where: str) -> str:
    """RFC 2047 decoding of an already unfolded header value, per chunk with charset fallbacks."""
    if "=?" not in value:
        return value
    try:
        chunks = decode_header(value)
    except Exception as exc:  # HeaderParseError, binascii errors: keep the raw text
        defects.append(f"undecodable encoded word in {where} ({type(exc).__name__})")
        return value
    out = []
    for chunk, charset in chunks:
        if isinstance(chunk, str):
            out.append(chunk)
        elif charset is None:
            out.append(chunk.decode("raw-unicode-escape", errors="replace"))
        else:
            out.append(decode_bytes(chunk, charset.split("*", 1)[0], defects, where))
    return "".join(out)


def header_text(value: object, defects: list[str], where: str) -> str:
    return decode_words(header_str(value, defects, where), defects, where)


def split_addresses(value: str, cap: int) -> tuple[str, bool]:
    """Cut ``value`` after ``cap`` top-level commas (outside quotes, comments and angle brackets)."""
    if value.count(",") < cap:
        return value, False
    commas = 0
    quoted = escaped = False
    nesting = 0
    for i, char in enumerate(value):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif quoted:
            continue
        elif char in "(<":
            nesting += 1
        elif char in ")>":
            nesting = max(0, nesting - 1)
        elif char == "," and nesting == 0:
            commas += 1
            if commas >= cap:
                return value[:i], True
    return value, False


def addresses(values: list[tuple[str, bool]], cap: int, defects: list[str], where: str) -> list[tuple[str, str]]:
    """(name, address) pairs from ``unfold``-ed header values, at most ``cap`` of them."""
    result: list[tuple[str, str]] = []
    for value in values:
        text, truncated = split_addresses(noted(value, defects, where), cap)
        pairs = _plain_addresses(text)
        if pairs is None:
            try:
                pairs = getaddresses([text])
            except Exception as exc:
                defects.append(f"unparseable {where} ({type(exc).__name__})")
                continue
        for name, addr in pairs:
            if name or addr:
                result.append((decode_words(name, defects, where), addr))
        if truncated:
            defects.append(f"{where} capped at {cap} addresses")
    if len(result) > cap:
        result = result[:cap]
        defects.append(f"{where} capped at {cap} addresses")
    return result


def _plain_addresses(text: str) -> list[tuple[str, str]] | None:
    """What ``getaddresses([text])`` returns, for a list of plain ASCII mailboxes (``a@b``, ``<a@b>``, ``Name <a@b>``,
    ``"Name" <a@b>``), without its character-by-character parse; None for anything else, which it parses instead."""
    found = []
    pos = 0
    while True:
        match = _PLAIN_MAILBOX.match(text, pos)
        if match is None:
            return None
        found.append((match["quoted"] or match["phrase"] or "", match["angle"] or match["bare"]))
        pos = match.end()
        if pos == len(text):
            return found
        separator = _SEPARATOR.match(text, pos)
        if separator is None:
            return None
        pos = separator.end()


def parse_date(value: str | None, defects: list[str]) -> datetime | None:
    if value is None:
        defects.append("missing Date")
        return None
    try:
        date = parsedate_to_datetime(value)
    except Exception:  # ValueError, TypeError, OverflowError on garbage
        defects.append("unparseable Date")
        return None
    if date.tzinfo is None:
        defects.append("Date without time zone, assumed UTC")
        date = date.replace(tzinfo=UTC)
    try:
        date.astimezone(UTC)  # "31 Dec 9999 23:59 -1200" parses but cannot be stored in UTC
    except OverflowError:
        defects.append("Date out of range")
        return None
    return date


def msg_ids(value: str | None) -> list[str]:
    if not value:
        return []
    found = _MSG_ID.findall(value)
    return found or [token.strip("<>") for token in value.split() if token.strip("<>")]


def safe_filename(name: str | None, default: str) -> str:
    """No path separators, no control characters, no leading dots, at most 200 characters (extension kept)."""
    name = (name or "").encode("utf-8", "replace").decode("utf-8")
    name = _CONTROL.sub("", name.replace("/", "_").replace("\\", "_")).strip().lstrip(". ")
    if not name:
        return default
    if len(name) > 200:
        stem, ext = os.path.splitext(name)
        name = stem[: 200 - len(ext)] + ext if 0 < len(ext) <= 20 else name[:200]
    return name


def sanitize_html(html: str) -> str:
    """nh3 with its default allow-lists, ``cid:`` images and ``rel="noopener noreferrer"`` on links."""
    return nh3.clean(html, url_schemes=set(_URL_SCHEMES), clean_content_tags=set(_DROP_WITH_CONTENT),
                     link_rel="noopener noreferrer", strip_comments=True)
