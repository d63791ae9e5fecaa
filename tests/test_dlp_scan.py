"""Data-loss prevention: what each kind of rule finds (and does not), block versus redact, which rules apply, the
time limit on custom patterns, and the message an agent gets for a blocked mail."""

from __future__ import annotations

import pytest
from stdnum import iban, luhn

from app.dlp import detect, services
from app.dlp.models import DlpRule
from app.dlp.services import REDACTED, Finding, describe_block, scan_outgoing
from app.errors import FieldErrors

CARD = "4111 1111 1111 1111"


def _rule(tenant, name: str, kind: str, action: str = "block", **fields) -> DlpRule:
    return services.create_rule(tenant, name=name, kind=kind, action=action, **fields)


@pytest.fixture
def acme(db, create_tenant):
    return create_tenant("acme")


# Card numbers ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("number", [
    "4111 1111 1111 1111", "4111-1111-1111-1111", "4111111111111111", "5500 0000 0000 0004", "3782 822463 10005",
    "6011 0009 9013 9424", "4000 0566 5566 5556", "4000 0000 0000 0000 006",  # 19 digits
])
def test_luhn_valid_card_numbers_are_found_in_any_grouping(number):
    assert luhn.is_valid(number.replace(" ", "").replace("-", ""))
    text = f"Your card {number} is on file."
    assert [hit.value for hit in detect.find_card_numbers(text)] == [number]


@pytest.mark.parametrize("number", ["4111 1111 1111 1112", "1234 5678 9012 3456", "1234567890123456"])
def test_numbers_failing_luhn_are_not_card_numbers(number):
    assert not luhn.is_valid(number.replace(" ", ""))
    assert detect.find_card_numbers(f"Order {number} has shipped.") == []


def test_short_long_and_glued_digit_runs_are_not_card_numbers():
    text = "Call 0049 30 1234 5678. Tracking 41111111111111111111111. Ticket A4111111111111111 2024-01-01"
    assert detect.find_card_numbers(text) == []


def test_a_card_after_another_number_is_found_whole_and_masked():
    hits = detect.find_card_numbers("ref 12 5500 0000 0000 0004, thanks")
    assert [hit.value for hit in hits] == ["5500 0000 0000 0004"]
    assert detect.mask("card_number", hits[0].value) == "5500 •••• •••• 0004"
    assert detect.mask("card_number", "4111-1111-1111-1111") == "4111-••••-••••-1111"


def test_full_width_digits_are_card_numbers_too():
    full_width = CARD.translate({ord(digit): 0xFF10 + int(digit) for digit in "0123456789"})
    assert [hit.value for hit in detect.find_card_numbers(f"カード番号\uff1a{full_width}")] == [full_width]


# IBANs ----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("number", [
    "DE89 3704 0044 0532 0130 00", "DE89370400440532013000", "de89 3704 0044 0532 0130 00",
    "FR14 2004 1010 0505 0001 3M02 606", "fr1420041010050500013m02606", "GB82 WEST 1234 5698 7654 32",
    "GB82WEST12345698765432",
])
def test_ibans_are_found_with_or_without_spaces_in_any_case(number):
    assert iban.is_valid(number)
    text = f"Please pay to {number} by Friday."
    assert [hit.value for hit in detect.find_ibans(text)] == [number]


@pytest.mark.parametrize("number", ["DE88 3704 0044 0532 0130 00", "FR15 2004 1010 0505 0001 3M02 606",
                                    "GB82 WEST 1234 5698 7654 33", "XX89 3704 0044 0532 0130 00"])
def test_ibans_with_a_wrong_checksum_are_not_found(number):
    assert not iban.is_valid(number)
    assert detect.find_ibans(f"Account {number} closed.") == []


def test_an_iban_after_a_look_alike_is_found_and_masked():
    hits = detect.find_ibans("ref AB12 DE89 3704 0044 0532 0130 00.")
    assert [hit.value for hit in hits] == ["DE89 3704 0044 0532 0130 00"]
    assert detect.mask("iban", hits[0].value) == "DE89 •••• •••• •••• ••30 00"


