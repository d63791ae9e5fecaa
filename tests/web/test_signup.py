import pytest
from sqlalchemy import func, select

from app.auth.models import User
from tenants.models import Membership, Role, Tenant

GOOD = {"tenant_name": "Acme Corp", "slug": "acme", "name": "Ada Admin", "email": "ada@acme.test",
        "password": "a long passphrase 42", "locale": "en", "timezone": "Europe/Berlin", "region": "default"}


def _counts(db):
    return tuple(db.session.scalar(select(func.count()).select_from(m)) for m in (Tenant, User, Membership))


def test_signup_creates_tenant_owner_and_signs_in(client, db):
    response = client.post("/signup", data=GOOD)
    assert response.status_code == 302
    assert response.headers["Location"] == "/t/acme/"
    tenant = db.session.scalar(select(Tenant).where(Tenant.slug == "acme"))
    assert (tenant.name, tenant.timezone, tenant.region) == ("Acme Corp", "Europe/Berlin", "default")
    membership = db.session.scalar(select(Membership).where(Membership.tenant_id == tenant.id))
    assert membership.role is Role.OWNER and membership.user.email == "ada@acme.test"
    assert membership.user.password_hash != GOOD["password"]
    assert "Acme Corp" in client.get("/t/acme/").get_data(as_text=True)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("slug", "taken", "This address is already taken."),
    ("password", "password123", "This password is too easy to guess."),
    ("password", "short", "Use at least 10 characters."),
    ("email", "not-an-email", "Enter a valid e-mail address"),
    ("tenant_name", "x" * 10_240, "Use at most 120 characters."),
    ("slug", "Bad Slug!", "lower-case letters, digits and dashes"),
    ("timezone", "Mars/Olympus", "Choose a time zone from the list."),
])
def test_signup_field_errors_create_nothing(client, db, create_tenant, field, value, message):
    create_tenant("taken")
    before = _counts(db)
    response = client.post("/signup", data={**GOOD, field: value})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'id="{field}-error"' in html
    assert message in html
    assert _counts(db) == before


def test_signup_errors_are_localized(client, db, create_tenant):
    create_tenant("taken")
    response = client.post("/signup", data={**GOOD, "slug": "taken", "password": "short", "locale": "de"},
                           headers={"Accept-Language": "de-DE,de;q=0.9"})
    html = response.get_data(as_text=True)
    assert "Diese Adresse ist bereits vergeben." in html
    assert "Verwende mindestens 10 Zeichen." in html or "mindestens 10 Zeichen" in html


def test_signup_with_existing_email_asks_to_log_in(client, db, create_user):
    create_user(email="ada@acme.test")
    response = client.post("/signup", data=GOOD)
    assert response.status_code == 422
    assert "already exists" in response.get_data(as_text=True)


def test_signup_without_csrf_token_is_refused(client, db):
    before = _counts(db)
    response = client.post("/signup", data=GOOD, csrf=False)
    assert response.status_code == 400
    assert _counts(db) == before
