"""TLS helpers and secret scrubbing, without a server."""

from __future__ import annotations

import base64
import ssl
from pathlib import Path

import pytest

from app.mail.steps import Endpoint, Scrubber, xoauth2_string
from app.mail.tls import InvalidCaPem, certificate_names, certificate_summary, classify_tls_error, client_context


def verification_error(code: int, message: str) -> ssl.SSLCertVerificationError:
    exc = ssl.SSLCertVerificationError(1, "certificate verify failed")
    exc.verify_code, exc.verify_message = code, message
    return exc


def test_client_context_with_tenant_ca_trusts_only_it(mail_ca: Path) -> None:
    context = client_context(mail_ca.read_text())
    assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert len(context.get_ca_certs()) == 1


def test_client_context_rejects_garbage() -> None:
    with pytest.raises(InvalidCaPem):
        client_context("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")


def test_certificate_summary(mail_ca: Path) -> None:
    summary = certificate_summary(ssl.PEM_cert_to_DER_cert(mail_ca.read_text()))
    assert summary["subject_cn"] == summary["issuer_cn"] == "Postroom dev CA"
    assert summary["self_signed"] is True
    assert summary["not_before"] < summary["not_after"]
    assert len(summary["fingerprint_sha256"].split(":")) == 32
    assert certificate_names(summary) == ["Postroom dev CA"]  # no SAN: fall back to the CN


@pytest.mark.parametrize(("exc", "category"), [
    (verification_error(62, "Hostname mismatch"), "tls_hostname"),
    (verification_error(64, "IP address mismatch"), "tls_hostname"),
    (verification_error(10, "certificate has expired"), "tls_certificate"),
    (verification_error(18, "self-signed certificate"), "tls_certificate"),
    (verification_error(20, "unable to get local issuer certificate"), "tls_certificate"),
    (ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"), "tls_protocol"),
    (ssl.SSLEOFError(8, "EOF occurred in violation of protocol"), "tls_protocol"),
])
def test_classify_tls_error(exc: ssl.SSLError, category: str) -> None:
    got, reason = classify_tls_error(exc)
    assert got == category and reason


def test_scrubber_hides_secrets_and_their_base64_forms() -> None:
    scrub = Scrubber(["s3cret-pässword", "tok.abc123"])
    plain = base64.b64encode("\0user@x.test\0s3cret-pässword".encode()).decode()
    xoauth = base64.b64encode(xoauth2_string("user@x.test", "tok.abc123").encode()).decode()
    text = f"LOGIN s3cret-pässword | AUTH PLAIN {plain} | AUTH XOAUTH2 {xoauth}"
    cleaned = scrub.text(text)
    assert "s3cret" not in cleaned and "tok.abc123" not in cleaned
    assert base64.b64encode(b"s3cret").decode()[:6] not in cleaned
    for blob in (plain, xoauth):
        assert blob not in cleaned
    assert scrub.deep({"a": ["x tok.abc123"], "b": 3}) == {"a": ["x ***"], "b": 3}


def test_endpoint_repr_hides_secrets() -> None:
    endpoint = Endpoint("imap", "mail.example.com", 993, "tls", "u", password="hunter22", oauth_token="tok")
    assert "hunter22" not in repr(endpoint) and "tok" not in repr(endpoint)
    with pytest.raises(ValueError):
        Endpoint("ftp", "mail.example.com", 21, "tls")
