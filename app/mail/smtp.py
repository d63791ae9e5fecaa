"""SMTP submission over a pinned socket: greeting, EHLO, STARTTLS and AUTH (PLAIN/LOGIN or XOAUTH2)."""

from __future__ import annotations

import contextlib
import smtplib
import socket
import ssl

from app.mail.steps import Endpoint, Recorder, StepFailed, response_text, xoauth2_string
from app.mail.tls import client_context
from app.mail.transport import Transport, expect, open_transport, quietly, tls_detail, tls_failure

_MECHANISM_CODES = {504, 534, 538}  # unrecognised mechanism, mechanism too weak, encryption required


class PinnedSMTP(smtplib.SMTP):
    """smtplib on a socket we connected ourselves; ``_host`` (STARTTLS ``server_hostname``) is the configured name."""

    def __init__(self, sock: socket.socket, host: str, timeout: float) -> None:
        self._pinned = sock
        # An address literal as EHLO name: smtplib would otherwise look up our own FQDN (a DNS query per probe).
        local = sock.getsockname()[0]
        super().__init__(local_hostname=f"[IPv6:{local}]" if ":" in local else f"[{local}]", timeout=timeout)
        self._host = host

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return self._pinned


def login_session(endpoint: Endpoint, rec: Recorder, stack: contextlib.ExitStack) -> PinnedSMTP:
    """dns -> tcp -> tls -> greeting -> ehlo -> starttls -> auth; returns the (authenticated) client."""
    transport = open_transport(endpoint, rec, stack)
    smtp = PinnedSMTP(transport.sock, endpoint.tls_hostname, endpoint.timeout)
    stack.callback(quietly(smtp.close))
    rec.run("greeting", lambda: _greeting(smtp, endpoint))
    rec.run("ehlo", lambda: _ehlo(smtp), on_error=_rejected)
    if endpoint.security == "starttls":
        rec.run("starttls", lambda: _starttls(smtp, endpoint), on_error=_starttls_error(transport))
    rec.run("auth", lambda: _auth(smtp, endpoint), on_error=_auth_error)
    return smtp


def close(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        quietly(smtp.close)()


def _greeting(smtp: PinnedSMTP, endpoint: Endpoint) -> tuple[None, dict]:
    code, message = smtp.connect(endpoint.tls_hostname, endpoint.port)
    text = message.decode(errors="replace")
    if code != 220:
        raise _reply_failure(code, text, "the server refused the connection")
    return None, {"greeting": f"{code} {text}"}


def _ehlo(smtp: smtplib.SMTP) -> tuple[None, dict]:
    code, message = smtp.ehlo()
    if code != 250:
        raise _reply_failure(code, message.decode(errors="replace"), "the server refused EHLO")
    return None, {"extensions": dict(smtp.esmtp_features)}


def _reply_failure(code: int, text: str, reason: str) -> StepFailed:
    if 400 <= code < 600:
        detail = {"code": code, "temporary": code < 500}
        return StepFailed("smtp_rejected", reason, detail=detail, server_response=f"{code} {text}")
    # smtplib reports an unparsable reply as code -1 with the line's first four characters cut off.
    return StepFailed("protocol_error", "unexpected answer from the server",
                      server_response=text if code == -1 else f"{code} {text}")


def _rejected(exc: BaseException) -> StepFailed | None:
    if isinstance(exc, smtplib.SMTPResponseException) and not isinstance(exc, smtplib.SMTPServerDisconnected):
        return _reply_failure(exc.smtp_code, response_text(exc), "the server refused the command")
    return None


def _starttls(smtp: smtplib.SMTP, endpoint: Endpoint) -> tuple[None, dict]:
    if not smtp.has_extn("starttls"):
        raise StepFailed("tls_protocol", "the server does not offer STARTTLS")
    smtp.starttls(context=client_context(endpoint.ca_pem))
    detail = tls_detail(smtp.sock)
    _ignored, ehlo = _ehlo(smtp)  # extensions change once the connection is encrypted (AUTH, typically)
    return None, {**detail, **ehlo}


def _starttls_error(transport: Transport):
    tls_error = tls_failure(transport, _raw_starttls)

    def on_error(exc: BaseException) -> StepFailed | None:
        if isinstance(exc, ssl.SSLError):
            return tls_error(exc)
        if isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code != -1:
            return StepFailed("tls_protocol", "the server refused STARTTLS", server_response=response_text(exc))
        return None

    return on_error


def _raw_starttls(sock: socket.socket) -> None:
    last = lambda line: line[3:4] != b"-"  # noqa: E731 -- multi-line replies continue with "250-"
    expect(sock, b"", last, lambda line: line.startswith(b"220"))
    expect(sock, b"EHLO postroom.invalid\r\n", last, lambda line: line.startswith(b"250"))
    expect(sock, b"STARTTLS\r\n", last, lambda line: line.startswith(b"220"))


def _auth(smtp: smtplib.SMTP, endpoint: Endpoint) -> tuple[None, dict]:
    if not endpoint.username:
        return None, {"skipped": True}
    if not smtp.has_extn("auth"):
        raise StepFailed("auth_mechanism_unsupported", "the server offers no AUTH on this connection",
                         detail={"extensions": sorted(smtp.esmtp_features)})
    mechanisms = smtp.esmtp_features["auth"].upper().split()
    if endpoint.oauth_token:
        if "XOAUTH2" not in mechanisms:
            raise StepFailed("auth_mechanism_unsupported", "the server does not offer AUTH XOAUTH2",
                             detail={"mechanisms": mechanisms})
        answer = xoauth2_string(endpoint.username, endpoint.oauth_token)
        # The first call gives the initial response; a later challenge is the JSON error, answered empty.
        smtp.auth("XOAUTH2", lambda challenge=None: "" if challenge is not None else answer)
        return None, {"mechanism": "XOAUTH2"}
    if endpoint.password is None:
        raise StepFailed("auth_failed", "no password or token is configured")
    smtp.login(endpoint.username, endpoint.password)
    return None, {"mechanisms": mechanisms}


def _auth_error(exc: BaseException) -> StepFailed | None:
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        text = response_text(exc)
        if exc.smtp_code == 535:
            return StepFailed("auth_failed", "the server refused the credentials", server_response=text)
        if exc.smtp_code in _MECHANISM_CODES:
            return StepFailed("auth_mechanism_unsupported", "the server refused the mechanism", server_response=text)
    if isinstance(exc, smtplib.SMTPException) and "No suitable authentication method" in str(exc):
        return StepFailed("auth_mechanism_unsupported", "no authentication method in common with the server")
    if isinstance(exc, UnicodeEncodeError):  # smtplib sends AUTH PLAIN/LOGIN as ASCII only
        return StepFailed("auth_mechanism_unsupported", "the credentials contain characters AUTH cannot send")
    return _rejected(exc)
