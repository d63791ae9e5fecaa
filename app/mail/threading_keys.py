"""Keys that tie a message to a conversation when its In-Reply-To/References do not: the normalized subject, our
ticket tokens in the subject, and Outlook's Thread-Index.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
import unicodedata
import uuid

__all__ = ["TICKET_TOKEN", "find_ticket_references", "normalize_subject", "thread_index_root", "ticket_token"]

MAX_SUBJECT_KEY = 255

# "[#ACME-1042]": a 1-12 character ASCII prefix, a dash and a number. ASCII classes on purpose: \w and \d would
# accept other scripts' letters and digits, which we never mint.
TICKET_TOKEN = re.compile(r"\[#([A-Za-z0-9]{1,12}-[0-9]{1,18})\]")
_REFERENCE = re.compile(r"[A-Za-z0-9]{1,12}-[0-9]{1,18}")

# Reply and forward prefixes as mail clients write them in their UI language: English Re/Fw/Fwd, German AW/WG,
# Nordic SV/VS, French TR (transfert; French typography puts a space before the colon: "RE :"), Spanish RV,
# Italian R/Rif, Dutch Antw/Doorst, Polish Odp/PD, Turkish YNT/ILT, Portuguese RES/ENC, Chinese and Japanese forms.
# Each needs its colon (ASCII, or full-width before NFKC folds it), so words like "Real:" or "Trip:" stay.
# Counters such as "Re[2]:" or "Re(3):" come from clients that number replies instead of repeating the prefix.
_PREFIX_WORDS = ("re", "fwd", "fw", "aw", "wg", "sv", "vs", "tr", "rv", "rif", "r", "antw", "doorst", "odp", "pd",
                 "ynt", "ilt", "res", "enc", "回复", "回覆", "答复", "答覆", "转发", "轉寄", "転送", "返信")
_PREFIXES = re.compile(
    r"^((?:\[[^\[\]]*\]\s*)*)"  # mailing-list tags stay; prefixes right after them go too ("[users] Re: x")
    r"(?:(?:" + "|".join(sorted(_PREFIX_WORDS, key=len, reverse=True)) + r")"
    r"\s*(?:\[[0-9]+\]|\([0-9]+\))?\s*[:\uff1a]\s*)+",
    re.IGNORECASE,
)

_CONVERSATION_HEADER = 22  # 6 bytes of time, then the 16-byte conversation GUID
_CHILD_BLOCK = 5
_MAX_THREAD_INDEX = 4096  # base64 characters: about 600 replies deep; longer values are not Outlook's


@functools.lru_cache(maxsize=4096)  # ingestion asks several times per message, and a thread repeats its subject
def normalize_subject(subject: str) -> str:
    """A comparison key: no reply/forward prefixes and no ticket tokens, whitespace collapsed, case-folded, at most
    255 characters. Leading "[list-name]" tags are kept: they distinguish lists and may be a tenant's own marker."""
    text = unicodedata.normalize("NFKC", subject or "")
    text = " ".join(TICKET_TOKEN.sub(" ", text).split())
    while True:
        stripped = _PREFIXES.sub(r"\1", text, count=1).strip()
        if stripped == text:
            break
        text = stripped
    return text.casefold()[:MAX_SUBJECT_KEY]


def find_ticket_references(subject: str) -> list[str]:
    """References such as "ACME-1042" from "[#ACME-1042]" tokens, in order, upper-cased, without duplicates."""
    found = (match.upper() for match in TICKET_TOKEN.findall(subject or ""))
    return list(dict.fromkeys(found))


def ticket_token(reference: str) -> str:
    """"ACME-1042" -> "[#ACME-1042]"; raises ValueError for a reference ``find_ticket_references`` could not read."""
    if not _REFERENCE.fullmatch(reference or ""):
        raise ValueError(f"not a ticket reference: {reference!r}")
    return f"[#{reference}]"


def thread_index_root(value: str | None) -> str | None:
    """The conversation key of an Outlook ``Thread-Index`` header, or None if it is missing or malformed.

    The decoded value is a 22-byte conversation header (1 reserved byte 0x01 and 5 bytes of FILETIME, or 6 bytes
    of FILETIME in older Outlook versions, then a GUID generated for each new conversation), followed by one 5-byte
    block per reply. Replies copy the header unchanged, and Exchange's own conversation id is exactly that GUID
    (MS-OXOMSG 2.2.1.2, MS-PST 5.4: offset 6, length 16), so the GUID is the key, written as a UUID string so that
    case-insensitive stores compare it correctly. Never raises.
    """
    try:
        data = _decode_base64(value)
    except (binascii.Error, ValueError, TypeError):
        return None
    if data is None or len(data) < _CONVERSATION_HEADER or (len(data) - _CONVERSATION_HEADER) % _CHILD_BLOCK:
        return None
    guid = data[6:_CONVERSATION_HEADER]
    if guid in (bytes(16), b"\xff" * 16):  # degenerate values would merge unrelated conversations
        return None
    return str(uuid.UUID(bytes=guid))


def _decode_base64(value: str | None) -> bytes | None:
    if not isinstance(value, str):
        return None
    compact = "".join(value.split())
    if not compact or len(compact) > _MAX_THREAD_INDEX:
        return None
    compact += "=" * (-len(compact) % 4)  # some clients drop the padding
    return base64.b64decode(compact, validate=True)
