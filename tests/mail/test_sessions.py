"""open_imap / open_pop3 / open_smtp for jobs, and XOAUTH2 against Dovecot and the SMTP server."""

from __future__ import annotations

import json
from email.message import EmailMessage

import pytest

from app.mail.probe import probe
from app.mail.sessions import MailError, open_imap, open_pop3, open_smtp
from scripts.devstack.dovecot import Dovecot
from scripts.devstack.smtp import SmtpServer
from tests.fixtures.mailstack import MailUser

pytestmark = pytest.mark.stack
MESSAGE = b"From: customer@example.org\r\nTo: help@acme.test\r\nSubject: Hi\r\n\r\nHello\r\n"


def test_open_imap_returns_a_logged_in_client(make_endpoint, dovecot: Dovecot, mail_user: MailUser) -> None:
    dovecot.append(mail_user.email, MESSAGE)
    seen = []
    client = open_imap(make_endpoint("imap", "starttls"), on_step=seen.append)
    try:
        assert client.select_folder("INBOX", readonly=True)[b"EXISTS"] == 1
        assert client.host == "127.0.0.1"
    finally:
        client.logout()
    assert [r.step for r in seen] == ["dns", "tcp", "greeting", "capabilities", "starttls", "login"]


def test_open_imap_raises_mail_error(make_endpoint) -> None:
    with pytest.raises(MailError) as caught:
        open_imap(make_endpoint("imap", "tls", password="wrong"))
    assert caught.value.category == "auth_failed"
    assert caught.value.result.step == "login"
    assert [r.step for r in caught.value.results][-1] == "login"
    assert caught.value.__suppress_context__  # the raw server text stays out of logged tracebacks


def test_open_imap_checks_the_host(make_endpoint) -> None:
    with pytest.raises(MailError) as caught:
        open_imap(make_endpoint("imap", "tls", allow_private=False))
    assert caught.value.category == "blocked"


def test_open_imap_refuses_other_protocols(make_endpoint) -> None:
    with pytest.raises(ValueError, match="open_imap"):
        open_imap(make_endpoint("smtp", "starttls"))


def test_open_pop3(make_endpoint, dovecot: Dovecot, mail_user: MailUser) -> None:
    dovecot.append(mail_user.email, MESSAGE)
    pop = open_pop3(make_endpoint("pop3", "tls"))
    try:
        assert pop.stat()[0] == 1
        assert b"Subject: Hi" in b"\r\n".join(pop.retr(1)[1])
    finally:
        pop.quit()


def test_open_smtp_sends(make_endpoint, smtp_server: SmtpServer, mail_user: MailUser) -> None:
    smtp_server.clear()
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = mail_user.email, "customer@example.org", "Re: Hi"
    message.set_content("Thanks")
    smtp = open_smtp(make_endpoint("smtp", "starttls"))
    try:
        smtp.send_message(message)
    finally:
        smtp.quit()
    [received] = smtp_server.wait_for(1)
    assert received.auth_user == mail_user.email and received.rcpt_tos == ["customer@example.org"]


def test_open_smtp_auth_failed(make_endpoint) -> None:
    with pytest.raises(MailError) as caught:
        open_smtp(make_endpoint("smtp", "starttls", password="wrong"))
    assert caught.value.category == "auth_failed"


# -- XOAUTH2 ---------------------------------------------------------------------------------------------------
@pytest.fixture
def oauth_user(oauth_provider, oauth_user_factory) -> tuple[str, str]:
    """A fresh provider user (revoking it cannot disturb other tests) and an access token for it."""
    username, password = oauth_user_factory()
    return username, oauth_provider.login(username, password)["access_token"]


@pytest.mark.parametrize(("protocol", "security"), [("imap", "tls"), ("pop3", "starttls"), ("smtp", "starttls")])
def test_xoauth2_login(make_endpoint, oauth_user: tuple[str, str], protocol: str, security: str) -> None:
    username, token = oauth_user
    results = probe(make_endpoint(protocol, security, username=username, password=None, oauth_token=token))
    assert all(r.ok for r in results), results[-1]
    assert results[-1 if protocol == "smtp" else -2].detail["mechanism"] == "XOAUTH2"


@pytest.mark.parametrize(("protocol", "security", "step"), [
    ("imap", "tls", "login"), ("pop3", "tls", "login"), ("smtp", "starttls", "auth"),
])
def test_xoauth2_revoked_token(make_endpoint, oauth_provider, oauth_user: tuple[str, str], protocol: str,
                               security: str, step: str) -> None:
    username, token = oauth_user
    oauth_provider.revoke_user(username)
    results = probe(make_endpoint(protocol, security, username=username, password=None, oauth_token=token))
    failed = results[-1]
    assert (failed.step, failed.category) == (step, "auth_failed"), failed
    assert token not in json.dumps([r.to_dict() for r in results])


def test_open_imap_xoauth2(make_endpoint, oauth_user: tuple[str, str]) -> None:
    username, token = oauth_user
    client = open_imap(make_endpoint("imap", "tls", username=username, password=None, oauth_token=token))
    try:
        assert client.select_folder("INBOX")[b"EXISTS"] == 0
    finally:
        client.logout()
