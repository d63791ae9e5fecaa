"""Postroom's dev/test OAuth2 provider (stands in for Google/Microsoft), built on authlib's server classes.

Library use: ``create_provider_app(...)`` or ``with ProviderServer(...) as provider: provider.url``.
CLI use: ``python -m scripts.devstack.oauth_provider --port 8901 --state-dir var/oauth``.
"""

from __future__ import annotations

import argparse
import functools
import json
import signal
import threading
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from scripts.devstack.oauth.authserver import DevAuthorizationServer, ProviderSettings
from scripts.devstack.oauth.models import Storage
from scripts.devstack.oauth.views import Stats, register_routes

EXTENSION_KEY = "devstack_oauth_provider"


def create_provider_app(
    *,
    db_uri: str = "sqlite://",
    users: dict[str, str] | None = None,
    clients: list[dict] | None = None,
    access_token_ttl: int = 3600,
    refresh_token_ttl: int | None = None,
    issuer: str | None = None,
    introspection_secret: str | None = None,
) -> Flask:
    """Build the provider app. ``clients`` items are dicts as accepted by ``POST /admin/clients``.

    Users and clients are upserted, so a persistent ``db_uri`` keeps its tokens across restarts.
    """
    app = Flask(__name__)
    storage = Storage.open(db_uri)
    settings = ProviderSettings(access_token_ttl, refresh_token_ttl, issuer, introspection_secret)
    with app.app_context():
        for username, password in (users or {}).items():
            storage.upsert_user(username, password)
        for spec in clients or []:
            storage.upsert_client(spec)
        storage.session.remove()
    server = DevAuthorizationServer(app, storage, settings)
    stats = Stats()
    register_routes(app, server, stats)
    app.extensions[EXTENSION_KEY] = {"storage": storage, "server": server, "stats": stats}
    return app


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # tests start many requests; access logs would only drown real failures


class ProviderServer:
    """Runs the provider in a daemon thread on a (by default free) loopback port."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, quiet: bool = True, **app_kwargs: Any) -> None:
        self.app = create_provider_app(**app_kwargs)
        self._host, self._port, self._quiet = host, port, quiet
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("ProviderServer is not running")
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._server.server_port}"

    @property
    def introspection_url(self) -> str:
        return f"{self.url}/introspect"

    def start(self) -> ProviderServer:
        handler = _QuietHandler if self._quiet else WSGIRequestHandler
        self._server = make_server(self._host, self._port, self.app, threaded=True, request_handler=handler)
        # A short poll interval makes stop() quick; tests start and stop servers freely.
        serve = functools.partial(self._server.serve_forever, poll_interval=0.05)
        self._thread = threading.Thread(target=serve, name="oauth-provider", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None
        self.app.extensions[EXTENSION_KEY]["storage"].close()

    def __enter__(self) -> ProviderServer:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()


def load_users(path: Path) -> dict[str, str]:
    """Read a JSON object ``{"user": "password"}`` or ``user:password`` lines (``#`` comments allowed)."""
    text = path.read_text()
    if text.lstrip().startswith("{"):
        return dict(json.loads(text))
    lines = (line.strip() for line in text.splitlines())
    return dict(line.split(":", 1) for line in lines if line and not line.startswith("#"))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8901)
    parser.add_argument("--state-dir", type=Path, help="keep tokens in DIR/oauth.sqlite3 across restarts")
    parser.add_argument("--users-file", type=Path, help='JSON {"user": "password"} or user:password lines')
    parser.add_argument("--client-id")
    parser.add_argument("--client-secret", help="omit for a public (PKCE-only) client")
    parser.add_argument("--redirect-uri", action="append", default=[], help="repeatable; loopback ports may vary")
    parser.add_argument("--access-token-ttl", type=int, default=3600)
    parser.add_argument("--refresh-token-ttl", type=int)
    parser.add_argument("--issuer")
    parser.add_argument("--introspection-secret", help="require basic auth dovecot:SECRET on /introspect")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    db_uri = "sqlite://"
    if args.state_dir:
        args.state_dir.mkdir(parents=True, exist_ok=True)
        db_uri = f"sqlite:///{args.state_dir.resolve() / 'oauth.sqlite3'}"
    clients = []
    if args.client_id:
        spec = {"client_id": args.client_id, "client_secret": args.client_secret, "redirect_uris": args.redirect_uri}
        clients.append(spec)
    server = ProviderServer(
        host=args.host,
        port=args.port,
        quiet=not args.verbose,
        db_uri=db_uri,
        users=load_users(args.users_file) if args.users_file else None,
        clients=clients,
        access_token_ttl=args.access_token_ttl,
        refresh_token_ttl=args.refresh_token_ttl,
        issuer=args.issuer,
        introspection_secret=args.introspection_secret,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with server:
        print(f"oauth provider ready at {server.url}", flush=True)
        while not stop.wait(1):
            pass


if __name__ == "__main__":
    main()
