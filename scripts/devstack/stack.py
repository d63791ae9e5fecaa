"""The local mail stack for ``make run``: Redis, the dev OAuth provider, Dovecot and the SMTP server.

Ports are fixed when free (so bookmarks and mail clients keep working between runs) and chosen freely otherwise.
What is running where is written to ``instance/devstack.json`` for the app and for humans.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from scripts.devstack.dovecot import Dovecot
from scripts.devstack.oauth_provider import ProviderServer
from scripts.devstack.ports import free_port, port_open
from scripts.devstack.redis_server import ensure_redis
from scripts.devstack.smtp import SmtpServer

PREFERRED_PORTS = {"oauth": 18080, "smtp": 12525, "imap": 14300, "imaps": 14993, "pop3": 11000, "pop3s": 11995}
DEV_CLIENT_ID = "postroom-dev"
DEMO_MAILBOX = "support@demo.test"
OAUTH_DEMO_MAILBOX = "oauth@demo.test"  # for trying "Connect a dev provider mailbox" in the demo


def _port(name: str) -> int:
    preferred = PREFERRED_PORTS[name]
    return free_port() if port_open("127.0.0.1", preferred) else preferred


def _secret(path: Path) -> str:
    """A dev secret kept across runs (the provider's database remembers the client with it)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(24))
        path.chmod(0o600)
    return path.read_text().strip()


def _with_credentials(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{parts.netloc}"))


@dataclass
class MailStack:
    instance: Path
    redis_url: str = ""
    redis_process: subprocess.Popen | None = None
    provider: ProviderServer | None = None
    dovecot: Dovecot | None = None
    smtp: SmtpServer | None = None
    mailbox_password: str = ""
    client_secret: str = ""
    extra: dict = field(default_factory=dict)

    def start(self, redis_url: str | None) -> MailStack:
        state = self.instance / "devstack"
        self.redis_url, self.redis_process = ensure_redis(redis_url or "redis://127.0.0.1:6379/0", state / "redis")
        self.mailbox_password = _secret(state / "mailbox_password")
        self.client_secret = _secret(state / "oauth_client_secret")
        introspection_secret = _secret(state / "introspection_secret")
        users = {DEMO_MAILBOX: self.mailbox_password, OAUTH_DEMO_MAILBOX: self.mailbox_password}
        self.provider = ProviderServer(
            port=_port("oauth"), db_uri=f"sqlite:///{state / 'oauth.sqlite3'}", users=users,
            introspection_secret=introspection_secret,
            clients=[{"client_id": DEV_CLIENT_ID, "client_secret": self.client_secret,
                      "redirect_uris": ["http://127.0.0.1:*", "http://localhost:*"],
                      "scope": "openid email offline_access imap smtp"}],
        ).start()
        introspection = _with_credentials(self.provider.introspection_url, "dovecot", introspection_secret)
        self.dovecot = Dovecot(_dovecot_state_dir(self.instance), introspection_url=introspection,
                               ports={n: _port(n) for n in ("imap", "imaps", "pop3", "pop3s")}).start()
        for user, password in users.items():
            self.dovecot.add_user(user, password)
        self.smtp = SmtpServer(port=_port("smtp"), users=dict(users), introspection_url=introspection,
                               cert=self.dovecot.state_dir / "certs" / "server.pem",
                               key=self.dovecot.state_dir / "certs" / "server-key.pem",
                               maildir=state / "sent-mail").start()
        self._describe(state)
        return self

    def _describe(self, state: Path) -> None:
        assert self.provider and self.dovecot and self.smtp
        description = {
            "redis_url": self.redis_url,
            "oauth": {"url": self.provider.url, "client_id": DEV_CLIENT_ID, "client_secret": self.client_secret},
            "imap": {"host": "127.0.0.1", "port": self.dovecot.imap_port, "tls_port": self.dovecot.imaps_port},
            "pop3": {"host": "127.0.0.1", "port": self.dovecot.pop3_port, "tls_port": self.dovecot.pop3s_port},
            "smtp": {"host": "127.0.0.1", "port": self.smtp.port, "starttls": True},
            "ca_file": str(self.dovecot.ca_path),
            "demo_mailbox": {"address": DEMO_MAILBOX, "password": self.mailbox_password},
            "oauth_demo_mailbox": {"address": OAUTH_DEMO_MAILBOX, "password": self.mailbox_password},
            "sent_mail_dir": str(state / "sent-mail"),
        }
        path = self.instance / "devstack.json"
        path.write_text(json.dumps(description, indent=2))
        path.chmod(0o600)
        self.extra = description

    def stop(self) -> None:
        for stop in (self.smtp and self.smtp.stop, self.dovecot and self.dovecot.stop,
                     self.provider and self.provider.stop):
            if stop:
                stop()
        if self.redis_process:
            self.redis_process.terminate()
            self.redis_process.wait(timeout=10)


def _dovecot_state_dir(instance: Path) -> Path:
    # Dovecot's unprivileged users must traverse every folder above its state: /tmp, not a home directory.
    digest = hashlib.sha256(str(instance.resolve()).encode()).hexdigest()[:10]
    path = Path(tempfile.gettempdir()) / f"postroom-devstack-{digest}"
    path.mkdir(mode=0o755, exist_ok=True)
    return path
