"""The dev/test mail stack itself: Dovecot (IMAP/POP3, TLS, XOAUTH2), the recording SMTP server, Redis."""

from __future__ import annotations

import base64
import poplib
import smtplib
import ssl
from email.message import EmailMessage
from pathlib import Path

import pytest
import redis
import requests
from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from scripts.devstack.dovecot import Dovecot
from scripts.devstack.redis_server import ensure_redis
from scripts.devstack.smtp import SmtpServer
from tests.fixtures.mailstack import MailUser

pytestmark = pytest.mark.stack


def tls_context(ca: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca))


def raw_message(subject: str = "Hello", to: str = "help@acme.test") -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "customer@example.org", to, subject
    msg.set_content("Body of " + subject)
    return msg.as_bytes()


# -- IMAP --------------------------------------------------------------------------------------------------------
def test_imap_starttls_password_login(dovecot: Dovecot, mail_ca: Path, mail_user: MailUser) -> None:
    with IMAPClient(dovecot.host, port=dovecot.imap_port, ssl=False, timeout=5) as client:
        assert b"STARTTLS" in client.capabilities()
        client.starttls(tls_context(mail_ca))
        client.login(mail_user.email, mail_user.password)
        assert client.select_folder("INBOX")[b"EXISTS"] == 0


def test_imaps_verifies_against_ca(dovecot: Dovecot, mail_ca: Path, mail_user: MailUser) -> None:
    with IMAPClient(dovecot.host, port=dovecot.imaps_port, ssl_context=tls_context(mail_ca), timeout=5) as client:
        client.login(mail_user.email, mail_user.password)


@pytest.mark.parametrize(("listener", "verify_code"), [("wrong_host", 64), ("self_signed", 18)])
def test_bad_server_certificates_refused(dovecot: Dovecot, mail_ca: Path, listener: str, verify_code: int) -> None:
    # 64 = X509_V_ERR_IP_ADDRESS_MISMATCH (we connect by IP), 18 = X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT
    ip, port = getattr(dovecot, f"{listener}_ip"), getattr(dovecot, f"{listener}_port")
    with pytest.raises(ssl.SSLCertVerificationError) as caught:
        IMAPClient(ip, port=port, ssl_context=tls_context(mail_ca), timeout=5)
    assert caught.value.verify_code == verify_code


def test_wrong_password_refused(dovecot: Dovecot, mail_user: MailUser) -> None:
    with IMAPClient(dovecot.host, port=dovecot.imap_port, ssl=False, timeout=5) as client, \
            pytest.raises(LoginError, match="AUTHENTICATIONFAILED"):
        client.login(mail_user.email, "not-the-password")


def test_append_then_fetch_by_uid(dovecot: Dovecot, mail_user: MailUser) -> None:
    raw = raw_message("Printer on fire")
    uid = dovecot.append(mail_user.email, raw, flags=(b"\\Seen",))
    dovecot.create_folder(mail_user.email, "Archive")
    dovecot.append(mail_user.email, raw_message("old"), folder="Archive")
    assert dovecot.message_count(mail_user.email) == 1
    assert dovecot.message_count(mail_user.email, "Archive") == 1
    with IMAPClient(dovecot.host, port=dovecot.imap_port, ssl=False, timeout=5) as client:
        client.login(mail_user.email, mail_user.password)
        client.select_folder("INBOX", readonly=True)
        fetched = client.fetch([uid], ["RFC822", "FLAGS"])[uid]
    assert fetched[b"RFC822"].replace(b"\r\n", b"\n") == raw.replace(b"\r\n", b"\n")
    assert b"\\Seen" in fetched[b"FLAGS"]


def test_set_password_takes_effect_without_restart(dovecot: Dovecot, mail_user: MailUser) -> None:
    dovecot.set_password(mail_user.email, "brand-new-password")
    with IMAPClient(dovecot.host, port=dovecot.imap_port, ssl=False, timeout=5) as client, \
            pytest.raises(LoginError):
        client.login(mail_user.email, mail_user.password)
    with IMAPClient(dovecot.host, port=dovecot.imap_port, ssl=False, timeout=5) as client:
        client.login(mail_user.email, "brand-new-password")


