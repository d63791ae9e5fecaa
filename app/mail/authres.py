"""Read SPF, DKIM and DMARC verdicts from RFC 8601 ``Authentication-Results`` headers that our own receiving
servers added.

Anyone can put an Authentication-Results header into the mail they send, claiming ``dmarc=pass``. Only a header
whose authserv-id names a server we trust counts, and of those only the topmost: the receiving server prepends its
header, so it is first in ``Parsed.loop_headers`` (which keeps header order), and anything below it arrived with
the message. (RFC 8601 section 5 asks receivers to delete forged headers carrying their own id; not all do.)

Hand-written rather than built on the ``authres`` package: its last release is from 2019, and it rejects the whole
header with SyntaxError on input that real receivers produce, such as an internationalized address or domain
(``smtp.mailfrom=jürgen@example.org``, RFC 6532) or an angle-bracketed value, losing verdicts that were readable.
We need only ``method=result`` of each resinfo, which a small lenient tokenizer reads reliably.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["dmarc_failed", "read_authentication_results"]

METHODS = ("spf", "dkim", "dmarc")
MAX_VALUE = 16_384  # parse.py caps header lines already; this keeps the tokenizer linear on anything else

_RESULTS = frozenset({"pass", "fail", "softfail", "neutral", "none", "temperror", "permerror", "policy"})
# Older and vendor spellings: "hardfail" is RFC 5451's name for fail; Microsoft writes "bestguesspass" when the
# domain publishes no DMARC record, which is no DMARC verdict at all.
_ALIASES = {"hardfail": "fail", "bestguesspass": "none"}
_RESINFO = re.compile(r"([a-z0-9][a-z0-9_.-]*)\s*(?:/\s*\d+\s*)?=\s*([a-z0-9_-]+)", re.IGNORECASE)
_AUTHSERV_ID = re.compile(r"([^\s=]+)(?:\s+\d+)?")
_SPECIAL = re.compile(r'([;()"\\])')


def read_authentication_results(values: list[str], trusted_authserv_ids: Iterable[str]) -> dict:
    """Verdicts of the topmost header from a trusted server, e.g. ``{"authserv_id": "mx.example.com", "spf":
    "pass", "dkim": "fail"}`` with only the methods it reports; ``{}`` if no header is from a trusted server.

    A result is one of pass, fail, softfail, neutral, none, temperror, permerror (and policy for DKIM); several
    DKIM signatures give "pass" if any passed. Never raises.
    """
    trusted = {_id_key(server) for server in trusted_authserv_ids if server}
    for value in values or ():
        if not isinstance(value, str):
            continue
        segments = _segments(value[:MAX_VALUE])
        authserv_id = _authserv_id(segments[0]) if segments else None
        if authserv_id is not None and _id_key(authserv_id) in trusted:
            return _verdicts(authserv_id, segments[1:])
    return {}


def dmarc_failed(result: dict) -> bool:
    """True only for an explicit DMARC fail: temperror and permerror are DNS or record trouble, not a spoof."""
    return bool(result) and result.get("dmarc") == "fail"


def _id_key(server: str) -> str:
    return server.strip().strip('"').rstrip(".").casefold()


def _authserv_id(segment: str) -> str | None:
    """``mx.example.com`` or ``mx.example.com 1`` (a version); a segment with "=" is a resinfo, not an id."""
    match = _AUTHSERV_ID.fullmatch(segment.strip())
    return match.group(1).strip('"') if match else None


def _verdicts(authserv_id: str, resinfos: list[str]) -> dict:
    found: dict[str, list[str]] = {}
    for resinfo in resinfos:
        match = _RESINFO.match(resinfo.strip())
        if not match:
            continue  # "none" (nothing was checked), an empty segment, or a value we cannot read
        method = match.group(1).lower()
        result = match.group(2).lower()
        result = _ALIASES.get(result, result)
        if method in METHODS and result in _RESULTS:
            found.setdefault(method, []).append(result)
    verdicts: dict[str, str] = {"authserv_id": authserv_id}
    for method, results in found.items():
        # Each DKIM signature is verified separately and one valid signature authenticates the message; for SPF
        # and DMARC a receiver reports one result, so the first is the one.
        verdicts[method] = "pass" if method == "dkim" and "pass" in results else results[0]
    return verdicts


def _segments(value: str) -> list[str]:
    """Split on ";" outside quoted strings and comments; comments become a space. Folding is plain whitespace
    here. An unterminated quote or comment runs to the end of the value rather than failing the header."""
    segments: list[str] = []
    current: list[str] = []
    depth = 0
    quoted = escaped = False
    # Odd pieces are single special characters, even ones the plain text between them, handled as a whole.
    for index, piece in enumerate(_SPECIAL.split(value)):
        if escaped and piece:
            escaped = False
            if depth == 0:
                current.append(piece[0])
            piece = piece[1:]
        if not piece:
            continue
        if index % 2 == 0:
            if quoted or not depth:
                current.append(piece)
        elif piece == "\\" and (quoted or depth):
            escaped = True
        elif quoted:
            current.append(piece)
            quoted = piece != '"'
        elif piece == "(":
            depth += 1
        elif depth:
            if piece == ")":
                depth -= 1
                if not depth:
                    current.append(" ")
        elif piece == '"':
            quoted = True
            current.append(piece)
        elif piece == ";":
            segments.append("".join(current))
            current = []
        else:
            current.append(piece)
    segments.append("".join(current))
    return [" ".join(segment.split()) for segment in segments]
