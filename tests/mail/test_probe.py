"""The connection test against the real session mail stack: every failure category provoked for real."""

from __future__ import annotations

import base64
import json
import socket
import time
from collections.abc import Callable

import pytest

from app.mail.probe import CATEGORIES, Endpoint, StepResult, probe
from scripts.devstack.dovecot import Dovecot
from scripts.devstack.ports import free_port
from tests.fixtures.mailstack import MailUser
from tests.mail.conftest import drain, read_line

pytestmark = pytest.mark.stack
MESSAGE = b"From: customer@example.org\r\nTo: help@acme.test\r\nSubject: Hi\r\n\r\nHello\r\n"


def steps(results: list[StepResult]) -> list[str]:
    return [r.step for r in results]


def assert_failed(results: list[StepResult], step: str, category: str) -> StepResult:
    assert category in CATEGORIES
    *passed, last = results
    assert all(r.ok for r in passed), passed
    assert (last.step, last.ok, last.category) == (step, False, category), last
    json.dumps([r.to_dict() for r in results])  # what the caller stores must serialize
    return last


# -- success paths ---------------------------------------------------------------------------------------------
def test_imaps_with_tenant_ca(make_endpoint, dovecot: Dovecot, mail_user: MailUser) -> None:
    dovecot.append(mail_user.email, MESSAGE)
    results = probe(make_endpoint("imap", "tls"))
    assert steps(results) == ["dns", "tcp", "tls", "greeting", "capabilities", "login", "folder"]
    assert all(r.ok and r.latency_ms >= 0 for r in results)
    by_step = {r.step: r.detail for r in results}
    assert by_step["dns"]["addresses"] == ["127.0.0.1"]
    assert by_step["tls"]["tls_version"] in ("TLSv1.2", "TLSv1.3")
    assert by_step["tls"]["certificate"]["san_ips"] == ["127.0.0.1"]
    assert by_step["greeting"]["greeting"]
    assert "IMAP4REV1" in by_step["capabilities"]["capabilities"]
    folder = by_step["folder"]
    assert folder["folder"] == "INBOX" and folder["exists"] == 1 and folder["uidvalidity"] > 0
    assert folder["highestmodseq"] >= 1  # Dovecot offers CONDSTORE


def test_imap_starttls(make_endpoint) -> None:
    results = probe(make_endpoint("imap", "starttls"))
    assert steps(results) == ["dns", "tcp", "greeting", "capabilities", "starttls", "login", "folder"]
    assert all(r.ok for r in results)
    starttls = results[4].detail
    assert starttls["certificate"]["issuer_cn"] and starttls["tls_version"]
    assert "STARTTLS" not in starttls["capabilities"]


def test_pop3s(make_endpoint, dovecot: Dovecot, mail_user: MailUser) -> None:
    dovecot.append(mail_user.email, MESSAGE)
    results = probe(make_endpoint("pop3", "tls"))
    assert steps(results) == ["dns", "tcp", "tls", "greeting", "capabilities", "login", "stat"]
    assert all(r.ok for r in results)
    assert results[-1].detail["messages"] == 1


def test_pop3_stls(make_endpoint) -> None:
    results = probe(make_endpoint("pop3", "starttls"))
    assert steps(results) == ["dns", "tcp", "greeting", "capabilities", "starttls", "login", "stat"]
    assert all(r.ok for r in results)
    assert results[-1].detail == {"messages": 0, "size": 0}


def test_smtp_starttls_and_auth(make_endpoint) -> None:
    results = probe(make_endpoint("smtp", "starttls"))
    assert steps(results) == ["dns", "tcp", "greeting", "ehlo", "starttls", "auth"]
    assert all(r.ok for r in results)
    assert "starttls" in results[3].detail["extensions"]
    assert "auth" in results[4].detail["extensions"]


def test_smtp_without_username_skips_auth(make_endpoint) -> None:
    results = probe(make_endpoint("smtp", "starttls", username="", password=None))
    assert results[-1].step == "auth" and results[-1].ok and results[-1].detail == {"skipped": True}


