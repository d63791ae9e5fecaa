"""Google and Microsoft token endpoints, replayed: recorded answers served over real HTTP on 127.0.0.1.

Google's and Microsoft's servers cannot be reached from tests. ``recorded/*.json`` hold the documented shapes of
their answers; the ``replay`` fixture serves them, one queued answer per token request, and keeps what it was sent
so tests can check the request too. A provider is pointed at it with ``dataclasses.replace(..., token_url=...)``:
everything else (authlib session, compliance hook, error classification) is the production code path.
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import json
import threading
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import pytest
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from app.oauth.providers import GOOGLE, MICROSOFT, ClientCredentials, Provider

RECORDED = Path(__file__).parent / "recorded"
FAKE_SIGNATURE = b"not-a-real-RS256-signature: the client does not verify it (OIDC Core 3.1.3.7, TLS channel)"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def make_jwt(header: dict, payload: dict, signature: bytes = FAKE_SIGNATURE) -> str:
    """A compact JWS shape: ``base64url(header).base64url(payload).base64url(signature)``."""
    def part(obj: dict) -> str:
        return b64url(json.dumps(obj, separators=(",", ":")).encode())

    return f"{part(header)}.{part(payload)}.{b64url(signature)}"


@functools.cache
def recording(provider: str) -> dict:
    return json.loads((RECORDED / f"{provider}.json").read_text())


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    headers: dict[str, str]
    json: dict | None = None  # the decoded JSON body, for assertions
    delay: float = 0.0  # seconds to wait before answering (timeouts)


def _with_jwts(value: Any, claims: dict) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$jwt"}:
            return make_jwt(value["$jwt"]["header"], {**value["$jwt"]["payload"], **claims})
        return {key: _with_jwts(item, claims) for key, item in value.items()}
    if isinstance(value, list):
        return [_with_jwts(item, claims) for item in value]
    return value


def recorded(provider: str, name: str, *, status: int | None = None, claims: dict | None = None,
             delay: float = 0.0, **body_overrides: Any) -> Reply:
    """The recorded answer ``name`` of ``provider`` ("google" | "microsoft"). ``claims`` override the id token's
    payload (e.g. the request's nonce); ``body_overrides`` replace top-level JSON fields (``None`` removes one)."""
    entry = copy.deepcopy(recording(provider)["responses"][name])
    headers = dict(entry.get("headers", {}))
    if "html" in entry:
        return Reply(status or entry["status"], entry["html"].encode(), headers, None, delay)
    body = _with_jwts(entry["json"], claims or {})
    for key, value in body_overrides.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return Reply(status or entry["status"], json.dumps(body).encode(), headers, body, delay)


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    form_items: list[tuple[str, str]] = field(default_factory=list)

    @property
    def form(self) -> dict[str, str]:
        return dict(self.form_items)


class _QuietHandler(WSGIRequestHandler):
    def log(self, type: str, message: str, *args: Any) -> None:
        pass


class ReplayServer:
    """Answers every request with the next queued ``Reply`` and records it. An empty queue answers 500 and is
    reported by the fixture at teardown."""

    def __init__(self) -> None:
        self._replies: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._release = threading.Event()  # ends delayed answers when the server stops
        self.requests: list[ReceivedRequest] = []
        self.unexpected: list[ReceivedRequest] = []
        self._server: BaseWSGIServer = make_server("127.0.0.1", 0, self._wsgi, threaded=True,
                                                   request_handler=_QuietHandler)
        self.url = f"http://127.0.0.1:{self._server.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="oauth-replay", daemon=True)
        self._thread.start()
        self.running = True

    def queue(self, *replies: Reply) -> None:
        with self._lock:
            self._replies.extend(replies)

    @property
    def pending(self) -> int:
        return len(self._replies)

    @property
    def last(self) -> ReceivedRequest:
        assert self.requests, "the replay server received no request"
        return self.requests[-1]

    def _wsgi(self, environ: dict, start_response):
        request = Request(environ)
        body = request.get_data()
        received = ReceivedRequest(
            method=request.method, path=request.path, query=request.query_string.decode(),
            headers=dict(request.headers), body=body,
            form_items=parse_qsl(body.decode(), keep_blank_values=True)
            if request.mimetype == "application/x-www-form-urlencoded" else [])
        with self._lock:
            self.requests.append(received)
            reply = self._replies.popleft() if self._replies else None
        if reply is None:
            self.unexpected.append(received)
            response = Response(b'{"error": "replay_queue_empty"}', status=500, content_type="application/json")
            return response(environ, start_response)
        if reply.delay:
            self._release.wait(reply.delay)
        response = Response(reply.body, status=reply.status)
        for name, value in reply.headers.items():
            response.headers[name] = value
        return response(environ, start_response)

    def stop(self) -> None:
        if not self.running:
            return
        self.running = False
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


@pytest.fixture
def replay():
    server = ReplayServer()
    try:
        yield server
    finally:
        server.stop()
    assert not server.unexpected, f"requests without a queued answer: {server.unexpected}"
    assert not server.pending, f"{server.pending} queued answer(s) never requested"


# --- Google -------------------------------------------------------------------------------------------------------

GOOGLE_CLIENT_ID = recording("google")["client_id"]
GOOGLE_CLIENT_SECRET = "GOCSPX-r3c0rd3d-Fake-S3cret_4Tests"
GOOGLE_REDIRECT_URI = "https://app.postroom.example/oauth/callback"


@pytest.fixture
def google_credentials() -> ClientCredentials:
    return ClientCredentials(client_id=GOOGLE_CLIENT_ID, client_secret=GOOGLE_CLIENT_SECRET)


@pytest.fixture
def google(replay) -> Provider:
    """GOOGLE with its token endpoint replayed."""
    return replace(GOOGLE, token_url=replay.url + "/token")


# --- Microsoft ----------------------------------------------------------------------------------------------------

MICROSOFT_CLIENT_ID = recording("microsoft")["client_id"]
MICROSOFT_TENANT_ID = recording("microsoft")["tenant_id"]
MICROSOFT_CLIENT_SECRET = "Qx38Q~r3c0rd3d.Fake-S3cret_4Tests~abcdEFGH"
MICROSOFT_REDIRECT_URI = "https://app.postroom.example/oauth/callback"


@pytest.fixture
def microsoft_credentials() -> ClientCredentials:
    return ClientCredentials(client_id=MICROSOFT_CLIENT_ID, client_secret=MICROSOFT_CLIENT_SECRET,
                             directory=MICROSOFT_TENANT_ID)


@pytest.fixture
def microsoft_for(replay):
    """``microsoft_for(directory)``: MICROSOFT with a replayed token endpoint that keeps the ``{directory}``
    template, filled by the production ``endpoints_for``."""

    def make(directory: str | None) -> Provider:
        templated = replace(MICROSOFT, token_url=replay.url + "/{directory}/oauth2/v2.0/token")
        return templated.endpoints_for(directory)

    return make


def s256(verifier: str) -> str:
    """RFC 7636's S256 challenge, computed independently of authlib, to check what the client sent."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


def query_of(url: str) -> dict[str, str]:
    """A URL's query as a dict; fails on any repeated parameter."""
    params = parse_qs(urlsplit(url).query, keep_blank_values=True, strict_parsing=True)
    assert all(len(values) == 1 for values in params.values()), f"repeated parameters: {params}"
    return {key: values[0] for key, values in params.items()}
