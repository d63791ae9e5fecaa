"""app.mail.parse: lenient parsing, decoding fallbacks, HTML sanitizing and the hard limits (pure, no fixtures)."""

from __future__ import annotations

import hashlib
import random
import time
from datetime import UTC

import pytest

from app.mail.parse import Limits, Parsed, parse_message

CRLF = b"\r\n"


def msg(*lines: str | bytes) -> bytes:
    return CRLF.join(line if isinstance(line, bytes) else line.encode() for line in lines)


NORMAL = msg(
    "From: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <juergen@example.org>",
    "To: Desk <desk@example.com>, \"Doe, Jane\" <jane@example.com>",
    "Cc: bob@example.net",
    "Reply-To: replies@example.org",
    "Subject: =?utf-8?B?UHLDvGZ1bmcg4oKs?=",
    "Date: Tue, 03 Jun 2025 10:15:00 +0200",
    "Message-ID: <abc.123@example.org>",
    "In-Reply-To: <prev@example.org>",
    "References: <root@example.org>",
    " <prev@example.org>",
    "Auto-Submitted: no",
    "Authentication-Results: mx.example.com; spf=pass",
    "Authentication-Results: mx2.example.com; dkim=pass",
    "MIME-Version: 1.0",
    'Content-Type: multipart/mixed; boundary="outer"',
    "",
    "--outer",
    'Content-Type: multipart/related; boundary="rel"',
    "",
    "--rel",
    'Content-Type: multipart/alternative; boundary="alt"',
    "",
    "--alt",
    "Content-Type: text/plain; charset=utf-8",
    "Content-Transfer-Encoding: quoted-printable",
    "",
    "Gr=C3=BC=C3=9Fe, see the logo.",
    "--alt",
    "Content-Type: text/html; charset=utf-8",
    "",
    '<p>Hello <b>there</b><img src="cid:logo@example.org" alt="logo"></p>',
    "--alt--",
    "--rel",
    "Content-Type: image/png",
    "Content-Transfer-Encoding: base64",
    "Content-ID: <logo@example.org>",
    "Content-Disposition: inline",
    "",
    "iVBORw0KGgo=",
    "--rel--",
    "--outer",
    "Content-Type: application/pdf; name=\"report.pdf\"",
    "Content-Transfer-Encoding: base64",
    "Content-Disposition: attachment; filename*=utf-8''%E2%82%AC.pdf",
    "",
    "JVBERi0xLjQK",
    "--outer",
    "Content-Type: text/calendar; method=REQUEST; charset=utf-8",
    "",
    "BEGIN:VCALENDAR",
    "END:VCALENDAR",
    "--outer--",
    "",
)


def simple(headers: list[str | bytes], body: bytes = b"Body text\r\n") -> bytes:
    base = ["From: a@example.org", "To: b@example.org", "Message-ID: <x@example.org>",
            "Date: Tue, 03 Jun 2025 10:15:00 +0000"]
    return msg(*base, *headers, "", body)


def ok(raw: bytes, **kwargs) -> Parsed:
    parsed = parse_message(raw, **kwargs)
    assert parsed.ok, (parsed.quarantine_reason, parsed.quarantine_detail)
    return parsed


def quarantined(raw: bytes, *reasons: str, **kwargs) -> Parsed:
    parsed = parse_message(raw, **kwargs)
    assert not parsed.ok and parsed.quarantine_reason in reasons, (parsed.quarantine_reason, parsed.quarantine_detail)
    assert parsed.quarantine_detail
    return parsed


def timed(raw: bytes, **kwargs) -> tuple[Parsed, float]:
    start = time.perf_counter()
    parsed = parse_message(raw, **kwargs)
    return parsed, time.perf_counter() - start


# --- a normal message --------------------------------------------------------------------------------------------

def test_normal_message_fields():
    p = ok(NORMAL)
    assert p.message_id == "abc.123@example.org"
    assert p.in_reply_to == "prev@example.org"
    assert p.references == ["root@example.org", "prev@example.org"]
    assert p.subject == "Prüfung €"
    assert p.from_ == ("Jürgen Müller", "juergen@example.org")
    assert p.to == [("Desk", "desk@example.com"), ("Doe, Jane", "jane@example.com")]
    assert p.cc == [("", "bob@example.net")]
    assert p.reply_to == [("", "replies@example.org")]
    assert p.date is not None and p.date.utcoffset().total_seconds() == 7200
    assert p.text.strip() == "Grüße, see the logo."
    assert p.loop_headers["Auto-Submitted"] == ["no"]
    assert len(p.loop_headers["Authentication-Results"]) == 2
    assert ("Subject", "Prüfung €") in p.headers
    assert p.defects == []


