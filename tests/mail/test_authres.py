"""app.mail.authres: RFC 8601 Authentication-Results from trusted receivers only, as real receivers write them."""

from __future__ import annotations

import pytest

from app.mail.authres import dmarc_failed, read_authentication_results
from app.mail.parse import parse_message

TRUSTED = ["mx.postroom.example"]

GMAIL_STYLE = (
    "mx.postroom.example;\r\n"
    "       dkim=pass header.i=@customer.example header.s=20230601 header.b=\"AbC/+9=\";\r\n"
    "       arc=none;\r\n"
    "       spf=softfail (mx.postroom.example: domain of transitioning jane@customer.example does not designate"
    " 198.51.100.7 as permitted sender) smtp.mailfrom=jane@customer.example;\r\n"
    "       dmarc=fail (p=QUARANTINE sp=NONE dis=QUARANTINE) header.from=customer.example")

MICROSOFT_STYLE = (
    "spf.protection.outlook.com; spf=none (sender IP is 203.0.113.9) smtp.mailfrom=contoso.com; dkim=none (message not"
    " signed) header.d=none;dmarc=bestguesspass action=none header.from=contoso.com;compauth=pass reason=109")


def test_reads_spf_dkim_dmarc_from_a_folded_header_with_comments():
    assert read_authentication_results([GMAIL_STYLE], TRUSTED) == {
        "authserv_id": "mx.postroom.example", "spf": "softfail", "dkim": "pass", "dmarc": "fail"}


def test_headers_from_untrusted_servers_are_ignored():
    forged = "mx.postroom.example.attacker.example; spf=pass; dkim=pass; dmarc=pass"
    assert read_authentication_results([forged, MICROSOFT_STYLE], TRUSTED) == {}
    assert read_authentication_results([MICROSOFT_STYLE], []) == {}


def test_the_topmost_trusted_header_wins_over_one_the_sender_added_below_it():
    ours = "mx.postroom.example; spf=fail smtp.mailfrom=bank.example; dmarc=fail header.from=bank.example"
    planted = "mx.postroom.example; spf=pass smtp.mailfrom=bank.example; dmarc=pass header.from=bank.example"
    result = read_authentication_results(["relay.example.net; spf=pass", ours, planted], TRUSTED)
    assert result == {"authserv_id": "mx.postroom.example", "spf": "fail", "dmarc": "fail"}
    assert dmarc_failed(result)


def test_authserv_id_is_case_insensitive_and_may_carry_a_version():
    result = read_authentication_results(["MX.Postroom.Example 1; SPF=Pass smtp.mailfrom=example.net"],
                                         ["mx.postroom.example."])
    assert result == {"authserv_id": "MX.Postroom.Example", "spf": "pass"}


def test_none_as_the_whole_result_gives_only_the_authserv_id():
    assert read_authentication_results(["mx.postroom.example; none"], TRUSTED) == {
        "authserv_id": "mx.postroom.example"}
    assert read_authentication_results(["mx.postroom.example (no checks); none (local delivery)"], TRUSTED) == {
        "authserv_id": "mx.postroom.example"}


@pytest.mark.parametrize(("dkim", "expected"), [
    ("dkim=fail reason=\"signature verification failed\" header.d=a.example; dkim=pass header.d=b.example", "pass"),
    ("dkim=pass header.d=a.example; dkim=fail header.d=b.example", "pass"),
    ("dkim=temperror header.d=a.example; dkim=fail header.d=b.example", "temperror"),
    ("dkim=permerror (no key for signature) header.d=a.example", "permerror"),
    ("dkim=policy (weak key) header.d=a.example", "policy"),
    ("dkim/2=neutral header.d=a.example", "neutral"),
])
def test_several_dkim_signatures_pass_if_any_passes(dkim, expected):
    assert read_authentication_results([f"mx.postroom.example; {dkim}"], TRUSTED)["dkim"] == expected


def test_quoted_strings_and_comments_may_contain_semicolons_and_parentheses():
    value = ('mx.postroom.example; spf=pass reason="matched; ip4 (range)" smtp.mailfrom=x.example;'
             ' dkim=fail (bad sig; "quoted" (nested; comment)) header.d=x.example; dmarc=pass header.from=x.example')
    assert read_authentication_results([value], TRUSTED) == {
        "authserv_id": "mx.postroom.example", "spf": "pass", "dkim": "fail", "dmarc": "pass"}


