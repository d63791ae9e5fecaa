"""What each quarantine reason code means, in the viewer's language: the one place these descriptions live.

The codes come from the parser (``app.mail.parse``), the pipeline (``app.inbound.ingest``) and the reconciler
(``app.inbound.pipeline``). A code added there and not here is shown as it is, never hidden.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

REASONS = {
    "too_large": _l("The message is larger than the size limit."),
    "too_many_parts": _l("The message has more MIME parts than allowed."),
    "too_deep": _l("The message's MIME parts are nested too deeply."),
    "header_too_long": _l("A header line is longer than allowed."),
    "too_many_headers": _l("The message has more headers than allowed."),
    "not_a_message": _l("The data does not look like an e-mail message."),
    "undecodable": _l("The message contains bytes that cannot be decoded (for example a NUL byte in the headers)."),
    "parser_error": _l("The message could not be parsed."),
    "processing_error": _l("An error occurred while turning the message into a ticket."),
    "processing_failed": _l("Processing this message stopped its worker several times, so it was set aside."),
    "dmarc_failed": _l("The sender could not be verified (DMARC failed) and the mail policy holds such mail."),
    "sender_not_allowed": _l("The sender's domain may not open tickets under the mail policy."),
}

# Held because of a tenant policy about the sender, not because the mail is broken: an admin may waive it.
ACCEPTABLE = frozenset({"dmarc_failed", "sender_not_allowed"})


def describe(code: str | None) -> str:
    """The localized description of ``code``; an unknown code is returned unchanged."""
    if code is None:
        return ""
    description = REASONS.get(code)
    return str(description) if description is not None else code


def acceptable(code: str | None) -> bool:
    return code in ACCEPTABLE