def test_normal_message_attachments_and_inline_image():
    p = ok(NORMAL)
    by_type = {a.content_type: a for a in p.attachments}
    assert set(by_type) == {"image/png", "application/pdf", "text/calendar"}
    logo = by_type["image/png"]
    assert logo.disposition == "inline" and logo.content_id == "logo@example.org"
    assert logo.payload.startswith(b"\x89PNG") and logo.size == len(logo.payload)
    pdf = by_type["application/pdf"]
    assert pdf.filename == "€.pdf" and pdf.disposition == "attachment"
    assert pdf.sha256 == hashlib.sha256(b"%PDF-1.4\n").hexdigest()
    assert by_type["text/calendar"].is_calendar and not pdf.is_calendar
    assert "payload" not in repr(pdf)
    assert '<img src="cid:logo@example.org" alt="logo">' in p.html_sanitized


# --- decoding ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("encoded", "expected"), [
    ("=?utf-8?B?4pyTIGRvbmU=?=", "✓ done"),
    ("=?UTF-8?Q?caf=C3=A9_au_lait?=", "café au lait"),
    ("=?iso-8859-1?Q?Gr=FC=DFe?= aus =?ISO-8859-1?B?S/Zsbg==?=", "Grüße aus Köln"),
    ("Plain subject", "Plain subject"),
    ("=?x-unknown?Q?caf=E9?=", "café"),
    ("=?utf-8?B?!!!not-base64?=", "=?utf-8?B?!!!not-base64?="),
])
def test_rfc2047_subjects(encoded, expected):
    assert ok(simple([f"Subject: {encoded}"])).subject == expected


def test_rfc2231_and_rfc2047_filenames_are_decoded_and_sanitized():
    raw = msg("From: a@example.org", "Message-ID: <f@x>", "Content-Type: multipart/mixed; boundary=b", "",
              "--b", "Content-Type: text/plain", "", "hi",
              "--b", "Content-Type: application/octet-stream",
              "Content-Disposition: attachment; filename*=iso-8859-1''r%E9sum%E9.txt", "", "x",
              "--b", "Content-Type: application/octet-stream",
              'Content-Disposition: attachment; filename="=?utf-8?Q?=C3=BCber.txt?="', "", "x",
              "--b", "Content-Type: application/octet-stream",
              'Content-Disposition: attachment; filename="../../etc/passwd"', "", "x",
              "--b", "Content-Type: application/octet-stream",
              f'Content-Disposition: attachment; filename="{"a" * 300}.docx"', "", "x",
              "--b", "Content-Type: application/zip", "", "x",
              "--b--", "")
    names = [a.filename for a in ok(raw).attachments]
    assert names[:3] == ["résumé.txt", "über.txt", "_.._etc_passwd"]
    assert len(names[3]) == 200 and names[3].endswith(".docx")
    assert names[4] == "attachment-5.zip"
    assert all("/" not in n and "\\" not in n for n in names)


def test_unknown_charset_falls_back_with_defect():
    raw = simple(["Content-Type: text/plain; charset=x-unknown"], "caf\xe9".encode("cp1252"))
    p = ok(raw)
    assert p.text == "café"
    assert "unknown charset x-unknown in text/plain body decoded as cp1252" in p.defects


def test_wrong_charset_falls_back_with_defect():
    p = ok(simple(["Content-Type: text/plain; charset=us-ascii"], "naïve €".encode()))
    assert p.text == "naïve €"
    assert "wrong charset us-ascii in text/plain body decoded as utf-8" in p.defects


def test_eight_bit_header_bytes():
    p = ok(simple([b"Subject: Gr\xc3\xbc\xc3\x9fe", b"X-Note: caf\xe9"]))
    assert p.subject == "Grüße"
    assert ("X-Note", "café") in p.headers
    assert any(d.startswith("8-bit header bytes") for d in p.defects)


def test_missing_message_id_and_date():
    p = ok(msg("From: a@example.org", "Subject: hi", "", "body"))
    assert p.message_id is None and p.date is None
    assert "missing Message-ID" in p.defects and "missing Date" in p.defects


def test_naive_and_garbage_dates():
    assert ok(simple(["Subject: x"])).date.tzinfo is not None
    raw = msg("From: a@example.org", "Date: Tue, 03 Jun 2025 10:15:00 -0000", "", "b")
    p = ok(raw)
    assert p.date.tzinfo == UTC and "Date without time zone, assumed UTC" in p.defects
    p = ok(msg("From: a@example.org", "Date: yesterday-ish", "", "b"))
    assert p.date is None and "unparseable Date" in p.defects


