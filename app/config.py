"""Configuration from ``POSTROOM_*`` environment variables.

Every setting has one typed reader here; the rest of the code reads ``app.config``. In production the app refuses
to start without the secrets that development generates for itself.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from cryptography.fernet import Fernet

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENVIRONMENTS = ("production", "development", "testing")


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message names the variable."""


def _str(env: Mapping[str, str], name: str, default: str | None = None) -> str | None:
    value = env.get(f"POSTROOM_{name}", "").strip()
    return value or default


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = _str(env, name)
    if value is None:
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"POSTROOM_{name} must be 1 or 0, not {value!r}")


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    value = _str(env, name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"POSTROOM_{name} must be an integer, not {value!r}") from None


def _instance_secret(instance: Path, filename: str, make) -> str:
    """Read a secret from ``instance/``, creating it on first run (development only)."""
    path = instance / filename
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


def _secrets(env: Mapping[str, str], environment: str, instance: Path) -> tuple[str, str]:
    secret_key = _str(env, "SECRET_KEY")
    keys = _str(env, "ENCRYPTION_KEYS")
    if environment == "production":
        missing = [n for n, v in (("SECRET_KEY", secret_key), ("ENCRYPTION_KEYS", keys)) if not v]
        if missing:
            raise ConfigError("production needs " + ", ".join(f"POSTROOM_{n}" for n in missing))
    secret_key = secret_key or _instance_secret(instance, "secret_key", lambda: secrets.token_urlsafe(48))
    keys = keys or _instance_secret(instance, "encryption_keys", lambda: Fernet.generate_key().decode())
    return secret_key, keys


def _oauth_settings(env: Mapping[str, str]) -> dict:
    """Platform-wide OAuth clients (``POSTROOM_OAUTH_GOOGLE_CLIENT_ID``…) and the dev provider of the test stack."""
    names = [f"{p}_{k}" for p in ("GOOGLE", "MICROSOFT", "DEV")
             for k in ("CLIENT_ID", "CLIENT_SECRET", "SECRET_EXPIRES", "DIRECTORY")]
    names += ["DEV_URL", "DEV_IMAP", "DEV_SMTP", "DEV_CA_FILE"]
    return {f"OAUTH_{name}": _str(env, f"OAUTH_{name}") for name in names}


def metrics_dir(env: Mapping[str, str]) -> str:
    """Where a host's processes write their metric values (prometheus_client's multiprocess mode). The web tier and
    the workers of a host must agree on it, so it follows the instance path unless set."""
    instance = _str(env, "INSTANCE_PATH", str(PROJECT_ROOT / "instance"))
    return _str(env, "METRICS_DIR", str(Path(instance) / "metrics"))


def load_config(env: Mapping[str, str] | None = None) -> dict:
    """Build the Flask config from the environment (``os.environ`` unless given)."""
    env = os.environ if env is None else env
    environment = _str(env, "ENV", "production")
    if environment not in ENVIRONMENTS:
        raise ConfigError(f"POSTROOM_ENV must be one of {', '.join(ENVIRONMENTS)}, not {environment!r}")
    instance = Path(_str(env, "INSTANCE_PATH", str(PROJECT_ROOT / "instance")))
    secret_key, encryption_keys = _secrets(env, environment, instance)
    production = environment == "production"
    redis_url = _str(env, "REDIS_URL", "redis://127.0.0.1:6379/0")
    return {
        "POSTROOM_ENV": environment,
        "TESTING": environment == "testing",
        "SECRET_KEY": secret_key,
        "ENCRYPTION_KEYS": [k.strip() for k in encryption_keys.split(",") if k.strip()],
        "SQLALCHEMY_DATABASE_URI": _str(env, "DATABASE_URL", f"sqlite:///{instance / 'postroom.db'}"),
        "REDIS_URL": redis_url,
        "ALLOW_PRIVATE_HOSTS": _bool(env, "ALLOW_PRIVATE_HOSTS", False),
        "BLOB_ROOT": _str(env, "BLOB_ROOT", str(instance / "blobs")),
        "REGIONS": _str(env, "REGIONS"),
        "BASE_URL": _str(env, "BASE_URL", "http://127.0.0.1:5000"),
        "INVITATION_MAX_AGE": _int(env, "INVITATION_MAX_AGE", 7 * 24 * 3600),
        "LOGIN_RATE_LIMIT": _str(env, "LOGIN_RATE_LIMIT", "5 per minute"),
        "SIGNUP_RATE_LIMIT": _str(env, "SIGNUP_RATE_LIMIT", "20 per hour"),
        "RATELIMIT_STORAGE_URI": _str(env, "RATELIMIT_STORAGE_URI", redis_url),
        "RATELIMIT_KEY_PREFIX": _str(env, "RATELIMIT_KEY_PREFIX", "postroom"),
        "FORCE_HTTPS": _bool(env, "FORCE_HTTPS", production),
        "SESSION_COOKIE_SECURE": _bool(env, "COOKIE_SECURE", production),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": _bool(env, "COOKIE_SECURE", production),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "PERMANENT_SESSION_LIFETIME": _int(env, "SESSION_LIFETIME", 12 * 3600),
        "WTF_CSRF_TIME_LIMIT": None,
        "LOG_LEVEL": _str(env, "LOG_LEVEL", "INFO"),
        "LOG_FORMAT": _str(env, "LOG_FORMAT", "json" if production else "text"),
        "CONNECT_TIMEOUT": float(_int(env, "CONNECT_TIMEOUT", 15)),
        "OAUTH_REFRESH_MARGIN": _int(env, "OAUTH_REFRESH_MARGIN", 300),
        # IMAP IDLE (`flask idle`): re-issue IDLE before servers drop it (RFC 2177: at most every 29 minutes), and
        # how often the supervisor re-reads which mailboxes want a push connection.
        "IDLE_RENEW_SECONDS": _int(env, "IDLE_RENEW_SECONDS", 25 * 60),
        "IDLE_RELOAD_SECONDS": _int(env, "IDLE_RELOAD_SECONDS", 15),
        # Poll-mode IMAP mailboxes checked by `flask idle` with STATUS (POLL_THREADS=0 leaves them to the scheduler):
        # connections kept open for intervals up to POLL_KEEP_SECONDS, at most POLL_POOL_SIZE of them, and a full
        # sync every POLL_FULL_SYNC_EVERY-th check even when nothing changed.
        "POLL_THREADS": _int(env, "POLL_THREADS", 8),
        "POLL_POOL_SIZE": _int(env, "POLL_POOL_SIZE", 200),
        "POLL_KEEP_SECONDS": _int(env, "POLL_KEEP_SECONDS", 300),
        "POLL_FULL_SYNC_EVERY": _int(env, "POLL_FULL_SYNC_EVERY", 15),
        # How long a dead worker's sync lock blocks its mailbox; a running sync renews it every third of that.
        "SYNC_LOCK_SECONDS": _int(env, "SYNC_LOCK_SECONDS", 60),
        # The domain of the Message-IDs Postroom writes: mail carrying one of these came from us (loop guard).
        "MESSAGE_ID_DOMAIN": _str(env, "MESSAGE_ID_DOMAIN", "mail.postroom.invalid"),
        "INGEST_BATCH": _int(env, "INGEST_BATCH", 200),
        "INGEST_MAX_ATTEMPTS": _int(env, "INGEST_MAX_ATTEMPTS", 3),
        "INGEST_GRACE": _int(env, "INGEST_GRACE", 120),
        **_outbound_settings(env),
        **_webhook_settings(env),
        **_oauth_settings(env),
        "MAX_CONTENT_LENGTH": _int(env, "MAX_REQUEST_BYTES", 2 * 1024 * 1024),
        "METRICS_DIR": metrics_dir(env),
        "METRICS_TOKEN": _str(env, "METRICS_TOKEN"),  # unset: /metrics is open, like /healthz
    }


