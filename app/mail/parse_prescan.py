"""Cheap checks on the raw bytes of a message, run before the standard-library parser ever sees them.

The parser recurses once per nesting level (RecursionError around 2,000 levels) and header handling degrades
badly on huge headers, so anything that could reach those paths is refused here in linear time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEADER_LINE = re.compile(rb"[\x21-\x39\x3b-\x7e]+[ \t]*:")
_BLANK_LINE = re.compile(rb"\n\r*(?:\n|\Z)")
# The structure patterns run over the whole message, so they start with a literal that ``re`` can skip ahead to:
# they see it lower-cased (instead of IGNORECASE) and with a newline in front (instead of MULTILINE "^"), which
# is several times faster and matches the same lines.
_BOUNDARY_PARAM = re.compile(rb'boundary\s*=\s*(?:"([^"\r\n]{1,200})"|([^\s;"]{1,200}))')
_DASH_LINE = re.compile(rb"\n--([^\r\n]{1,202})")
_RFC822 = re.compile(rb"\ncontent-type[ \t]*:[ \t]*message/(?:rfc822|global)")


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
    if _plainly_fine(raw, pos, limits):
        return
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


def _plainly_fine(raw: bytes, pos: int, limits: Limits) -> bool:
    """True when the line-by-line scan cannot raise: the block up to the first blank line starts with a header, has
    no NUL, and is too short to hold too many or too long headers. Ordinary mail passes without a Python loop."""
    blank = _BLANK_LINE.search(raw, pos)
    block = raw[pos:blank.start() if blank else len(raw)]
    return (len(block) <= limits.max_header_line and block.count(b"\n") < limits.max_headers
            and b"\x00" not in block and _HEADER_LINE.match(block) is not None)


def _scan_structure(raw: bytes, limits: Limits) -> None:
    """Bound part count and nesting depth from declared boundaries and their delimiter lines."""
    framed = b"\n" + raw  # see the patterns: every line now starts after a newline
    lowered = framed.lower()
    boundaries = _declared_boundaries(framed, lowered)
    rfc822 = len(_RFC822.findall(lowered))
    parts = rfc822
    stack: list[bytes] = []
    deepest = 0
    if boundaries:
        for match in _DASH_LINE.finditer(framed):
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


def _declared_boundaries(framed: bytes, lowered: bytes) -> set[bytes]:
    """Boundary values as written (they are case-sensitive), found in the lower-cased copy."""
    found = set()
    for match in _BOUNDARY_PARAM.finditer(lowered):
        group = 1 if match.start(1) >= 0 else 2
        found.add(framed[match.start(group):match.end(group)])
    return found