def test_unclosed_boundary_still_yields_text():
    raw = msg("From: a@example.org", "Message-ID: <u@x>", "Content-Type: multipart/alternative; boundary=zz", "",
              "--zz", "Content-Type: text/plain; charset=utf-8", "", "still here", "--zz",
              "Content-Type: text/html", "", "<p>and here</p>", "")
    p = ok(raw)
    assert p.text.strip() == "still here"
    assert "and here" in p.html_sanitized
    assert "CloseBoundaryNotFoundDefect" in p.defects


def test_multipart_without_boundary_is_read_as_text():
    p = ok(msg("From: a@example.org", "Content-Type: multipart/mixed", "", "just text"))
    assert p.text.strip() == "just text"
    assert "NoBoundaryInMultipartDefect" in p.defects


def test_forwarded_message_kept_whole():
    inner = msg("From: c@example.org", "Subject: inner", "Message-ID: <inner@x>",
                "Content-Type: multipart/mixed; boundary=in", "", "--in", "Content-Type: text/plain", "",
                "inner body", "--in", "Content-Type: application/pdf",
                "Content-Disposition: attachment; filename=a.pdf", "", "pdf", "--in--", "")
    raw = msg("From: a@example.org", "Message-ID: <o@x>", "Content-Type: multipart/mixed; boundary=out", "",
              "--out", "Content-Type: text/plain", "", "see forwarded", "--out",
              "Content-Type: message/rfc822", "", inner, "--out--", "")
    p = ok(raw)
    assert p.text.strip() == "see forwarded"
    assert len(p.attachments) == 1  # the inner PDF is not unpacked
    fwd = p.attachments[0]
    assert fwd.content_type == "message/rfc822" and fwd.filename == "forwarded-1.eml"
    assert b"Subject: inner" in fwd.payload and b"inner body" in fwd.payload and b"filename=a.pdf" in fwd.payload
    again = ok(fwd.payload)
    assert again.subject == "inner" and [a.filename for a in again.attachments] == ["a.pdf"]


def test_hostile_html_is_cleaned():
    html = ("<html><head><title>T</title><meta http-equiv=\"refresh\" content=\"0;url=https://evil.test\">"
            "<style>p { width: expression(alert(1)) }</style></head><body>"
            "<script>alert(1)</script><p onclick=\"steal()\" style=\"width: expression(alert(2))\">Hi</p>"
            "<a href=\"javascript:alert(3)\">js</a><a href=\"https://example.org/x\">ok</a>"
            "<form action=\"https://evil.test\"><input name=\"pw\"></form>"
            "<iframe src=\"https://evil.test\">frame</iframe><IMG SRC=JaVaScRiPt:alert(4)>"
            "<img src=\"cid:pic@x\"><img src=\"https://tracker.test/p.gif\"></body></html>")
    p = ok(simple(["Content-Type: text/html; charset=utf-8"], html.encode()))
    out = p.html_sanitized.lower()
    for banned in ("<script", "alert", "onclick", "javascript:", "<form", "<input", "<iframe", "frame<",
                   "<meta", "refresh", "<style", "expression", "evil.test"):
        assert banned not in out, banned
    assert '<img src="cid:pic@x">' in out
    assert '<img src="https://tracker.test/p.gif">' in out
    assert '<a href="https://example.org/x" rel="noopener noreferrer">ok</a>' in out


def test_address_cap_is_quick():
    many = ", ".join(f"u{i}@example.org" for i in range(5_000))  # ~95 kB: under the header limit
    p, elapsed = timed(simple([f"Cc: {many}"]))
    assert p.ok and len(p.cc) == 2_000 and p.cc[-1] == ("", "u1999@example.org")
    assert "Cc capped at 2000 addresses" in p.defects
    assert elapsed < 0.5


# --- limits ------------------------------------------------------------------------------------------------------

def nested(depth: int) -> bytes:
    lines = ["From: a@example.org", "Content-Type: multipart/mixed; boundary=b0", ""]
    for i in range(1, depth):
        lines += [f"--b{i - 1}", f"Content-Type: multipart/mixed; boundary=b{i}", ""]
    lines += [f"--b{depth - 1}", "Content-Type: text/plain", "", "leaf"]
    lines += [f"--b{i}--" for i in reversed(range(depth))]
    return msg(*lines, "")


def test_deep_nesting_is_refused_quickly():
    raw = nested(2_000)
    assert 100_000 < len(raw) < 200_000
    p, elapsed = timed(raw)
    assert not p.ok and p.quarantine_reason in ("too_deep", "too_many_parts")
    assert elapsed < 0.5