# Passwords ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "secret"), [
    ("Your new password: hunter2", "hunter2"),
    ("Ihr Passwort lautet wie folgt. Passwort: Geheim-42", "Geheim-42"),
    ("Kennwort = s3cr3t!", "s3cr3t!"),
    ("Votre mot de passe\u202f: Soleil2024", "Soleil2024"),
    ("Su contraseña: Clave_99", "Clave_99"),
    ("新しいパスワード\uff1aひみつ123です", "ひみつ123です"),  # a full-width colon
    ("パスワード: tokyo-2020", "tokyo-2020"),
    ("login with pwd=abc123", "abc123"),
    ("Passcode: 884422", "884422"),
    ("PIN: 1234", "1234"),
    ('db_password = "with spaces"', "with spaces"),
])
def test_password_labels_in_five_languages_flag_the_value(text, secret):
    assert [hit.value for hit in detect.find_passwords(text)] == [secret]
    assert detect.mask("password", secret) == "••••••"


@pytest.mark.parametrize("text", [
    "Please reset your password at the portal.", "Passwords: see the policy page", "Spin: 3",
    "password: ********", "password: [redacted]", "Password:\nRegards",
])
def test_password_mentions_without_a_value_are_not_found(text):
    assert detect.find_passwords(text) == []


# Custom patterns ------------------------------------------------------------------------------------------------

def test_custom_patterns_match_in_any_case():
    assert [hit.value for hit in detect.find_custom(r"ACME-\d{6}", "keys ACME-123456 and acme-654321")] == [
        "ACME-123456", "acme-654321"]


def test_a_catastrophic_pattern_is_stopped_by_the_time_limit():
    with pytest.raises(TimeoutError):
        detect.find_custom(r"(x+x+)+y", "x" * 5000, timeout=0.05)


@pytest.mark.parametrize(("pattern", "message"), [
    (r"(a|aa)+$", "This pattern takes too long on some texts"),
    (r"(\w+\s?)+$", "This pattern takes too long on some texts"),
    (r"([a-z]+)*\d", "This pattern takes too long on some texts"),
    (r"(x+x+)+y", "This pattern takes too long on some texts"),
    ("(unclosed", "This is not a valid regular expression: missing ) at position 9"),
    ("x*", "This pattern also matches empty text."),
    ("", "This field is required."),
    ("x" * 501, "Use at most 500 characters."),
])
def test_bad_patterns_are_refused_at_save(acme, pattern, message):
    with pytest.raises(FieldErrors) as refused:
        _rule(acme, "Custom", "regex", pattern=pattern)
    assert refused.value.errors["pattern"].startswith(message)
    assert services.rules(acme) == []


def test_a_slow_pattern_stored_anyway_blocks_the_mail_instead_of_hanging(db, acme):
    db.session.add(DlpRule(tenant_id=acme.id, name="Slow", kind="regex", pattern=r"(x+x+)+y", action="redact"))
    db.session.commit()
    verdict = scan_outgoing(acme, "x" * 5000)
    assert verdict.blocked and verdict.blocked_by == [Finding("Slow", "regex", "block", "", timed_out=True)]
    assert "Rule “Slow” could not check this mail in time." in describe_block(verdict)


# The scan -------------------------------------------------------------------------------------------------------

def test_block_lists_findings_and_leaves_the_text_redact_replaces_them(acme):
    _rule(acme, "Cards", "card_number", "block")
    _rule(acme, "Passwords", "password", "redact")
    _rule(acme, "Keys", "regex", "redact", pattern=r"KEY-\d{4,}")
    text = f"Card {CARD}. Password: hunter2 and KEY-1234, KEY-99999999."
    verdict = scan_outgoing(acme, text, subject="Your password: hunter2")
    assert verdict.blocked
    assert verdict.blocked_by == [Finding("Cards", "card_number", "block", "4111 •••• •••• 1111")]
    assert verdict.redacted == [Finding("Passwords", "password", "redact", "••••••")] * 2 + [
        Finding("Keys", "regex", "redact", "•••-••••"),  # too short to show any of it
        Finding("Keys", "regex", "redact", "KE•-••••••99")]
    assert verdict.text == f"Card {CARD}. Password: {REDACTED} and {REDACTED}, {REDACTED}."
    assert verdict.subject == f"Your password: {REDACTED}"


