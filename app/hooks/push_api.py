"""The providers' push-subscription APIs, behind one interface: Microsoft Graph subscriptions and Gmail's
``users.watch``. Their servers cannot be reached from tests; tests point the API roots at a local replay server and
everything else is this code path."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import requests
from flask import current_app

HTTP_TIMEOUT = 15
# Graph allows at most 10,080 minutes for Outlook messages; ask for three days and renew a day before the end.
GRAPH_LIFETIME = timedelta(days=3)


class PushApiError(Exception):
    """The provider refused or could not be reached; ``gone`` means the subscription no longer exists there."""

    def __init__(self, message: str, *, gone: bool = False) -> None:
        super().__init__(message)
        self.gone = gone


@dataclass(frozen=True)
class Subscribed:
    external_id: str | None
    expires_at: datetime


class PushApi(Protocol):
    def subscribe(self, token: str, client_state: str) -> Subscribed: ...

    def renew(self, token: str, external_id: str) -> datetime: ...

    def unsubscribe(self, token: str, external_id: str | None) -> None: ...


def _call(method: str, url: str, token: str, body: dict | None = None) -> dict:
    try:
        response = requests.request(method, url, json=body, timeout=HTTP_TIMEOUT,
                                    headers={"Authorization": f"Bearer {token}"})
    except requests.RequestException as error:
        raise PushApiError(f"{type(error).__name__}: {error}") from None
    if response.status_code >= 400:
        raise PushApiError(f"HTTP {response.status_code}: {response.text[:300]}", gone=response.status_code == 404)
    try:
        return response.json() if response.content else {}
    except ValueError:
        raise PushApiError(f"HTTP {response.status_code}: not JSON") from None


def _graph_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def _parse_time(value: object) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(value))  # Graph sends 7 fractional digits; Python keeps 6
    except ValueError:
        raise PushApiError(f"unreadable expiry {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class GraphPush:
    """``POST /subscriptions`` for new messages in the inbox; Graph then calls ``/hooks/graph`` with our
    ``clientState`` (see ``app.hooks.services.graph_client_state``)."""

    def __init__(self) -> None:
        self.root = current_app.config["GRAPH_API_URL"].rstrip("/")

    def subscribe(self, token: str, client_state: str) -> Subscribed:
        body = {"changeType": "created", "resource": "me/mailFolders('inbox')/messages",
                "notificationUrl": f"{current_app.config['BASE_URL'].rstrip('/')}/hooks/graph",
                "clientState": client_state,
                "expirationDateTime": _graph_time(datetime.now(UTC) + GRAPH_LIFETIME)}
        answer = _call("POST", f"{self.root}/subscriptions", token, body)
        if not answer.get("id"):
            raise PushApiError("Graph answered without a subscription id")
        return Subscribed(str(answer["id"]), _parse_time(answer.get("expirationDateTime")))

    def renew(self, token: str, external_id: str) -> datetime:
        answer = _call("PATCH", f"{self.root}/subscriptions/{external_id}", token,
                       {"expirationDateTime": _graph_time(datetime.now(UTC) + GRAPH_LIFETIME)})
        return _parse_time(answer.get("expirationDateTime"))

    def unsubscribe(self, token: str, external_id: str | None) -> None:
        if external_id:
            _call("DELETE", f"{self.root}/subscriptions/{external_id}", token)


class GmailPush:
    """``users.watch`` on the inbox, publishing to ``GMAIL_PUSH_TOPIC``; Pub/Sub then calls ``/hooks/gmail``.
    Google asks for a new watch at least every 7 days (we do it daily); a repeated watch simply replaces the last."""

    def __init__(self) -> None:
        self.root = current_app.config["GMAIL_API_URL"].rstrip("/")

    def subscribe(self, token: str, client_state: str) -> Subscribed:
        answer = _call("POST", f"{self.root}/users/me/watch", token, {
            "topicName": current_app.config["GMAIL_PUSH_TOPIC"], "labelIds": ["INBOX"],
            "labelFilterBehavior": "include"})
        try:
            expires = datetime.fromtimestamp(int(answer["expiration"]) / 1000, UTC)
        except (KeyError, TypeError, ValueError):
            raise PushApiError("Gmail answered without an expiration") from None
        return Subscribed(str(answer.get("historyId") or "") or None, expires)

    def renew(self, token: str, external_id: str) -> datetime:
        return self.subscribe(token, "").expires_at

    def unsubscribe(self, token: str, external_id: str | None) -> None:
        _call("POST", f"{self.root}/users/me/stop", token)


def push_api(kind: str) -> PushApi | None:
    """The API for ``kind`` when this installation is set up for it: Graph needs a public https URL to call back,
    Gmail a Pub/Sub topic."""
    config = current_app.config
    if kind == "graph" and config.get("BASE_URL", "").startswith("https://"):
        return GraphPush()
    if kind == "gmail" and config.get("GMAIL_PUSH_TOPIC"):
        return GmailPush()
    return None