def test_on_step_is_called_in_order(make_endpoint) -> None:
    seen: list[StepResult] = []
    results = probe(make_endpoint("imap", "starttls"), on_step=seen.append)
    assert seen == results and len(seen) == 7


def test_on_step_is_called_for_the_failed_step_too(make_endpoint) -> None:
    seen: list[str] = []
    results = probe(make_endpoint("imap", "tls", password="wrong"), on_step=lambda r: seen.append(r.step))
    assert seen == steps(results) and seen[-1] == "login"


# -- failure categories ----------------------------------------------------------------------------------------
def test_dns() -> None:
    results = probe(Endpoint("imap", "no-such-host.invalid", 993, "tls", allow_private=True, timeout=3))
    failed = assert_failed(results, "dns", "dns")
    assert failed.detail["host"] == "no-such-host.invalid"


def test_refused() -> None:
    results = probe(Endpoint("imap", "127.0.0.1", free_port(), "tls", allow_private=True, timeout=3))
    assert_failed(results, "tcp", "refused")


@pytest.mark.parametrize("protocol", ["imap", "pop3", "smtp"])
def test_timeout_silent_server(fake_server, protocol: str) -> None:
    server = fake_server(drain)  # accepts and never says a word
    started = time.monotonic()
    results = probe(Endpoint(protocol, "127.0.0.1", server.port, "none", allow_private=True, timeout=1))
    assert time.monotonic() - started < 3
    assert_failed(results, "greeting", "timeout")


def test_tls_certificate_without_the_tenant_ca(make_endpoint) -> None:
    failed = assert_failed(probe(make_endpoint("imap", "tls", ca_pem=None)), "tls", "tls_certificate")
    assert failed.detail["verify_code"] == 20  # unable to get local issuer certificate
    assert failed.detail["certificate"]["issuer_cn"] != failed.detail["certificate"]["subject_cn"]
    assert failed.detail["certificate"]["san_ips"] == ["127.0.0.1"]


def test_tls_certificate_self_signed_even_with_the_ca(make_endpoint, dovecot: Dovecot) -> None:
    endpoint = make_endpoint("imap", "tls", host=dovecot.self_signed_ip, port=dovecot.self_signed_port)
    failed = assert_failed(probe(endpoint), "tls", "tls_certificate")
    assert failed.detail["verify_code"] == 18
    assert failed.detail["certificate"]["self_signed"] is True


@pytest.mark.parametrize("protocol", ["imap", "pop3", "smtp"])
def test_tls_certificate_on_starttls(make_endpoint, protocol: str) -> None:
    # The certificate for the message is fetched on a second connection through the protocol's own STARTTLS.
    failed = assert_failed(probe(make_endpoint(protocol, "starttls", ca_pem=None)), "starttls", "tls_certificate")
    assert failed.detail["certificate"]["san_ips"] == ["127.0.0.1"]


def test_timeout_during_tls_handshake(fake_server) -> None:
    server = fake_server(drain)
    started = time.monotonic()
    results = probe(Endpoint("imap", "127.0.0.1", server.port, "tls", allow_private=True, timeout=1))
    assert time.monotonic() - started < 3
    assert_failed(results, "tls", "timeout")


def test_tls_hostname(make_endpoint, dovecot: Dovecot) -> None:
    endpoint = make_endpoint("imap", "tls", host=dovecot.wrong_host_ip, port=dovecot.wrong_host_port)
    failed = assert_failed(probe(endpoint), "tls", "tls_hostname")
    assert failed.detail["certificate_names"] == ["mail.example.test"]
    assert failed.detail["expected"] == "127.0.0.2"
    assert failed.detail["certificate"]["subject_cn"] == "mail.example.test"