def test_redact_only_lets_the_mail_go_with_the_findings_replaced(acme):
    _rule(acme, "IBANs", "iban", "redact")
    verdict = scan_outgoing(acme, "Pay to DE89 3704 0044 0532 0130 00 please.")
    assert not verdict.blocked and verdict.blocked_by == []
    assert verdict.text == f"Pay to {REDACTED} please."
    assert describe_block(verdict) == ""


def test_overlapping_redactions_become_one_marker(acme):
    _rule(acme, "Passwords", "password", "redact")
    _rule(acme, "Digits", "regex", "redact", pattern=r"\d{6,}")
    assert scan_outgoing(acme, "PIN: 12345678 ok").text == f"PIN: {REDACTED} ok"


def test_disabled_rules_are_ignored(acme):
    _rule(acme, "Cards", "card_number", enabled=False)
    verdict = scan_outgoing(acme, f"Card {CARD}")
    assert not verdict.blocked and verdict.text == f"Card {CARD}"


def test_another_tenants_rules_do_not_apply(acme, create_tenant):
    _rule(create_tenant("globex"), "Cards", "card_number")
    assert not scan_outgoing(acme, f"Card {CARD}").blocked


def test_no_rules_no_work(acme, monkeypatch):
    def fail(*_args, **_kwargs):
        raise AssertionError("no detector should run")

    for name in ("find_card_numbers", "find_ibans", "find_passwords", "find_custom"):
        monkeypatch.setattr(detect, name, fail)
    monkeypatch.setattr(detect, "DETECTORS", {})
    verdict = scan_outgoing(acme, f"Card {CARD}", subject="s")
    assert (verdict.text, verdict.subject, verdict.blocked_by, verdict.redacted) == (f"Card {CARD}", "s", [], [])


def test_describe_block_names_rules_and_masked_findings_never_the_secret(acme):
    _rule(acme, "No cards", "card_number")
    _rule(acme, "No IBANs", "iban")
    _rule(acme, "No passwords", "password")
    verdict = scan_outgoing(acme, f"{CARD} / {CARD} / GB82 WEST 1234 5698 7654 32 / password: hunter2")
    message = describe_block(verdict)
    assert message.startswith("This mail was not sent:")
    assert message.count("Rule “No cards” found a card number (4111 •••• •••• 1111).") == 1  # said once
    assert "Rule “No IBANs” found an IBAN (GB82 •••• •••• •••• ••54 32)." in message
    assert "Rule “No passwords” found a password (••••••)." in message
    assert "send again" in message
    for secret in (CARD, "1234 5698", "hunter2"):
        assert secret not in message


def test_describe_block_works_in_another_locale(acme, app):
    _rule(acme, "Karten", "card_number")
    verdict = scan_outgoing(acme, CARD)
    from flask_babel import force_locale

    with app.test_request_context(), force_locale("de"):
        message = describe_block(verdict)
    assert "Karten" in message and "4111 •••• •••• 1111" in message


def test_rule_names_are_unique_per_tenant_whatever_the_case(acme, create_tenant):
    _rule(acme, "Cards", "card_number")
    with pytest.raises(FieldErrors) as refused:
        _rule(acme, "cards ", "iban")
    assert refused.value.errors == {"name": "A rule with this name already exists."}
    _rule(create_tenant("globex"), "Cards", "card_number")  # another tenant may


def test_the_pattern_is_kept_for_regex_rules_only(acme):
    assert _rule(acme, "Cards", "card_number", pattern="ignored").pattern is None
    with pytest.raises(FieldErrors) as refused:
        _rule(acme, "Bad", "everything", action="shred")
    assert set(refused.value.errors) == {"kind", "action"}