def _outbound_settings(env: Mapping[str, str]) -> dict:
    """The outbox: when to retry (seconds after each failed attempt; one attempt more than there are delays), how
    many mails one connection sends, the throttles, and how long rapid changes are gathered into one notification."""
    return {
        "OUTBOUND_RETRY_SCHEDULE": _seconds_list(env, "OUTBOUND_RETRY_SCHEDULE", "60,300,900,3600,14400"),
        "OUTBOUND_BATCH": _int(env, "OUTBOUND_BATCH", 200),
        "OUTBOUND_CONNECTIONS": max(1, _int(env, "OUTBOUND_CONNECTIONS", 3)),  # parallel SMTP sessions per mailbox
        "OUTBOUND_RATE_PER_MINUTE": _int(env, "OUTBOUND_RATE_PER_MINUTE", 600),  # per mailbox; 0: no limit
        "OUTBOUND_AUTO_PER_RECIPIENT_HOUR": _int(env, "OUTBOUND_AUTO_PER_RECIPIENT_HOUR", 5),
        "OUTBOUND_NOTIFY_DELAY": _int(env, "OUTBOUND_NOTIFY_DELAY", 10),
        "OUTBOUND_CLAIM_TIMEOUT": _int(env, "OUTBOUND_CLAIM_TIMEOUT", 300),
    }


def _webhook_settings(env: Mapping[str, str]) -> dict:
    """Webhook deliveries: the wait after each failed attempt (about 8.5 hours in all by default), the answer's
    time limit, parallel deliveries per endpoint, and failed attempts in a row that switch an endpoint off."""
    return {
        "WEBHOOK_RETRY_SCHEDULE": _seconds_list(env, "WEBHOOK_RETRY_SCHEDULE", "10,60,300,1800,7200,21600"),
        "WEBHOOK_TIMEOUT": float(_int(env, "WEBHOOK_TIMEOUT", 10)),
        "WEBHOOK_CONCURRENCY": max(1, _int(env, "WEBHOOK_CONCURRENCY", 2)),
        "WEBHOOK_DISABLE_AFTER": max(1, _int(env, "WEBHOOK_DISABLE_AFTER", 20)),
        # Gmail push (Pub/Sub push subscription with an OIDC token): who signs, for whom, on whose behalf.
        "GMAIL_PUSH_JWKS_URL": _str(env, "GMAIL_PUSH_JWKS_URL", "https://www.googleapis.com/oauth2/v3/certs"),
        "GMAIL_PUSH_AUDIENCE": _str(env, "GMAIL_PUSH_AUDIENCE"),
        "GMAIL_PUSH_SERVICE_ACCOUNT": _str(env, "GMAIL_PUSH_SERVICE_ACCOUNT"),
        # Push subscriptions Postroom makes: a Gmail watch publishes to this Pub/Sub topic (unset: no watch); Graph
        # subscriptions need BASE_URL on https. The API roots move only for tests.
        "GMAIL_PUSH_TOPIC": _str(env, "GMAIL_PUSH_TOPIC"),
        "GMAIL_API_URL": _str(env, "GMAIL_API_URL", "https://gmail.googleapis.com/gmail/v1"),
        "GRAPH_API_URL": _str(env, "GRAPH_API_URL", "https://graph.microsoft.com/v1.0"),
    }


def _seconds_list(env: Mapping[str, str], name: str, default: str) -> list[int]:
    value = _str(env, name, default)
    try:
        return [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(f"POSTROOM_{name}: comma-separated seconds, not {value!r}") from None
