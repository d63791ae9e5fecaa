"""What each step and failure category means, in the viewer's language, with the next thing to try."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

STEP_LABELS = {
    "dns": _l("Name lookup"), "tcp": _l("Connect"), "tls": _l("TLS handshake"), "greeting": _l("Server greeting"),
    "capabilities": _l("Capabilities"), "starttls": _l("STARTTLS"), "login": _l("Log in"),
    "folder": _l("Open folder"), "token": _l("OAuth token"), "policy": _l("Policy"), "stat": _l("Mailbox status"),
    "ehlo": _l("EHLO"),
    "auth": _l("Authenticate"),
}


def step_label(step: str) -> str:
    return str(STEP_LABELS.get(step, step))


def _names(detail: dict) -> str:
    cert = detail.get("certificate") or {}
    names = detail.get("certificate_names") or cert.get("san_dns", []) + cert.get("san_ips", [])
    return ", ".join(names) or cert.get("subject_cn") or "?"


def describe(step: dict) -> str:
    """A localized, actionable sentence for a failed step (``step`` as stored: category, detail, …)."""
    category, detail = step.get("category"), step.get("detail") or {}
    host = detail.get("host") or detail.get("expected") or ""
    messages = {
        "dns": lambda: _("The host name %(host)s could not be found. Check its spelling.", host=host),
        "blocked": lambda: _("%(host)s points to %(address)s, a private or internal address. Postroom only "
                             "connects to public mail servers.", host=host, address=detail.get("address", "?")),
        "refused": lambda: _("The server refused the connection. Check the port, and that the server accepts "
                             "connections from the internet."),
        "timeout": lambda: _("The server did not answer in time. A firewall may be dropping the connection, or "
                             "the port may be wrong."),
        "tls_certificate": lambda: _("The server's certificate is not trusted (%(reason)s). Upload your CA "
                                     "certificate if the server uses a private CA.",
                                     reason=detail.get("reason", "?")),
        "tls_hostname": lambda: _("The server's certificate is for %(names)s, not %(host)s.", names=_names(detail),
                                  host=detail.get("expected", host)),
        "tls_protocol": lambda: _("The TLS handshake failed (%(reason)s). Check whether the port expects TLS or "
                                  "STARTTLS.", reason=detail.get("reason", "?")),
        "auth_failed": lambda: _("The server rejected the user name or password. If the account uses two-factor "
                                 "authentication, use an app password or connect with OAuth."),
        "auth_mechanism_unsupported": lambda: _("The server does not offer a way to log in that Postroom can use "
                                                "here. Try TLS or STARTTLS, or check the server's settings."),
        "folder_missing": lambda: _("The folder %(folder)s does not exist in this mailbox.",
                                    folder=detail.get("folder", "?")),
        "smtp_rejected": lambda: _("The SMTP server rejected the request: %(response)s",
                                   response=step.get("server_response") or "?"),
        "protocol_error": lambda: _("The server answered in a way Postroom did not understand. Check that the "
                                    "port and protocol match."),
        "oauth_reauth": lambda: _("The sign-in for this mailbox was revoked or has expired (%(reason)s). "
                                  "Re-connect the mailbox.", reason=detail.get("reason", "?")),
        "plaintext_refused": lambda: _("Unencrypted connections are switched off for your organization. Change "
                                       "this mailbox to TLS or STARTTLS."),
        "oauth_client": lambda: _("The provider refused Postroom's sign-in app (%(reason)s). An administrator must "
                                  "renew the app's credentials; the mailbox works again on its own after that.",
                                  reason=detail.get("reason", "?")),
        "oauth_unavailable": lambda: _("The sign-in provider could not be reached to renew the access token. "
                                       "Postroom will try again."),
    }
    return messages.get(category, lambda: _("The step failed."))()
