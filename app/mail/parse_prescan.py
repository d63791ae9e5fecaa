"""Cheap checks on the raw bytes of a message, run before the standard-library parser ever sees them.

The parser recurses once per nesting level (RecursionError around 2,000 levels) and header handling degrades
badly on huge headers, so anything that could reach those paths is refused here in linear time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEADER_LINE = re.compile(rb"[\x21-\x39\x3b-\x7e]+[ \t]*:")
_BOUNDARY_PARAM = re.compile(rb'boundary\s*=\s*(?:"([^"\r\n]{1,200})"|([^\s;"]{1,200}))', re.IGNORECASE)
_DASH_LINE = re.compile(rb"^--([^\r\n]{1,202})", re.MULTILINE)
_RFC822 = re.compile(rb"^content-type[ \t]*:[ \t]*message/(?:rfc822|global)", re.IGNORECASE | re.MULTILINE)


RECURSION_SAFE_DEPTH = 150


class Quarantine(Exception):
    """Raised inside the parse module only; turned into ``Parsed(ok=False, ...)``."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 50 * 1024 * 1024
    max_parts: int = 500
    max_depth: int = 30
    max_header_line: int = 100_000
    max_headers: int = 1_000
    max_addresses_per_header: int = 2_000


def prescan(raw: bytes, limits: Limits) -> None:
    """Raise ``Quarantine`` for input that is too big, not a message, or structurally pathological."""
    if len(raw) > limits.max_bytes:
        raise Quarantine("too_large", f"{len(raw)} bytes, limit {limits.max_bytes}")
    _scan_header_block(raw, limits)
    _scan_structure(raw, limits)


def _scan_header_block(raw: bytes, limits: Limits) -> None:
    pos, end = 0, len(raw)
    if raw.startswith(b"From "):  # mbox separator line
        nl = raw.find(b"\n")
        pos = end if nl < 0 else nl + 1
    count = 0
    current = 0
    while pos < end:
        nl = raw.find(b"\n", pos)
        stop = end if nl < 0 else nl
        line = raw[pos:stop].rstrip(b"\r")
        if not line:
            break
        if line[:1] in (b" ", b"\t"):
            if count == 0:
                raise Quarantine("not_a_message", "starts with a continuation line")
            current += len(line)
        else:
            if not _HEADER_LINE.match(line):
                if count == 0:
                    raise Quarantine("not_a_message", "no header block at the start of the input")
                break  # the parser treats this as the start of the body (a recorded defect)
            if b"\x00" in line:
                raise Quarantine("undecodable", "NUL byte in the header block")
            count += 1
            current = len(line)
            if count > limits.max_headers:
                raise Quarantine("too_many_headers", f"more than {limits.max_headers} headers")
        if current > limits.max_header_line:
            raise Quarantine("header_too_long", f"a header longer than {limits.max_header_line} bytes")
        pos = stop + 1
    if count == 0:
        raise Quarantine("not_a_message", "empty input or no headers")


def _scan_structure(raw: bytes, limits: Limits) -> None:
    """Bound part count and nesting depth from declared boundaries and their delimiter lines."""
    boundaries = {q or t for q, t in _BOUNDARY_PARAM.findall(raw)}
    rfc822 = len(_RFC822.findall(raw))
    parts = rfc822
    stack: list[bytes] = []
    deepest = 0
    if boundaries:
        for match in _DASH_LINE.finditer(raw):
            token = match.group(1).rstrip(b" \t")
            closing = token.endswith(b"--") and token[:-2] in boundaries
            name = token[:-2] if closing else token
            if name not in boundaries:
                continue
            if name in stack:
                del stack[stack.index(name) + (0 if closing else 1):]
            elif not closing:
                stack.append(name)
            if not closing:
                parts += 1
                if parts > limits.max_parts:
                    raise Quarantine("too_many_parts", f"more than {limits.max_parts} MIME parts")
                if len(stack) > limits.max_depth:
                    raise Quarantine("too_deep", f"multipart nesting deeper than {limits.max_depth} levels")
                deepest = max(deepest, len(stack))
    # Forwarded messages may be siblings, so their count only guards the parser's recursion here; the exact depth
    # is enforced while walking the parsed tree.
    if deepest + rfc822 > RECURSION_SAFE_DEPTH:
        raise Quarantine("too_deep", f"up to {deepest + rfc822} nested levels, more than the parser can take safely")
