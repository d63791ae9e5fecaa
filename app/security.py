"""Security headers: a strict CSP with no inline script or style, HSTS and friends (through Talisman)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response
from flask_talisman import Talisman

CSP = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}


def set_own_headers(response: Response, headers: dict[str, str]) -> Response:
    """Give ``response`` headers of its own that the app-wide policy must not replace: a message frame needs a
    stricter CSP than a page, and may be framed by our own pages; a download is sandboxed."""
    response.headers.update(headers)
    response.own_headers = headers  # type: ignore[attr-defined]  # read by _restore_own_headers
    return response


def _sign_in_origins(app: Flask) -> list[str]:
    """The OAuth providers' authorize origins: "Connect a mailbox" is a form whose answer redirects there."""
    from app.oauth.providers import GOOGLE, MICROSOFT

    urls = [GOOGLE.authorize_url, MICROSOFT.authorize_url, app.config.get("OAUTH_DEV_URL") or ""]
    return sorted({f"{u.scheme}://{u.netloc}" for u in map(urlsplit, urls) if u.scheme and u.netloc})


def init_security(app: Flask) -> None:
    csp = {**CSP, "form-action": " ".join(["'self'", *_sign_in_origins(app)])}

    @app.after_request  # registered before Talisman's hook, so it runs after it (Flask runs them in reverse)
    def _restore_own_headers(response: Response) -> Response:
        response.headers.update(getattr(response, "own_headers", {}))
        return response

    # One Talisman per app: it keeps its policy on itself, so a shared instance would give every app the last one's.
    app.extensions["talisman"] = Talisman(
        app,
        force_https=app.config["FORCE_HTTPS"],
        strict_transport_security=app.config["FORCE_HTTPS"],
        session_cookie_secure=app.config["SESSION_COOKIE_SECURE"],
        content_security_policy=csp,
        referrer_policy="same-origin",
        frame_options="DENY",
        permissions_policy={"geolocation": "()", "camera": "()", "microphone": "()"},
    )

    @app.after_request
    def _no_sniff_and_vary(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.vary.add("HX-Request")
        return response
