"""app.mail.threading_keys: subject keys across mail clients' languages, ticket tokens, Outlook's Thread-Index."""

from __future__ import annotations

import base64
import uuid

import pytest

from app.mail.parse import parse_message
from app.mail.threading_keys import (
    TICKET_TOKEN,
    find_ticket_references,
    normalize_subject,
    thread_index_root,
    ticket_token,
)

# --- normalize_subject -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("subject", [
    "Printer on floor 3",
    "Re: Printer on floor 3",
    "RE: Printer on floor 3",
    "Re: Re: Re: Printer on floor 3",
    "Re:Printer on floor 3",
    "Re[2]: Printer on floor 3",
    "Re(3): Printer on floor 3",
    "Fwd: Printer on floor 3",
    "Fw: Printer on floor 3",
    "FW: RE: Printer on floor 3",
    "AW: WG: AW: Printer on floor 3",  # German Outlook
    "SV: VS: Printer on floor 3",  # Swedish/Norwegian/Danish, Finnish
    "TR : RE : Printer on floor 3",  # French Outlook, with the space before the colon
    "RV: Printer on floor 3",  # Spanish
    "R: Rif: Printer on floor 3",  # Italian
    "Antw: Doorst: Printer on floor 3",  # Dutch
    "Odp: PD: Printer on floor 3",  # Polish
    "回复: 答复: 转发: Printer on floor 3",  # Chinese, simplified
    "返信: 転送: Printer on floor 3",  # Japanese
    "Re\uff1a Printer on floor 3",  # full-width colon from CJK input methods
    "回复\uff1a转发\uff1aPrinter on floor 3",
    "\uff32\uff25\uff1a Printer on floor 3",  # full-width letters too
    "  Re:   Printer   on\tfloor 3  ",
    "re: PRINTER ON FLOOR 3",
    "Re: [#ACME-1042] Printer on floor 3",
    "[#ACME-1042] Re: Printer on floor 3",
    "AW: Printer on floor 3 [#ACME-1042]",
    "Re: [#ACME-1042] [#ACME-1050] Printer on floor 3",
])
def test_reply_and_forward_prefixes_and_ticket_tokens_are_removed(subject):
    assert normalize_subject(subject) == "printer on floor 3"


@pytest.mark.parametrize(("subject", "expected"), [
    ("[users] Re: Re: Build fails", "[users] build fails"),  # list tags stay, prefixes after them go
    ("Re: [users] Re: Build fails", "[users] build fails"),
    ("[ACME-1042] Printer", "[acme-1042] printer"),  # not our token (no "#"): may be another system's marker
    ("Real: estate", "real: estate"),  # a word that starts like a prefix is kept
    ("Trip: Berlin", "trip: berlin"),
    ("Re Printer", "re printer"),  # no colon, no prefix
    ("Straße", "strasse"),  # casefold, not just lower
    ("Re:", ""),
    ("", ""),
])
def test_what_normalize_subject_keeps(subject, expected):
    assert normalize_subject(subject) == expected


def test_normalized_subject_is_at_most_255_characters():
    assert len(normalize_subject("Re: " + "ß" * 300)) == 255


# --- ticket tokens -----------------------------------------------------------------------------------------------


def test_find_ticket_references_in_order_without_duplicates():
    subject = "Re: [#ACME-1042] merged with [#ops7-12] and [#acme-1042] again"
    assert find_ticket_references(subject) == ["ACME-1042", "OPS7-12"]


@pytest.mark.parametrize("subject", [
    "Re: #ACME-1042 without brackets",
    "[ACME-1042] without hash",
    "[#ACME1042] without dash",
    "[#TOOLONGPREFIX1-5] prefix over 12 characters",
    "[#ACME-] no number",
    "[#ACMÉ-1042] non-ASCII prefix",
    "[#ACME-١٢٣] Arabic-Indic digits",
    "",
])
def test_non_tokens_are_not_references(subject):
    assert find_ticket_references(subject) == []


