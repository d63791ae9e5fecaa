"""Each failure category, provoked for real by the probe, reads as an actionable sentence in the portal's language."""

import pytest

from app.connections.messages import describe
from app.mail.probe import Endpoint, probe


def _failed(endpoint: Endpoint) -> dict:
    results = probe(endpoint)
    failed = next(r for r in results if not r.ok)
    return {"step": failed.step, "category": failed.category, "detail": failed.detail,
            "server_response": failed.server_response}


def test_hostname_mismatch_names_both_names(app, dovecot, mail_ca, mail_user):
    step = _failed(Endpoint(protocol="imap", host=dovecot.wrong_host_ip, port=dovecot.wrong_host_port,
                            security="tls", username=mail_user.email, password=mail_user.password,
                            ca_pem=mail_ca.read_text(), timeout=5, allow_private=True))
    with app.test_request_context():
        message = describe(step)
    assert step["category"] == "tls_hostname"
    assert message == f"The server's certificate is for mail.example.test, not {dovecot.wrong_host_ip}."


@pytest.mark.parametrize(("locale", "expected"), [("en", "does not exist in this mailbox"),
                                                  ("de", "existiert in diesem Postfach nicht")])
def test_missing_folder_is_explained_in_the_viewers_language(app, dovecot, mail_ca, mail_user, locale, expected):
    step = _failed(Endpoint(protocol="imap", host=dovecot.host, port=dovecot.imaps_port, security="tls",
                            username=mail_user.email, password=mail_user.password, folder="Tickets/Nope",
                            ca_pem=mail_ca.read_text(), timeout=5, allow_private=True))
    with app.test_request_context(headers={"Accept-Language": locale}):
        message = describe(step)
    assert step["category"] == "folder_missing" and "Tickets/Nope" in message and expected in message


def test_untrusted_certificate_says_why(app, dovecot, mail_user):
    step = _failed(Endpoint(protocol="imap", host=dovecot.host, port=dovecot.imaps_port, security="tls",
                            username=mail_user.email, password=mail_user.password, timeout=5, allow_private=True))
    with app.test_request_context():
        message = describe(step)
    assert step["category"] == "tls_certificate" and "Upload your CA certificate" in message
    assert step["detail"]["certificate"]["issuer_cn"]  # the certificate is named even though it was not trusted
