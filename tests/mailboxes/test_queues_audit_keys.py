from cryptography.fernet import Fernet
from sqlalchemy import select, text

from app.audit.models import AuditEvent
from app.mailboxes.models import Mailbox
from app.queues.models import Queue


def test_queues_crud_with_clear_errors(client, db, create_tenant, login):
    tenant = create_tenant("acme")
    login(tenant.owner)
    assert client.post("/t/acme/queues/", data={"name": "IT", "description": "Laptops"}).status_code == 302
    duplicate = client.post("/t/acme/queues/", data={"name": "it"})
    assert duplicate.status_code == 422 and "already exists" in duplicate.get_data(as_text=True)
    too_long = client.post("/t/acme/queues/", data={"name": "x" * 10_240})
    assert too_long.status_code == 422 and "at most 80" in too_long.get_data(as_text=True)
    queue = db.session.scalar(select(Queue))
    client.post(f"/t/acme/queues/{queue.id}", data={"name": "IT Support", "description": ""})
    db.session.refresh(queue)
    assert queue.name == "IT Support"
    client.post(f"/t/acme/queues/{queue.id}/delete")
    assert db.session.scalar(select(Queue)) is None
    actions = db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions == ["queue.created", "queue.updated", "queue.deleted"]


def test_audit_page_lists_and_filters(client, db, create_tenant, login):
    tenant = create_tenant("acme")
    login(tenant.owner)
    client.post("/t/acme/queues/", data={"name": "IT"})
    client.post("/t/acme/settings/tenant", data={"name": "Acme EU", "default_locale": "en", "timezone": "UTC",
                                                  "failure_threshold": "5"})
    page = client.get("/t/acme/audit/").get_data(as_text=True)
    assert page.count('class="audit-event"') == 2 and tenant.owner.email in page
    assert "Acme → Acme EU" in page and "3 → 5" in page
    filtered = client.get("/t/acme/audit/?action=queue.created").get_data(as_text=True)
    assert filtered.count('class="audit-event"') == 1
    none = client.get("/t/acme/audit/?since=2999-01-01").get_data(as_text=True)
    assert "No events match." in none


def test_tenant_mail_policy_is_validated_and_enforced(client, db, create_tenant, login, mailbox_form):
    tenant = create_tenant("acme")
    login(tenant.owner)
    bad = client.post("/t/acme/settings/tenant", data={
        "name": "Acme", "default_locale": "en", "timezone": "UTC", "allowed_mailbox_domains": "not a domain!",
        "failure_threshold": "0"})
    assert bad.status_code == 422
    html = bad.get_data(as_text=True)
    assert 'id="allowed_mailbox_domains-error"' in html and 'id="failure_threshold-error"' in html
    client.post("/t/acme/settings/tenant", data={"name": "Acme", "default_locale": "en", "timezone": "UTC",
                                                  "allowed_mailbox_domains": "example.org", "failure_threshold": "3",
                                                  "allow_plaintext": "y"})
    db.session.refresh(tenant)
    assert tenant.allowed_mailbox_domains == ["example.org"] and tenant.allow_plaintext
    refused = client.post("/t/acme/mailboxes/new", data=mailbox_form(address="support@acme.test"))
    assert "Mailboxes of acme.test are not allowed" in refused.get_data(as_text=True)
    plaintext = client.post("/t/acme/mailboxes/new", data=mailbox_form(address="help@example.org",
                                                                       inbound_security="none"))
    assert plaintext.status_code == 302


def test_keys_rotate_reencrypts_every_secret(app, db, create_tenant):
    from app.mailboxes.services import create_mailbox

    tenant = create_tenant("acme")
    create_mailbox(tenant, {"name": "S", "address": "s@acme.test", "inbound_host": "127.0.0.1",
                            "inbound_port": 993, "inbound_username": "s", "inbound_password": "imap secret",
                            "outbound_host": "127.0.0.1", "outbound_port": 587, "outbound_username": "s",
                            "outbound_password": "smtp secret"})
    old_keys = app.config["ENCRYPTION_KEYS"]
    raw_before = db.session.execute(text("select inbound_password from mailboxes")).scalar()
    new_key = Fernet.generate_key().decode()
    app.config["ENCRYPTION_KEYS"] = [new_key, *old_keys]
    try:
        result = app.test_cli_runner().invoke(args=["keys", "rotate"])
        assert result.exit_code == 0 and "re-encrypted 2 secret(s)" in result.output
        app.config["ENCRYPTION_KEYS"] = [new_key]  # the old key is gone: everything must still decrypt
        db.session.expire_all()
        mailbox = db.session.scalar(select(Mailbox))
        assert (mailbox.inbound_password, mailbox.outbound_password) == ("imap secret", "smtp secret")
        assert db.session.execute(text("select inbound_password from mailboxes")).scalar() != raw_before
    finally:
        app.config["ENCRYPTION_KEYS"] = old_keys


def test_keys_rotate_refuses_when_a_secret_cannot_be_read(app, db, create_tenant):
    from app.mailboxes.services import create_mailbox

    tenant = create_tenant("acme")
    create_mailbox(tenant, {"name": "S", "address": "s@acme.test", "inbound_host": "127.0.0.1",
                            "inbound_port": 993, "inbound_username": "s", "inbound_password": "imap secret",
                            "outbound_mode": "none"})
    old_keys = app.config["ENCRYPTION_KEYS"]
    app.config["ENCRYPTION_KEYS"] = [Fernet.generate_key().decode()]
    try:
        result = app.test_cli_runner().invoke(args=["keys", "rotate"])
    finally:
        app.config["ENCRYPTION_KEYS"] = old_keys
    assert result.exit_code == 1 and "keep the old key" in result.stderr