def test_tls_protocol_when_the_server_does_not_speak_tls(make_endpoint, dovecot: Dovecot) -> None:
    failed = assert_failed(probe(make_endpoint("imap", "tls", port=dovecot.imap_port)), "tls", "tls_protocol")
    assert failed.detail["reason"]


def test_tls_certificate_for_an_unusable_ca_pem(make_endpoint) -> None:
    assert_failed(probe(make_endpoint("imap", "tls", ca_pem="not a certificate")), "tls", "tls_certificate")


@pytest.mark.parametrize(("protocol", "security", "step"), [
    ("imap", "tls", "login"), ("pop3", "starttls", "login"), ("smtp", "starttls", "auth"),
])
def test_auth_failed(make_endpoint, protocol: str, security: str, step: str) -> None:
    failed = assert_failed(probe(make_endpoint(protocol, security, password="wrong-password")), step, "auth_failed")
    assert failed.server_response


def test_folder_missing(make_endpoint) -> None:
    failed = assert_failed(probe(make_endpoint("imap", "tls", folder="Tickets/Nope")), "folder", "folder_missing")
    assert failed.detail["folder"] == "Tickets/Nope"
    assert failed.server_response


def test_folder_other_than_inbox(make_endpoint, dovecot: Dovecot, mail_user: MailUser) -> None:
    dovecot.create_folder(mail_user.email, "Support")
    results = probe(make_endpoint("imap", "tls", folder="Support"))
    assert results[-1].ok and results[-1].detail["exists"] == 0


def test_auth_mechanism_unsupported_smtp_plaintext(make_endpoint) -> None:
    # The SMTP server offers AUTH only after STARTTLS.
    results = probe(make_endpoint("smtp", "none"))
    assert steps(results) == ["dns", "tcp", "greeting", "ehlo", "auth"]
    assert_failed(results, "auth", "auth_mechanism_unsupported")


def test_auth_mechanism_unsupported_xoauth2_on_pop3_plaintext(fake_server) -> None:
    def pop3(conn: socket.socket) -> None:
        conn.sendall(b"+OK ready\r\n")
        read_line(conn)  # CAPA
        conn.sendall(b"+OK\r\nUSER\r\nSASL PLAIN\r\n.\r\n")
        drain(conn)

    server = fake_server(pop3)
    endpoint = Endpoint("pop3", "127.0.0.1", server.port, "none", username="a@b.test", oauth_token="tok-123456",
                        allow_private=True, timeout=2)
    failed = assert_failed(probe(endpoint), "login", "auth_mechanism_unsupported")
    assert failed.detail["mechanisms"] == ["PLAIN"]


@pytest.mark.parametrize(("capabilities", "token"), [(b"IMAP4rev1 LOGINDISABLED", None),
                                                     (b"IMAP4rev1 AUTH=PLAIN", "tok-123456")])
def test_auth_mechanism_unsupported_imap(fake_server, capabilities: bytes, token: str | None) -> None:
    def imap(conn: socket.socket) -> None:
        conn.sendall(b"* OK ready\r\n")
        tag = read_line(conn).split(b" ")[0]
        conn.sendall(b"* CAPABILITY " + capabilities + b"\r\n" + tag + b" OK done\r\n")
        drain(conn)

    server = fake_server(imap)
    endpoint = Endpoint("imap", "127.0.0.1", server.port, "none", username="a@b.test", password="pw-123456",
                        oauth_token=token, allow_private=True, timeout=2)
    assert_failed(probe(endpoint), "login", "auth_mechanism_unsupported")


def test_imap_plaintext(make_endpoint) -> None:
    results = probe(make_endpoint("imap", "none"))
    assert [r.step for r in results] == ["dns", "tcp", "greeting", "capabilities", "login", "folder"]
    assert all(r.ok for r in results)


def smtp_script(ehlo_reply: bytes) -> Callable[[socket.socket], None]:
    def script(conn: socket.socket) -> None:
        conn.sendall(b"220 fake.example ESMTP\r\n")
        read_line(conn)
        conn.sendall(ehlo_reply)
        drain(conn)

    return script