def test_microsoft_spellings_are_mapped_and_unknown_methods_ignored():
    result = read_authentication_results([MICROSOFT_STYLE], ["spf.protection.outlook.com"])
    # "bestguesspass" means the domain publishes no DMARC record: that is no verdict, so "none".
    assert result == {"authserv_id": "spf.protection.outlook.com", "spf": "none", "dkim": "none", "dmarc": "none"}
    assert not dmarc_failed(result)
    hardfail = read_authentication_results(["mx.postroom.example; spf=hardfail smtp.mailfrom=x.example"], TRUSTED)
    assert hardfail["spf"] == "fail"


def test_values_other_parsers_reject_are_read():
    """The authres package raises SyntaxError on all three; we keep the verdicts."""
    values = ["mx.postroom.example; spf=pass smtp.mailfrom=jürgen@bücher.example; dkim=pass header.d=bücher.example;"
              " dmarc=pass header.from=bücher.example",
              "mx.postroom.example; spf=pass smtp.mailfrom=<bounce@x.example>; dmarc=fail",
              "mx.postroom.example; spf=pass (unterminated comment"]
    results = [read_authentication_results([value], TRUSTED) for value in values]
    assert results[0] == {"authserv_id": "mx.postroom.example", "spf": "pass", "dkim": "pass", "dmarc": "pass"}
    assert results[1] == {"authserv_id": "mx.postroom.example", "spf": "pass", "dmarc": "fail"}
    assert results[2] == {"authserv_id": "mx.postroom.example", "spf": "pass"}


@pytest.mark.parametrize(("value", "expected"), [
    ("", {}), (";", {}), ("garbage", {}), ("spf=pass", {}), ('"', {}), ("(", {}), ("\x00\udcff", {}),
    ("i=1; mx.postroom.example; spf=pass", {}),  # an ARC-Authentication-Results value, not ours
    ("mx.postroom.example; =pass; spf=", {"authserv_id": "mx.postroom.example"}),
    ("mx.postroom.example; spf=wonderful", {"authserv_id": "mx.postroom.example"}),
    ("mx.postroom.example; dkim=pass\\", {"authserv_id": "mx.postroom.example", "dkim": "pass"}),
    ("mx.postroom.example; spf=pass smtp.mailfrom=x.example dkim=fail", {"authserv_id": "mx.postroom.example",
                                                                         "spf": "pass"}),  # missing ";"
])
def test_malformed_values_never_raise(value, expected):
    assert read_authentication_results([value], TRUSTED) == expected


def test_non_string_values_are_skipped():
    assert read_authentication_results([None, 42, GMAIL_STYLE], TRUSTED)["spf"] == "softfail"  # type: ignore[list-item]
    assert read_authentication_results([], TRUSTED) == {}


@pytest.mark.parametrize(("result", "failed"), [
    ({"dmarc": "fail"}, True),
    ({"dmarc": "pass"}, False),
    ({"dmarc": "temperror"}, False),
    ({"dmarc": "permerror"}, False),
    ({"spf": "fail", "dkim": "fail"}, False),  # no DMARC verdict at all
    ({}, False),
])
def test_dmarc_failed(result, failed):
    assert dmarc_failed(result) is failed


def test_reads_the_headers_in_parse_order_from_a_real_message():
    raw = (b"Authentication-Results: mx.postroom.example;\r\n"
           b"\tdkim=pass header.d=customer.example header.s=sel1;\r\n"
           b"\tspf=pass smtp.mailfrom=customer.example;\r\n"
           b"\tdmarc=pass (p=reject) header.from=customer.example\r\n"
           b"Received: from mail.customer.example by mx.postroom.example\r\n"
           b"Authentication-Results: mx.postroom.example; dmarc=fail header.from=customer.example\r\n"
           b"From: Jane <jane@customer.example>\r\nTo: desk@postroom.example\r\nSubject: hi\r\n"
           b"Message-ID: <m.1@customer.example>\r\n\r\nbody\r\n")
    parsed = parse_message(raw)
    result = read_authentication_results(parsed.loop_headers["Authentication-Results"], TRUSTED)
    assert result == {"authserv_id": "mx.postroom.example", "spf": "pass", "dkim": "pass", "dmarc": "pass"}
    assert not dmarc_failed(result)
