"""The shortcuts that keep parsing cheap give exactly what the slower code they skip would give (pure, no fixtures)."""

from __future__ import annotations

import random
from email import feedparser
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from email.utils import getaddresses

import pytest
import regex

from app.mail import parse_feed
from app.mail.authres import read_authentication_results
from app.mail.parse_decode import _plain_addresses
from app.mail.parse_feed import parse_bytes
from app.mail.parse_prescan import Limits, Quarantine, prescan
from app.routing.services import compile_pattern
from tests.mail.test_parse import NORMAL, msg

# --- the MIME parser ---------------------------------------------------------------------------------------------


def _tree(message: Message) -> tuple:
    payload = message._payload
    children = [_tree(part) for part in payload] if isinstance(payload, list) else payload
    defects = [(type(defect).__name__, str(defect)) for defect in message.defects]
    return message._headers, message.preamble, message.epilogue, message.get_default_type(), defects, children


def test_the_fast_parser_is_in_use():
    # Were FeedParser's code to change shape (a Python upgrade), the plain parser runs: still correct, only slower.
    assert parse_feed._FeedParser is not feedparser.FeedParser


BOUNDARY_CASES = [
    NORMAL,
    NORMAL.replace(b"\r\n", b"\n"),
    NORMAL.replace(b"\r\n", b"\r"),
    msg("Content-Type: multipart/mixed; boundary=\"a.b*c+?(x)[y]|$^\\\\\"", "", "preamble", "--a.b*c+?(x)[y]|$^\\",
        "", "one", "--a.b*c+?(x)[y]|$^\\  \t", "", "two", "--a.b*c+?(x)[y]|$^\\-- ", "epilogue"),
    msg("Content-Type: multipart/mixed; boundary=b", "", "--b", "", "x", "--bb", "--b x", "--b----", "--b-- trailing",
        "--b--", ""),
    msg("Content-Type: multipart/mixed; boundary=b", "", "--b", "", "never closed", "--b", "", "still open"),
    msg("Content-Type: multipart/mixed; boundary=b", "", "no start boundary at all"),
    msg("Content-Type: multipart/digest; boundary=d", "", "--d", "", "From: x@example.org", "", "inner", "--d--"),
    msg("Content-Type: multipart/mixed; boundary=\"  \"", "", "--", "", "x", "----", ""),
    msg("Content-Type: multipart/mixed; boundary=o", "", "--o", "Content-Type: multipart/alternative; boundary=i",
        "", "--i", "", "text", "--o", "", "outer closes inner", "--o--"),
]


@pytest.mark.parametrize("raw", BOUNDARY_CASES)
def test_parse_bytes_matches_the_stdlib_parser(raw):
    assert _tree(parse_bytes(raw)) == _tree(BytesParser(policy=compat32).parsebytes(raw))


# --- addresses ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "ann@example.org", "<ann@example.org>", "Ann Lee <ann@example.org>", '"Lee, Ann" <ann@example.org>',
    '"" <ann@example.org>', "J. R. Smith<j.r.smith+tag@mail.example.org>", "=?utf-8?q?J=C3=BCrgen?= <j@example.org>",
    "a@example.org, B <b@example.org>,c@example.org", '" spaced " <x@example.org>',
])
def test_plain_mailboxes_read_as_getaddresses_reads_them(text):
    assert _plain_addresses(text) == getaddresses([text])


@pytest.mark.parametrize("text", [
    "", "ann", "Ann  Lee <a@example.org>", "a@example.org ,b@example.org", "a@[192.0.2.1]", '"a\\"b" <a@example.org>',
    "a@example.org (comment)", "group: a@example.org;", "jürgen@example.org", "a..b@example.org", "<a@b>x",
])
def test_anything_else_is_left_to_getaddresses(text):
    assert _plain_addresses(text) is None


def test_random_mailbox_lists_agree_with_getaddresses():
    rng = random.Random(2026)
    atext = "abXY09!#$%&'*+/=?^_`{|}~-"

    def atom() -> str:
        return "".join(rng.choice(atext) for _ in range(rng.randint(1, 4)))

    def mailbox() -> str:
        address = ".".join(atom() for _ in range(rng.randint(1, 2))) + "@" + atom() + "." + atom()
        name = rng.choice(["", " ".join(atom() + rng.choice(["", "."]) for _ in range(rng.randint(1, 3))),
                           '"' + "".join(rng.choice(atext + " ,;:<>@()[].\t") for _ in range(6)) + '"'])
        return rng.choice([address, f"<{address}>", f"{name} <{address}>", f"{name}<{address}>"])

    for _ in range(3_000):
        text = rng.choice([",", ", "]).join(mailbox() for _ in range(rng.randint(1, 3)))
        assert _plain_addresses(text) in (None, getaddresses([text])), text


