"""Which of Postroom's languages a requester writes in, when their mail makes that clear.

py3langid (a maintained fork of langid.py) ships its model inside the package: nothing is downloaded at run time.
It classifies among all ~97 languages it knows, so an Italian mail is "it" (and ignored here), not a poor guess
among our five.
"""

from __future__ import annotations

from collections.abc import Collection
from functools import cache

MIN_WEIGHT = 20  # shorter texts ("Thanks!", "OK, danke") name no language reliably
MIN_CONFIDENCE = 0.9
SAMPLE_CHARS = 2000  # the opening is enough, and keeps long mails cheap


@cache
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def _own_text(text: str) -> str:
    """The mail's own words: quoted lines (an earlier message, perhaps ours, perhaps in another language) dropped."""
    lines = (line for line in text.splitlines() if not line.lstrip().startswith(">"))
    return "\n".join(lines)[:SAMPLE_CHARS]


def _weight(text: str) -> int:
    """Letters, with a Japanese character counting as three: one carries about as much as a short word."""
    return sum(3 if ord(char) >= 0x3000 else 1 for char in text if char.isalpha())


def detect_language(text: str | None, candidates: Collection[str]) -> str | None:
    """The language of ``text`` if it is one of ``candidates`` and the text is long and clear enough, else None."""
    sample = _own_text(text or "")
    if _weight(sample) < MIN_WEIGHT:
        return None
    code, confidence = _identifier().classify(sample)
    return code if code in candidates and confidence >= MIN_CONFIDENCE else None
