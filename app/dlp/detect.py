"""Finding secrets in text: card numbers, IBANs, labelled passwords, and tenant regexes run under a time limit.

Plain functions on strings: no Flask, no database. A regular expression only proposes candidates; python-stdnum
decides whether a card number (Luhn) or an IBAN (ISO 7064 and the country's format) is one, so an order number or a
reference that merely looks like one passes.
"""

from __future__ import annotations

import functools
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

import regex
from stdnum import iban, luhn

CUSTOM_TIMEOUT = 0.2  # seconds per rule and text: a tenant's regex must not stall the send
MASK = "•"
CARD_DIGITS = range(13, 20)
_SPACE = "[ \t\u00a0\u202f\u3000]*"  # French puts a (narrow) no-break space before ":"; Japanese a full-width one

# Digit groups joined by one space or dash: "4111 1111 1111 1111", "4111-1111-1111-1111", "4111111111111111".
_DIGIT_RUN = regex.compile(r"(?<!\w)\d+(?:[ \u00a0-]\d+)*(?!\w)")
_DIGITS = regex.compile(r"\d+")
# Two letters, two check digits, then 11-30 letters or digits, optionally in groups: the longest IBAN is 34.
_IBAN = regex.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}[0-9]{2}(?: ?[A-Za-z0-9]){11,30}")
_PASSWORD = regex.compile(
    r"(?:(?<![^\W_])(?:password|passwort|kennwort|mot\s+de\s+passe|contrase[ñn]a|pwd|passcode|pin)|パスワード)"
    + _SPACE + "[:=\uff1a]" + _SPACE  # U+FF1A: the full-width colon
    + r"""(?:"(?P<value>[^"\n]{1,200})"|'(?P<value>[^'\n]{1,200})'|(?P<value>[^\s"']\S{0,199}))""",
    regex.IGNORECASE)
# A value without a letter or digit ("****", "…") is a placeholder, and "[redacted]" is what a scan already left.
_NOT_A_SECRET = regex.compile(r"[^\w]*|\[redacted\]\S*", regex.IGNORECASE)


@dataclass(frozen=True)
class Hit:
    """Where a secret is in the text: ``text[start:end] == value``."""

    start: int
    end: int
    value: str


def find_card_numbers(text: str) -> list[Hit]:
    """Runs of 13-19 digits (grouped by spaces or dashes, or not) that pass the Luhn check. In a longer run of
    groups, the longest passing stretch of whole groups counts, so a card number after an order number is found."""
    hits = []
    for run in _DIGIT_RUN.finditer(text):
        groups = [(run.start() + m.start(), run.start() + m.end(), _ascii_digits(m.group()))
                  for m in _DIGITS.finditer(run.group())]
        hits += [Hit(start, end, text[start:end]) for start, end in _luhn_stretches(groups)]
    return hits


def _ascii_digits(digits: str) -> str:
    return "".join(str(unicodedata.decimal(digit)) for digit in digits)  # full-width digits too


def _luhn_stretches(groups: list[tuple[int, int, str]]) -> list[tuple[int, int]]:
    """Stretches of whole groups with 13-19 digits that pass Luhn, longest first and not overlapping: in
    "12 5500 0000 0000 0004" the card is the last 16 digits, not the first 14 (which pass Luhn by chance)."""
    passing = []
    for first in range(len(groups)):
        digits = ""
        for last in range(first, len(groups)):
            digits += groups[last][2]
            if len(digits) >= CARD_DIGITS.stop or (len(groups) > 1 and len(groups[last][2]) < 3):
                break  # card numbers are written in groups of 3 or more digits; "1 2 3 4 …" is something else
            if len(digits) in CARD_DIGITS and luhn.is_valid(digits):
                passing.append((len(digits), first, last))
    taken, used = [], [False] * len(groups)
    for _length, first, last in sorted(passing, key=lambda stretch: (-stretch[0], stretch[1])):
        if not any(used[first:last + 1]):
            used[first:last + 1] = [True] * (last + 1 - first)
            taken.append((first, last))
    return [(groups[first][0], groups[last][1]) for first, last in sorted(taken)]


