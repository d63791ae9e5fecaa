"""Shared fixtures: the app on a real database (PostgreSQL or SQLite) and Redis, a transaction per test,
a CSRF-aware client, and factories. Expensive services (mail stack, browser) are session-scoped plugins."""

from __future__ import annotations

import itertools
import os
import tempfile
from pathlib import Path

import pytest
import redis
from flask_migrate import upgrade
from flask_sqlalchemy.session import Session

from tests.fixtures.clients import PortalClient
from tests.fixtures.database import database_url, drop_pg_database, on_ci

pytest_plugins = ["tests.fixtures.oauth", "tests.fixtures.mailstack", "tests.fixtures.browser", "tests.fixtures.inbox",
                   "tests.fixtures.webhooks"]

# Three Redis databases per test run (in-process tests, the live server's worker, `make run`'s demo), chosen by
# pid so that two runs on one machine rarely share one; each test flushes its own.
_REDIS_BASE = 1 + 3 * (os.getpid() % 5)
TEST_REDIS_URL = os.environ.get("POSTROOM_TEST_REDIS_URL", f"redis://127.0.0.1:6379/{_REDIS_BASE}")


def sibling_redis_url(offset: int) -> str:
    """Another Redis database next to the tests' own (1: the live server's jobs, 2: the `make run` demo)."""
    base, _sep, number = TEST_REDIS_URL.rpartition("/")
    return f"{base}/{(int(number) + offset) % 16}"
PASSWORD = "correct horse battery"
_TMP = Path(tempfile.mkdtemp(prefix="postroom-tests-"))
os.environ["POSTROOM_ENV"] = "testing"
os.environ["POSTROOM_INSTANCE_PATH"] = str(_TMP / "instance")
_DB_URL, _DB_NOTE = database_url(_TMP)


def pytest_report_header(config) -> list[str]:
    return [f"postroom database: {_DB_NOTE}", f"postroom redis: {TEST_REDIS_URL}"]


def make_test_config(**overrides) -> dict:
    return {
        "POSTROOM_ENV": "testing",
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": _DB_URL,
        "REDIS_URL": TEST_REDIS_URL,
        "RATELIMIT_STORAGE_URI": TEST_REDIS_URL,
        "RATELIMIT_KEY_PREFIX": "postroom-test",
        "ALLOW_PRIVATE_HOSTS": True,
        "BLOB_ROOT": str(_TMP / "blobs"),
        "REGIONS": '{"default": {}, "eu": {}}',
        "SERVER_NAME": None,
        "LOG_FORMAT": "text",
        **overrides,
    }


@pytest.fixture(scope="session")
def redis_url() -> str:
    client = redis.Redis.from_url(TEST_REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        if on_ci():
            raise
        pytest.skip(f"no Redis at {TEST_REDIS_URL}")
    finally:
        client.close()
    return TEST_REDIS_URL


@pytest.fixture(scope="session")
def app(redis_url):
    from app import create_app

    app = create_app(make_test_config())
    app.test_client_class = PortalClient
    with app.app_context():
        upgrade()  # the schema comes from the migrations, as in production
    yield app
    with app.app_context():
        from app.extensions import db as _db

        _db.engine.dispose()
    drop_pg_database(_DB_URL)


@pytest.fixture(autouse=True)
def _clean_redis(request):
    """Rate limits and queues start empty in every test."""
    if "app" in request.fixturenames or "redis_url" in request.fixturenames:
        client = redis.Redis.from_url(TEST_REDIS_URL)
        client.flushdb()
        client.close()


class _ConnectionBoundSession(Session):
    """Flask-SQLAlchemy's session picks an engine by bind key, which would bypass the test's connection."""

    def get_bind(self, *args, **kwargs):
        return self.bind


@pytest.fixture
def db(app):
    """A transaction per test: services may commit (releasing savepoints); everything is rolled back after."""
    from app.extensions import db as _db

    with app.app_context():
        connection = _db.engine.connect()
        transaction = connection.begin()
        original = _db.session
        _db.session = _db._make_scoped_session({"bind": connection, "join_transaction_mode": "create_savepoint",
                                                "class_": _ConnectionBoundSession})
        try:
            yield _db
        finally:
            _db.session.remove()
            _db.session = original
            transaction.rollback()
            connection.close()


@pytest.fixture
def client(app, db) -> PortalClient:
    return app.test_client()


_counter = itertools.count(1)


@pytest.fixture
def create_user(db):
    from app.auth.models import User

    def make(email: str | None = None, name: str = "Test User", password: str = PASSWORD, **fields):
        user = User(email=email or f"user{next(_counter)}@example.test", name=name, **fields)
        user.set_password(password)
        db.session.add(user)
        db.session.commit()
        return user

    return make


@pytest.fixture
def create_tenant(db, create_user):
    """``create_tenant(slug=None, role_users=...)`` → tenant with an owner (``tenant.owner``)."""
    from tenants.models import Membership, Role, Tenant

    def make(slug: str | None = None, *, region: str = "default", locale: str = "en", timezone: str = "UTC"):
        slug = slug or f"tenant-{next(_counter)}"
        tenant = Tenant(slug=slug, name=slug.title(), region=region, default_locale=locale, timezone=timezone)
        owner = create_user(email=f"owner@{slug}.test", name=f"Owner of {slug}")
        db.session.add_all([tenant, Membership(tenant=tenant, user=owner, role=Role.OWNER)])
        db.session.commit()
        tenant.owner = owner
        return tenant

    return make


@pytest.fixture
def add_member(db, create_user):
    from tenants.models import Membership, Role

    def make(tenant, role: Role = Role.AGENT, **user_fields):
        user = create_user(**user_fields)
        membership = Membership(tenant=tenant, user=user, role=role)
        db.session.add(membership)
        db.session.commit()
        return user

    return make


@pytest.fixture
def login(client):
    def do(user, password: str = PASSWORD):
        response = client.post("/login", data={"email": user.email, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)
        return response

    return do


@pytest.fixture
def api_token(db):
    from app.tokens.services import create_token

    def make(tenant, name: str = "test"):
        _token, plaintext = create_token(tenant, name=name)
        return {"Authorization": f"Bearer {plaintext}"}

    return make


@pytest.fixture
def run_jobs(app):
    """Run every queued job of a region in-process, as ``flask worker --burst`` would."""
    from rq import SimpleWorker

    from tenants.regions import get_region
    from worker.cli import build_worker

    def run(region: str = "default", kinds: tuple[str, ...] = ("poll", "ingest", "default")) -> None:
        build_worker(get_region(region), list(kinds), worker_class=SimpleWorker).work(burst=True)

    return run