def test_restart_keeps_ports_users_and_mail(dovecot: Dovecot, mail_user: MailUser) -> None:
    dovecot.append(mail_user.email, raw_message("before restart"))
    ports = dict(dovecot.ports)
    with IMAPClient(dovecot.host, port=dovecot.imap_port, ssl=False, timeout=5) as client:
        client.login(mail_user.email, mail_user.password)
        client.select_folder("INBOX")
        dovecot.restart()
        with pytest.raises((OSError, IMAPClient.AbortError)):  # the open session was cut, as in a real restart
            client.noop()
        client.shutdown()
    assert dovecot.ports == ports
    assert dovecot.message_count(mail_user.email) == 1


# -- POP3 --------------------------------------------------------------------------------------------------------
def test_pop3_stls_and_pop3s_uidl(dovecot: Dovecot, mail_ca: Path, mail_user: MailUser) -> None:
    dovecot.append(mail_user.email, raw_message("via pop"))
    plain = poplib.POP3(dovecot.host, dovecot.pop3_port, timeout=5)
    implicit = poplib.POP3_SSL(dovecot.host, dovecot.pop3s_port, context=tls_context(mail_ca), timeout=5)
    plain.stls(context=tls_context(mail_ca))
    uidls = []
    for pop in (plain, implicit):
        pop.user(mail_user.email)
        pop.pass_(mail_user.password)
        uidls.append(pop.uidl()[1])
        pop.quit()
    assert len(uidls[0]) == 1
    assert uidls[0] == uidls[1]


# -- XOAUTH2 -----------------------------------------------------------------------------------------------------
def test_imap_xoauth2_and_revoked_token(dovecot: Dovecot, oauth_provider, oauth_user_factory) -> None:
    username, password = oauth_user_factory()
    token = oauth_provider.login(username, password)["access_token"]
    with IMAPClient(dovecot.host, port=dovecot.imap_port, ssl=False, timeout=5) as client:
        client.oauth2_login(username, token)
        assert client.select_folder("INBOX")[b"EXISTS"] == 0
    revoked = requests.post(oauth_provider.revoke_url, data={"token": token, "token_type_hint": "access_token"},
                            auth=oauth_provider.client.auth, timeout=5)
    assert revoked.status_code == 200
    with IMAPClient(dovecot.host, port=dovecot.imap_port, ssl=False, timeout=5) as client, \
            pytest.raises(LoginError, match="AUTHENTICATIONFAILED"):
        client.oauth2_login(username, token)


# -- SMTP --------------------------------------------------------------------------------------------------------
@pytest.fixture
def smtp(smtp_server: SmtpServer) -> SmtpServer:
    smtp_server.clear()
    return smtp_server


def smtp_tls(server: SmtpServer, ca: Path) -> smtplib.SMTP:
    client = smtplib.SMTP(server.host, server.port, timeout=5)
    client.starttls(context=tls_context(ca))
    return client


def test_smtp_starttls_auth_plain_send_recorded(smtp: SmtpServer, mail_ca: Path) -> None:
    with smtp_tls(smtp, mail_ca) as client:
        client.login("alice@acme.test", "alice-secret")
        client.sendmail("alice@acme.test", ["customer@example.org"], raw_message("Re: ticket"))
    [msg] = smtp.wait_for(1)
    assert (msg.mail_from, msg.rcpt_tos, msg.auth_user) == ("alice@acme.test", ["customer@example.org"],
                                                            "alice@acme.test")
    assert b"Subject: Re: ticket" in msg.data


