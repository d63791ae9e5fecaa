"""What a provider's error answer means for us: retry, re-connect, or an operator must act."""

from __future__ import annotations

import re

from app.oauth.providers import Provider

TRANSIENT_ERRORS = {"temporarily_unavailable", "server_error", "slow_down"}

# Microsoft's AADSTS codes (learn.microsoft.com, "Microsoft Entra authentication and authorization error codes"):
# the ones a mailbox integration meets, mapped to who must act.
AADSTS = {
    "50173": ("invalid_grant", "the user's password was changed or their sessions were revoked"),
    "70008": ("invalid_grant", "the refresh token expired"),
    "700082": ("invalid_grant", "the refresh token expired after 90 days without use"),
    "700084": ("invalid_grant", "the refresh token of a single-page app expired"),
    "50076": ("invalid_grant", "multi-factor authentication is now required for this user"),
    "50079": ("invalid_grant", "the user must enroll in multi-factor authentication"),
    "53003": ("invalid_grant", "a Conditional Access policy blocks this sign-in"),
    "65001": ("invalid_grant", "the user or an administrator has not consented to Postroom"),
    "50057": ("invalid_grant", "the user account is disabled"),
    "50126": ("invalid_grant", "the user's credentials are invalid"),
    "7000215": ("invalid_client", "the application's client secret is wrong"),
    "7000222": ("invalid_client", "the application's client secret has expired"),
    "700016": ("invalid_client", "the application is not registered in this directory"),
    "90002": ("invalid_client", "the Microsoft 365 directory (tenant) does not exist"),
    "500011": ("invalid_client", "the resource principal is missing from the directory"),
    "50020": ("invalid_grant", "this user's account does not belong to the directory the app is registered in"),
}


class OAuthFailure(Exception):
    """``kind``: ``invalid_grant`` (a person must re-connect), ``invalid_client`` (an operator/admin must fix the
    app), ``transient`` (retry with backoff), ``denied`` (consent refused), ``invalid_request`` (our bug)."""

    def __init__(self, kind: str, cause: str, *, code: str | None = None):
        super().__init__(f"{kind}: {cause}")
        self.kind, self.cause, self.code = kind, cause, code


def _aadsts(description: str) -> tuple[str, str, str] | None:
    match = re.search(r"AADSTS(\d+)", description or "")
    if match and match.group(1) in AADSTS:
        kind, cause = AADSTS[match.group(1)]
        return kind, cause, f"AADSTS{match.group(1)}"
    return None


def classify_error(provider: Provider, status: int, body: dict) -> OAuthFailure:
    error, description = str(body.get("error", "")), str(body.get("error_description", ""))
    if (known := _aadsts(description)) is not None:
        kind, cause, code = known
        return OAuthFailure(kind, cause, code=code)
    if status >= 500 or status == 429 or error in TRANSIENT_ERRORS:
        return OAuthFailure("transient", f"{provider.label} answered {status} {error}".strip())
    if error in ("invalid_grant", "invalid_client", "unauthorized_client"):
        kind = "invalid_client" if error != "invalid_grant" else "invalid_grant"
        return OAuthFailure(kind, description or error, code=error)
    return OAuthFailure("invalid_request", description or error or f"HTTP {status}", code=error or None)