def test_smtp_rejected_ehlo(fake_server) -> None:
    server = fake_server(smtp_script(b"554 5.7.1 Your address is on our blocklist\r\n"))
    failed = assert_failed(probe(Endpoint("smtp", "127.0.0.1", server.port, "none", allow_private=True,
                                          timeout=2)), "ehlo", "smtp_rejected")
    assert failed.server_response == "554 5.7.1 Your address is on our blocklist"
    assert failed.detail["code"] == 554


def test_smtp_rejected_greeting(fake_server) -> None:
    def script(conn: socket.socket) -> None:
        conn.sendall(b"554 no service for you\r\n")
        drain(conn)

    server = fake_server(script)
    failed = assert_failed(probe(Endpoint("smtp", "127.0.0.1", server.port, "none", allow_private=True,
                                          timeout=2)), "greeting", "smtp_rejected")
    assert "no service" in failed.server_response


@pytest.mark.parametrize("protocol", ["imap", "pop3", "smtp"])
def test_protocol_error_garbage(fake_server, protocol: str) -> None:
    def script(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        drain(conn)

    server = fake_server(script)
    results = probe(Endpoint(protocol, "127.0.0.1", server.port, "none", allow_private=True, timeout=2))
    failed = assert_failed(results, "greeting", "protocol_error")
    assert "400 Bad Request" in failed.server_response


def test_protocol_error_garbage_after_ehlo(fake_server) -> None:
    server = fake_server(smtp_script(b"\x00\xffwhat\r\n"))
    assert_failed(probe(Endpoint("smtp", "127.0.0.1", server.port, "none", allow_private=True, timeout=2)),
                  "ehlo", "protocol_error")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "10.0.0.1", "169.254.169.254",
                                  "::ffff:127.0.0.1", "100.64.0.1", "2130706433"])
def test_blocked_before_any_connection(monkeypatch: pytest.MonkeyPatch, host: str) -> None:
    def no_connect(self, address):
        raise AssertionError(f"connected to {address}")

    monkeypatch.setattr(socket.socket, "connect", no_connect)
    failed = assert_failed(probe(Endpoint("imap", host, 993, "tls", password="pw-secret", timeout=2)),
                           "dns", "blocked")
    assert failed.detail["address"]
    assert len(probe(Endpoint("smtp", host, 587, "starttls", timeout=2))) == 1


# -- secrets ---------------------------------------------------------------------------------------------------
def test_password_never_appears(make_endpoint, mail_user: MailUser, fake_server) -> None:
    def echo(conn: socket.socket) -> None:  # a server that repeats what it is sent in its error
        conn.sendall(b"* OK hi\r\n")
        tag = read_line(conn).split(b" ")[0]
        conn.sendall(tag + b" OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] done\r\n")
        line = read_line(conn)
        conn.sendall(line.split(b" ")[0] + b" NO you said: " + line)
        drain(conn)

    echo_server = fake_server(echo)
    endpoints = [make_endpoint("imap", "tls"), make_endpoint("imap", "tls", password=mail_user.password + "x"),
                 make_endpoint("smtp", "starttls"), make_endpoint("pop3", "tls", password=mail_user.password + "x"),
                 Endpoint("imap", "127.0.0.1", echo_server.port, "none", username="u", password=mail_user.password,
                          allow_private=True, timeout=2)]
    for endpoint in endpoints:
        results = probe(endpoint)
        text = json.dumps([r.to_dict() for r in results])
        for secret in (endpoint.password, base64.b64encode(endpoint.password.encode()).decode()):
            assert secret not in text
    assert "you said: " in results[-1].server_response and "***" in results[-1].server_response


def test_probe_propagates_on_step_errors(make_endpoint) -> None:
    def broken(result: StepResult) -> None:
        raise RuntimeError("database down")

    with pytest.raises(RuntimeError, match="database down"):
        probe(make_endpoint("imap", "tls"), on_step=broken)