# --- prescan -----------------------------------------------------------------------------------------------------

def _reason(raw: bytes, limits: Limits) -> str | None:
    try:
        prescan(raw, limits)
    except Quarantine as quarantine:
        return quarantine.reason
    return None


@pytest.mark.parametrize(("raw", "limits", "reason"), [
    (b"A: 1\r\nB: 2\r\nC: 3\r\n\r\nbody", Limits(max_headers=3), None),
    (b"A: 1\r\nB: 2\r\nC: 3\r\n\r\nbody", Limits(max_headers=2), "too_many_headers"),
    (b"A: 1\r\n continued\r\n more\r\n\r\nbody", Limits(max_headers=1), None),
    (b"A: 12345\r\n\r\nbody", Limits(max_header_line=8), None),
    (b"A: 123456\r\n\r\nbody", Limits(max_header_line=8), "header_too_long"),
    (b"A: 1234\r\n 5678\r\n\r\nbody", Limits(max_header_line=11), "header_too_long"),
    (b"A: 1\r\n \x00 in a continuation line\r\n\r\nbody", Limits(), None),
    (b"A: 1\r\nB: \x00\r\n\r\nbody", Limits(), "undecodable"),
    (b"A: 1\r\nnot a header\r\nB: \x00\r\n\r\nbody", Limits(), None),
    (b"A: 1\r\r\nB: \x00\r\n", Limits(), "undecodable"),
    (b"A: 1\r\n\r\r\nB: \x00\r\n", Limits(), None),
    (b"From x\nA: 1\n\n", Limits(), None),
    (b"From x\n\nA: 1\n", Limits(), "not_a_message"),
    (b" A: 1\r\n\r\n", Limits(), "not_a_message"),
])
def test_header_block_limits_are_exact(raw, limits, reason):
    assert _reason(raw, limits) == reason


@pytest.mark.parametrize(("raw", "reason"), [
    (b"X-Y: 1\r\nContent-Type: multipart/mixed; BOUNDARY=b\r\n\r\n--b\r\n\r\n--b\r\n\r\n--b--\r\n", None),
    (b"X-Y: 1\r\nContent-Type: multipart/mixed; BOUNDARY=b\r\n\r\n--b\r\n\r\n--b\r\n\r\n--b\r\n", "too_many_parts"),
    (b"Content-Type: multipart/mixed; boundary=B\r\n\r\n--b\r\n--b\r\n--b\r\n--B\r\n--B--\r\n", None),
    (b'--b:\r\nContent-Type: multipart/mixed; boundary="b:"\r\n\r\n--b:\r\n\r\n--b:\r\n\r\n--b:--\r\n',
     "too_many_parts"),  # the first line counts too
    (b"CONTENT-TYPE: Message/RFC822\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n--b--\r\n", None),
    (b"CONTENT-TYPE: Message/RFC822\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n--b\r\n",
     "too_many_parts"),
])
def test_structure_scan_is_case_exact_where_mime_is(raw, reason):
    assert _reason(raw, Limits(max_parts=2)) == reason


# --- screening helpers -------------------------------------------------------------------------------------------

def test_escapes_in_authentication_results_quotes_and_comments():
    value = ('mx.postroom.example; spf=pass reason="a \\"quoted\\"; value" (comment \\) still; comment)'
             ' smtp.mailfrom=x.example; dkim=fail \\; header.d=x.example; dmarc=pass')
    assert read_authentication_results([value], ["mx.postroom.example"]) == {
        "authserv_id": "mx.postroom.example", "spf": "pass", "dkim": "fail", "dmarc": "pass"}


def test_rule_patterns_are_compiled_once_and_bad_ones_fail_every_time():
    assert compile_pattern("invoice|billing") is compile_pattern("invoice|billing")
    for _ in range(2):
        with pytest.raises(regex.error):
            compile_pattern("(unclosed")
