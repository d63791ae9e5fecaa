"""The standard library's MIME parser without its most expensive step on ordinary mail.

``email.feedparser`` compiles a regular expression for every multipart boundary it meets. Boundaries are unique per
message, so ``re``'s cache never hits, and the compile (about 0.2 ms) costs more than parsing the rest of a typical
message. ``parse_bytes`` runs the parser's own code with a stand-in for ``re`` whose boundary "pattern" is a
``startswith`` plus one precompiled pattern for the rest of the line; the lines matched, the parse tree and every
recorded defect stay the same. Where the parser's code is not the shape this expects, the stdlib parser runs as is.
"""

from __future__ import annotations

import re
import types
from email import feedparser
from email.message import Message
from email.policy import compat32

__all__ = ["parse_bytes"]

# FeedParser._parsegen builds its boundary pattern as _SEP_OPEN + re.escape("--" + boundary) + _SEP_TAIL.
_SEP_OPEN = "(?P<sep>"
_SEP_TAIL = r")(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$"
_AFTER_SEPARATOR = re.compile(_SEP_TAIL[1:])


class _BoundaryLine:
    """The part of a compiled boundary pattern the parser uses: ``match(line)``, with groups end, ws and linesep."""

    __slots__ = ("separator",)

    def __init__(self, separator: str) -> None:
        self.separator = separator

    def match(self, line: str) -> re.Match[str] | None:
        if not line.startswith(self.separator):
            return None
        return _AFTER_SEPARATOR.match(line, len(self.separator))


class _ReStandIn:
    """``re`` as the parser's code sees it. ``escape`` returns the separator unchanged, so that ``compile`` can take
    it back out of the pattern; only the boundary pattern is built with ``escape``, and only it has this shape."""

    def __getattr__(self, name: str) -> object:
        return getattr(re, name)

    @staticmethod
    def escape(text: str) -> str:
        return text

    @staticmethod
    def compile(pattern: str, flags: int = 0) -> re.Pattern[str] | _BoundaryLine:
        if not flags and pattern.startswith(_SEP_OPEN) and pattern.endswith(_SEP_TAIL):
            return _BoundaryLine(pattern[len(_SEP_OPEN):-len(_SEP_TAIL)])
        return re.compile(pattern, flags)


def _parser_class() -> type[feedparser.FeedParser]:
    original = feedparser.FeedParser._parsegen
    if not {_SEP_OPEN, _SEP_TAIL} <= set(original.__code__.co_consts):
        return feedparser.FeedParser
    scope = dict(vars(feedparser), re=_ReStandIn())  # a copy: the stdlib module itself is left alone
    parsegen = types.FunctionType(original.__code__, scope, original.__name__, original.__defaults__,
                                  original.__closure__)
    return type("_FeedParser", (feedparser.FeedParser,), {"_parsegen": parsegen})


_FeedParser = _parser_class()


def parse_bytes(raw: bytes) -> Message:
    """The same ``Message`` as ``BytesParser(policy=compat32).parsebytes(raw)``."""
    parser = _FeedParser(policy=compat32)
    parser.feed(raw.decode("ascii", "surrogateescape"))
    return parser.close()