def find_ibans(text: str) -> list[Hit]:
    """IBANs in any case, with or without spaces, that pass the check digits and their country's format."""
    hits: list[Hit] = []
    for candidate in _IBAN.finditer(text, overlapped=True):
        if hits and candidate.start() < hits[-1].end:
            continue
        end = _iban_end(text, candidate)
        if end is not None:
            hits.append(Hit(candidate.start(), end, text[candidate.start():end]))
    return hits


def _iban_end(text: str, candidate: regex.Match) -> int | None:
    """The end of the longest valid IBAN the candidate starts with (it may have run on into the next words)."""
    positions = [candidate.start() + i for i, char in enumerate(candidate.group()) if char != " "]
    compact = candidate.group().replace(" ", "")
    for length in range(len(compact), 14, -1):
        end = positions[length - 1] + 1
        if (end == len(text) or not text[end].isalnum()) and iban.is_valid(compact[:length]):
            return end
    return None


def find_passwords(text: str) -> list[Hit]:
    """The values after a password label (en, de, fr, es, ja; also pwd, passcode, PIN) and ":", "=" or a
    full-width colon. A value without a letter or digit, or one already "[redacted]", is not a password."""
    hits = []
    for match in _PASSWORD.finditer(text):
        value = match.group("value")
        if not _NOT_A_SECRET.fullmatch(value):
            hits.append(Hit(match.start("value"), match.end("value"), value))
    return hits


@functools.lru_cache(maxsize=512)  # every send runs every enabled regex rule of the tenant
def compile_custom(pattern: str) -> regex.Pattern:
    """Raises ``regex.error`` (or ``OverflowError``, ``RecursionError``) for a pattern that is not valid."""
    return regex.compile(pattern, regex.IGNORECASE | regex.VERSION0)


def find_custom(pattern: str, text: str, timeout: float = CUSTOM_TIMEOUT) -> list[Hit]:
    """The non-empty matches of a tenant's regex. Raises ``TimeoutError`` when finding them all takes longer than
    ``timeout`` seconds in total (each search gets what is left, so many cheap matches cannot add up either)."""
    compiled = compile_custom(pattern)
    deadline = time.monotonic() + timeout
    hits, position = [], 0
    while position <= len(text):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("regex timed out")
        match = compiled.search(text, position, timeout=left)
        if match is None:
            break
        if match.end() > match.start():
            hits.append(Hit(match.start(), match.end(), match.group()))
        position = max(match.end(), match.start() + 1)
    return hits


def probe_texts(pattern: str, length: int = 3000) -> list[str]:
    """Long runs of the pattern's own characters (and of common ones), each ending in a character that matches
    little: the texts on which a catastrophically backtracking pattern takes its time."""
    own = [char for char in dict.fromkeys(pattern) if char.isalnum() or char in " .-_@:/"]
    units = [*own, "a", "1", " ", ".", "a ", "a1", "a.", "1 ", "a-", "\n"]
    return [(unit * (length // len(unit))) + end for unit in dict.fromkeys(units) for end in ("\x00", "")]


def mask(kind: str, value: str) -> str:
    """What may be shown of a finding: the first and last four characters of a card number or an IBAN, nothing of
    a password, two at either end of a regex match of eight or more letters and digits (nothing of a shorter one)."""
    if kind == "password":
        return MASK * 6
    if kind in ("card_number", "iban"):
        return _mask_middle(value, 4)
    value = value[:60]
    return _mask_middle(value, 2 if sum(char.isalnum() for char in value) >= 8 else 0)


def _mask_middle(value: str, keep: int) -> str:
    """Letters and digits become ``MASK`` except the first and last ``keep``; spaces and dashes stay."""
    count = sum(char.isalnum() for char in value)
    seen, out = 0, []
    for char in value:
        if char.isalnum():
            seen += 1
            char = char if seen <= keep or seen > count - keep else MASK
        out.append(char)
    return "".join(out)


DETECTORS: dict[str, Callable[[str], list[Hit]]] = {
    "card_number": find_card_numbers, "iban": find_ibans, "password": find_passwords}