def test_smtp_auth_without_tls_refused(smtp: SmtpServer) -> None:
    with smtplib.SMTP(smtp.host, smtp.port, timeout=5) as client:
        client.ehlo()
        assert not client.has_extn("auth")
        blob = base64.b64encode(b"\0alice@acme.test\0alice-secret").decode()
        code, _ = client.docmd("AUTH", f"PLAIN {blob}")
        assert code == 530
        with pytest.raises(smtplib.SMTPSenderRefused):
            client.sendmail("alice@acme.test", ["x@example.org"], b"Subject: x\r\n\r\nx")
    assert smtp.messages == []


def test_smtp_wrong_password_refused(smtp: SmtpServer, mail_ca: Path) -> None:
    with smtp_tls(smtp, mail_ca) as client, pytest.raises(smtplib.SMTPAuthenticationError) as caught:
        client.login("alice@acme.test", "wrong")
    assert caught.value.smtp_code == 535


def test_smtp_xoauth2(smtp: SmtpServer, mail_ca: Path, oauth_provider) -> None:
    token = oauth_provider.login("bob@acme.test")["access_token"]
    with smtp_tls(smtp, mail_ca) as client:
        client.ehlo()
        with pytest.raises(smtplib.SMTPAuthenticationError):  # the token belongs to bob, not alice
            client.auth("XOAUTH2", lambda challenge=None: f"user=alice@acme.test\1auth=Bearer {token}\1\1")
        client.auth("XOAUTH2", lambda challenge=None: f"user=bob@acme.test\1auth=Bearer {token}\1\1")
        client.sendmail("bob@acme.test", ["c@example.org"], raw_message())
    assert smtp.wait_for(1)[0].auth_user == "bob@acme.test"


def test_smtp_fail_next_then_success(smtp: SmtpServer, mail_ca: Path) -> None:
    smtp.fail_next(451, "4.3.0 try later")
    smtp.fail_next(452, "4.3.1 out of storage", stage="data")
    with smtp_tls(smtp, mail_ca) as client:
        client.login("alice@acme.test", "alice-secret")
        with pytest.raises(smtplib.SMTPRecipientsRefused) as rcpt:
            client.sendmail("alice@acme.test", ["a@example.org", "b@example.org"], raw_message())
        assert rcpt.value.recipients["a@example.org"][0] == 451
        with pytest.raises(smtplib.SMTPDataError) as data:
            client.sendmail("alice@acme.test", ["a@example.org"], raw_message())
        assert data.value.smtp_code == 452
        client.sendmail("alice@acme.test", ["a@example.org"], raw_message("third time lucky"))
    [msg] = smtp.wait_for(1)
    assert b"third time lucky" in msg.data


def test_smtp_drop_next_data(smtp: SmtpServer, mail_ca: Path) -> None:
    smtp.drop_next_data()
    client = smtp_tls(smtp, mail_ca)
    client.login("alice@acme.test", "alice-secret")
    with pytest.raises(smtplib.SMTPServerDisconnected):
        client.sendmail("alice@acme.test", ["a@example.org"], raw_message())
    client.close()
    assert smtp.messages == []
    with smtp_tls(smtp, mail_ca) as again:
        again.login("alice@acme.test", "alice-secret")
        again.sendmail("alice@acme.test", ["a@example.org"], raw_message())
    assert len(smtp.wait_for(1)) == 1


def test_mail_user_can_send(smtp: SmtpServer, mail_ca: Path, mail_user: MailUser) -> None:
    with smtp_tls(smtp, mail_ca) as client:
        client.login(mail_user.email, mail_user.password)
        client.sendmail(mail_user.email, ["c@example.org"], raw_message())
    assert smtp.wait_for(1)[0].auth_user == mail_user.email


# -- Redis -------------------------------------------------------------------------------------------------------
def test_ensure_redis_starts_one_when_none_answers(tmp_path: Path) -> None:
    url, proc = ensure_redis("redis://127.0.0.1:1/0", tmp_path)  # nothing listens on port 1
    assert proc is not None
    try:
        client = redis.Redis.from_url(url)
        assert client.ping()
        client.close()
        assert ensure_redis(url, tmp_path) == (url, None)  # an answering Redis is reused
    finally:
        proc.terminate()
        proc.wait(timeout=5)
