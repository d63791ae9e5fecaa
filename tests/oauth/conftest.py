"""Fixtures for OAuth onboarding and token rotation against the real dev provider, Dovecot and the SMTP server.

- ``dev_config``: a fresh provider client and the app configured for it (``OAUTH_DEV_*``, ``BASE_URL``); needs no
  database, so tests with committed data (threads) can use it;
- ``dev_oauth``: ``dev_config`` plus a fresh mail user (provider + Dovecot + SMTP) and the browser-less flow:
  ``dev_oauth.connect()`` posts "Connect", fills the provider's real form with ``requests`` and calls the callback;
- ``acme``: tenant ``acme`` with its owner logged in; ``run_jobs``: queued jobs run in-process (RQ SimpleWorker).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.fixtures.oauth import OAuthClient, OAuthProvider

BASE_URL = "http://127.0.0.1:5000"
CALLBACK_PATH = "/oauth/callback"
TIMEOUT = 10
CONFIG_KEYS = ("BASE_URL", "OAUTH_DEV_URL", "OAUTH_DEV_IMAP", "OAUTH_DEV_SMTP", "OAUTH_DEV_CA_FILE",
               "OAUTH_DEV_CLIENT_ID", "OAUTH_DEV_CLIENT_SECRET")
_MISSING = object()


@dataclass
class DevConfig:
    """The provider client the app currently uses as its platform client for ``dev``."""

    app: Any
    provider: OAuthProvider
    client: OAuthClient

    @property
    def client_id(self) -> str:
        return self.client.client_id

    def use_client(self, **spec: Any) -> OAuthClient:
        """Register another fresh client (``access_token_ttl=2``, ``scope="..."``) and make it the platform's."""
        self.client = self.provider.register_client(**spec)
        self.app.config.update(OAUTH_DEV_CLIENT_ID=self.client.client_id,
                               OAUTH_DEV_CLIENT_SECRET=self.client.client_secret)
        return self.client

    def stats(self) -> dict[str, int]:
        """Token requests of the current client by grant type, e.g. ``{"authorization_code": 1}``."""
        return self.provider.stats(self.client.client_id)

    def refresh_directly(self, refresh_token: str) -> requests.Response:
        """Present ``refresh_token`` to the provider ourselves, as the current client."""
        return self.provider.refresh(refresh_token, client=self.client)


@pytest.fixture
def dev_config(app, oauth_provider: OAuthProvider, dovecot, smtp_server, mail_ca) -> Iterator[DevConfig]:
    saved = {key: app.config.get(key, _MISSING) for key in CONFIG_KEYS}
    config = DevConfig(app, oauth_provider, oauth_provider.register_client())
    app.config.update(BASE_URL=BASE_URL, OAUTH_DEV_URL=oauth_provider.url,
                      OAUTH_DEV_IMAP=f"{dovecot.host}:{dovecot.imaps_port}",
                      OAUTH_DEV_SMTP=f"{smtp_server.host}:{smtp_server.port}", OAUTH_DEV_CA_FILE=str(mail_ca),
                      OAUTH_DEV_CLIENT_ID=config.client.client_id,
                      OAUTH_DEV_CLIENT_SECRET=config.client.client_secret)
    try:
        yield config
    finally:
        for key, value in saved.items():
            if value is _MISSING:
                app.config.pop(key, None)
            else:
                app.config[key] = value



@dataclass
class Consent:
    """What the provider's form sent the browser back with."""

    callback_url: str  # path + query, for the Flask test client
    params: dict[str, str] = field(default_factory=dict)


@dataclass
class DevOAuth(DevConfig):
    http: Any = None  # the portal test client
    user: str = ""
    password: str = ""

    def start(self, path: str = "/t/acme/mailboxes/connect/dev") -> str:
        """POST "Connect" (or "Re-connect"): returns the provider's authorization URL we were sent to."""
        response = self.http.post(path)
        assert response.status_code == 302, (response.status_code, response.get_data(as_text=True)[:500])
        location = response.headers["Location"]
        assert location.startswith(self.provider.authorize_url + "?"), location
        return location

    def consent(self, authorize_url: str, *, user: str | None = None, password: str | None = None,
                decision: str = "allow") -> Consent:
        """Load the provider's login/consent page, submit it like a browser; do not follow the final redirect."""
        with requests.Session() as browser:
            page = browser.get(authorize_url, allow_redirects=False, timeout=TIMEOUT)
            assert page.status_code == 200, page.text
            action = unescape(re.search(r'<form[^>]*action="([^"]*)"', page.text).group(1))
            form = {"username": user or self.user, "password": password or self.password, "decision": decision}
            answer = browser.post(self.provider.url + action, data=form, allow_redirects=False, timeout=TIMEOUT)
        assert answer.status_code == 302, answer.text
        location = urlsplit(answer.headers["Location"])
        assert f"{location.scheme}://{location.netloc}{location.path}" == BASE_URL + CALLBACK_PATH, location
        params = {key: values[0] for key, values in parse_qs(location.query).items()}
        return Consent(f"{location.path}?{location.query}", params)

    def callback(self, consent: Consent | str):
        url = consent.callback_url if isinstance(consent, Consent) else consent
        return self.http.get(url)

    def connect(self, path: str = "/t/acme/mailboxes/connect/dev", **consent: Any):
        """The whole flow: Connect → provider form → callback. Returns the callback's response."""
        return self.callback(self.consent(self.start(path), **consent))


@pytest.fixture
def dev_oauth(dev_config: DevConfig, client, new_mail_user) -> DevOAuth:
    user, password = new_mail_user()
    return DevOAuth(dev_config.app, dev_config.provider, dev_config.client, http=client, user=user,
                    password=password)


@pytest.fixture
def acme(create_tenant, login):
    tenant = create_tenant("acme")
    login(tenant.owner)
    return tenant
