"""The OAuth providers Postroom connects mailboxes through: Google, Microsoft 365 and the dev provider.

Each describes its endpoints, the scopes IMAP and SMTP need, the mail servers it implies and how its refresh tokens
behave. Google's and Microsoft's servers cannot be reached from tests; the dev provider speaks the same protocol.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path

from flask import current_app


@dataclass(frozen=True)
class MailServer:
    host: str
    port: int
    security: str  # tls | starttls


@dataclass(frozen=True)
class ClientCredentials:
    client_id: str
    client_secret: str = field(repr=False)
    secret_expires_on: date | None = None
    directory: str | None = None  # Microsoft: "common", "organizations" or a tenant id
    app_id: int | None = None  # the tenant's own OAuthApp, when it overrides ours


@dataclass(frozen=True)
class Provider:
    key: str
    label: str
    authorize_url: str
    token_url: str
    revoke_url: str | None
    scopes: tuple[str, ...]
    imap_scope: str
    smtp_scope: str
    imap: MailServer
    smtp: MailServer
    issues_id_token: bool = True  # OpenID Connect: the ID token names the account and carries our nonce
    revoke_is_grant_wide: bool = False  # Google: revoking one token withdraws the user's whole consent
    refresh_token_max_age: timedelta | None = None  # known upper bound (e.g. Microsoft's 90 days of inactivity)
    userinfo_url: str | None = None
    extra_authorize_params: dict = field(default_factory=dict)
    ca_pem: str | None = None  # the dev stack's private CA; real providers use the system store
    push: str | None = None  # graph | gmail: how the provider tells us of new mail (see app.hooks.subscriptions)
    push_scope: str | None = None  # the scope of the push API's token, when not the mail scopes' own
    consent_scopes: tuple[str, ...] = ()  # asked for at consent only (a token request names one resource)

    def endpoints_for(self, directory: str | None) -> Provider:
        """Microsoft puts the directory in the URL; everyone else ignores it."""
        if "{directory}" not in self.authorize_url:
            return self
        directory = directory or "common"
        return replace(self, authorize_url=self.authorize_url.format(directory=directory),
                       token_url=self.token_url.format(directory=directory))


GOOGLE = Provider(
    key="google", label="Google Workspace / Gmail",
    authorize_url="https://accounts.google.com/o/oauth2/v2/auth", token_url="https://oauth2.googleapis.com/token",  # noqa: S106
    revoke_url="https://oauth2.googleapis.com/revoke",
    scopes=("openid", "email", "https://mail.google.com/"),
    imap_scope="https://mail.google.com/", smtp_scope="https://mail.google.com/",
    imap=MailServer("imap.gmail.com", 993, "tls"), smtp=MailServer("smtp.gmail.com", 587, "starttls"),
    revoke_is_grant_wide=True,
    push="gmail",  # users.watch works with the https://mail.google.com/ token
    # offline access needs both: without prompt=consent Google returns no refresh token on a re-connect
    extra_authorize_params={"access_type": "offline", "prompt": "consent"},
)

MICROSOFT = Provider(
    key="microsoft", label="Microsoft 365 / Outlook",
    authorize_url="https://login.microsoftonline.com/{directory}/oauth2/v2.0/authorize",
    token_url="https://login.microsoftonline.com/{directory}/oauth2/v2.0/token",  # noqa: S106
    revoke_url=None,  # Microsoft has no token revocation endpoint; consent is withdrawn in Entra ID
    scopes=("openid", "email", "offline_access", "https://outlook.office.com/IMAP.AccessAsUser.All",
            "https://outlook.office.com/SMTP.Send"),
    imap_scope="https://outlook.office.com/IMAP.AccessAsUser.All",
    smtp_scope="https://outlook.office.com/SMTP.Send",
    imap=MailServer("outlook.office365.com", 993, "tls"), smtp=MailServer("smtp.office365.com", 587, "starttls"),
    refresh_token_max_age=timedelta(days=90),  # of inactivity; every refresh rotates it
    push="graph", push_scope="https://graph.microsoft.com/Mail.ReadBasic",
    consent_scopes=("https://graph.microsoft.com/Mail.ReadBasic",),
    extra_authorize_params={"prompt": "select_account"},
)


def _server(spec: str, default_security: str) -> MailServer:
    host, _sep, port = spec.rpartition(":")
    return MailServer(host, int(port), default_security)


def dev_provider() -> Provider | None:
    """The dev/test stack's own provider, when configured (``POSTROOM_OAUTH_DEV_URL``)."""
    config = current_app.config
    base = config.get("OAUTH_DEV_URL")
    if not base:
        return None
    ca_file = config.get("OAUTH_DEV_CA_FILE")
    return Provider(
        key="dev", label="Postroom dev provider", issues_id_token=False,
        authorize_url=f"{base}/authorize", token_url=f"{base}/token",
        revoke_url=f"{base}/revoke", userinfo_url=f"{base}/userinfo",
        scopes=("openid", "email", "offline_access", "imap", "smtp"), imap_scope="imap", smtp_scope="smtp",
        imap=_server(config["OAUTH_DEV_IMAP"], "tls"), smtp=_server(config["OAUTH_DEV_SMTP"], "starttls"),
        ca_pem=Path(ca_file).read_text() if ca_file else None,
    )


def all_providers() -> list[Provider]:
    """Every provider this installation knows: Google, Microsoft, and the dev provider where configured."""
    return [p for p in (GOOGLE, MICROSOFT, dev_provider()) if p is not None]


def get_provider(key: str) -> Provider | None:
    if key in ("google", "microsoft"):
        return GOOGLE if key == "google" else MICROSOFT
    return dev_provider() if key == "dev" else None


def platform_credentials(provider: Provider) -> ClientCredentials | None:
    config = current_app.config
    prefix = f"OAUTH_{provider.key.upper()}_"
    client_id = config.get(prefix + "CLIENT_ID")
    if not client_id:
        return None
    expires = config.get(prefix + "SECRET_EXPIRES")
    return ClientCredentials(client_id=client_id, client_secret=config.get(prefix + "CLIENT_SECRET") or "",
                             secret_expires_on=date.fromisoformat(expires) if expires else None,
                             directory=config.get(prefix + "DIRECTORY"))