def test_depth_limit_is_exact():
    assert ok(nested(30)).text.strip() == "leaf"
    quarantined(nested(31), "too_deep")
    quarantined(nested(10), "too_deep", limits=Limits(max_depth=5))


def test_nested_forwards_are_bounded():
    raw = b"Content-Type: text/plain\r\n\r\nleaf\r\n"
    for _ in range(40):
        raw = b"From: a@example.org\r\nContent-Type: message/rfc822\r\n\r\n" + raw
    raw = msg("From: a@example.org", "Content-Type: multipart/mixed; boundary=b", "", "--b",
              "Content-Type: text/plain", "", "top", "--b", raw, "--b--", "")
    quarantined(raw, "too_deep")
    p, elapsed = timed(raw, limits=Limits(max_depth=100))
    assert p.ok and p.text.strip() == "top" and elapsed < 0.5
    assert [a.content_type for a in p.attachments] == ["message/rfc822"]


def test_stdlib_parameter_bug_only_costs_the_filename():
    # email.utils.decode_params raises TypeError when "filename*" and "filename*0*" are mixed
    raw = msg("From: a@example.org", "Content-Type: multipart/mixed; boundary=b", "", "--b",
              "Content-Type: text/plain", "", "body", "--b", "Content-Type: application/octet-stream",
              "Content-Disposition: attachment; filename*0*=utf-8''a; filename*=utf-8''b", "", "x", "--b--", "")
    p = ok(raw)
    assert p.text.strip() == "body" and p.attachments[0].filename == "attachment-1.bin"
    assert "unreadable MIME parameters (TypeError)" in p.defects


def test_too_many_parts():
    lines = ["From: a@example.org", "Content-Type: multipart/mixed; boundary=p", ""]
    for i in range(600):
        lines += ["--p", "Content-Type: text/plain", "", f"part {i}"]
    raw = msg(*lines, "--p--", "")
    quarantined(raw, "too_many_parts")
    assert len(ok(raw, limits=Limits(max_parts=1_000)).attachments) == 599


def test_twenty_thousand_addresses_is_quick():
    many = ", ".join(f"user{i}@example.org" for i in range(20_000))
    p, elapsed = timed(simple([f"To: {many}"]))
    assert elapsed < 0.5
    assert p.quarantine_reason == "header_too_long" or (p.ok and len(p.to) == 2_000)


def test_long_header_line():
    quarantined(simple(["X-Long: " + "a" * 100_000]), "header_too_long")
    folded = "X-Folded: " + "\r\n ".join(["b" * 70] * 1_500)
    quarantined(simple([folded]), "header_too_long")


def test_long_header_in_a_mime_part():
    raw = msg("From: a@example.org", "Content-Type: multipart/mixed; boundary=b", "", "--b",
              "Content-Type: text/plain; x=" + "a" * 100_001, "", "hi", "--b--", "")
    quarantined(raw, "header_too_long")


def test_too_many_headers():
    quarantined(simple([f"X-H{i}: v" for i in range(5_000)]), "too_many_headers")


@pytest.mark.parametrize("raw", [b"", b"\x00\x01binary", b"hello world\r\n", b"   \r\nx", b"\r\n\r\nbody",
                                 "%PDF-1.4 ÿ".encode()])
def test_not_a_message(raw):
    quarantined(raw, "not_a_message")


def test_nul_in_headers_and_non_bytes():
    quarantined(b"From: a\x00b@example.org\r\n\r\nx", "undecodable")
    quarantined("From: a@example.org\r\n\r\nx", "not_a_message")  # type: ignore[arg-type]


def test_too_large():
    quarantined(NORMAL, "too_large", limits=Limits(max_bytes=1_000))
    assert ok(NORMAL, limits=Limits(max_bytes=len(NORMAL)))


def test_mbox_from_line_is_tolerated():
    assert ok(b"From someone Tue Jun  3 10:15:00 2025\r\n" + NORMAL).subject == "Prüfung €"


def test_randomized_corruptions_never_raise():
    rng = random.Random(1234)
    outcomes = set()
    for i in range(200):
        data = bytearray(NORMAL)
        if i % 2:
            data = data[: rng.randrange(len(data) + 1)]
        for _ in range(rng.randrange(1, 30)):
            if data:
                data[rng.randrange(len(data))] = rng.randrange(256)
        parsed = parse_message(bytes(data))
        assert isinstance(parsed, Parsed)
        assert parsed.ok or parsed.quarantine_reason
        outcomes.add(parsed.ok)
    assert True in outcomes