def test_ticket_token_round_trips_through_find_ticket_references():
    token = ticket_token("ACME-1042")
    assert token == "[#ACME-1042]"
    assert TICKET_TOKEN.fullmatch(token)
    assert find_ticket_references(f"Re: {token} Printer") == ["ACME-1042"]
    assert normalize_subject(f"Re: {token} Printer") == "printer"


@pytest.mark.parametrize("reference", ["", "ACME", "ACME-", "[#ACME-1]", "ACME 1", "TOOLONGPREFIX1-5", "A-1]"])
def test_ticket_token_rejects_what_it_could_not_read_back(reference):
    with pytest.raises(ValueError, match="not a ticket reference"):
        ticket_token(reference)


# --- Thread-Index ------------------------------------------------------------------------------------------------

GUID = uuid.UUID("7c1e3a52-9d4f-4b8e-a1c6-3f2d5e8b9a07")
# As Outlook writes them: a new conversation, a reply, a reply to the reply (a 5-byte block each).
NEW = "AdvUfHYpfB46Up1PS46hxj8tXouaBw=="
REPLY = "AdvUfHYpfB46Up1PS46hxj8tXouaBwChssPU"
REPLY_TO_REPLY = "AdvUfHYpfB46Up1PS46hxj8tXouaBwChssPUAVVmd4g="
# Older Outlook versions: 6 bytes of time without the 0x01 marker, same GUID position.
OLD_STYLE = "x9GlCJ9+fB46Up1PS46hxj8tXouaBw=="


def test_all_replies_in_a_conversation_share_the_root_key():
    keys = {thread_index_root(value) for value in (NEW, REPLY, REPLY_TO_REPLY, OLD_STYLE)}
    assert keys == {str(GUID)}


def test_another_conversation_has_another_key():
    other = base64.b64encode(b"\x01" + bytes(5) + uuid.UUID(int=GUID.int + 1).bytes).decode()
    assert thread_index_root(other) not in (None, str(GUID))


@pytest.mark.parametrize("value", [
    "AdvUfHYpfB46Up1PS46hxj8tXouaBw",  # padding dropped
    " AdvUfHYpfB46Up1PS46hxj8\r\n tXouaBwChssPU ",  # folded
])
def test_tolerated_variations(value):
    assert thread_index_root(value) == str(GUID)


@pytest.mark.parametrize("value", [
    None,
    "",
    "   ",
    "AdvUfHYpfB46Up1PS46hxj8tXoua",  # 21 bytes: shorter than the conversation header
    "AdvUfHYpfB46Up1PS46hxj8tXouaBwCh",  # 24 bytes: a partial child block
    "AdvUfHYp!B46Up1PS46hxj8tXouaBw==",  # not base64
    "AdvUfHYpfB46Up1PS46hxj8tXouaBwA",  # impossible length (31 characters)
    base64.b64encode(b"\x01" + bytes(21)).decode(),  # all-zero GUID would merge unrelated conversations
    "A" * 10_000,  # far longer than any real conversation
    "Ünïcödé",
    b"AdvUfHYpfB46Up1PS46hxj8tXouaBw==",  # bytes, not str
    12345,
])
def test_missing_or_malformed_values_give_none(value):
    assert thread_index_root(value) is None  # type: ignore[arg-type]


def test_thread_index_from_a_parsed_outlook_message():
    raw = (b"From: Max <max@kunde.example>\r\nTo: desk@postroom.example\r\nSubject: AW: Drucker\r\n"
           b"Message-ID: <AM0PR01MB1234@eurprd01.prod.outlook.com>\r\nThread-Topic: Drucker\r\n"
           b"Thread-Index: AdvUfHYpfB46Up1PS46hxj8tXouaBwChssPU\r\n\r\nHallo\r\n")
    parsed = parse_message(raw)
    [value] = parsed.loop_headers["Thread-Index"]
    assert thread_index_root(value) == str(GUID)
    assert normalize_subject(parsed.subject) == "drucker"
