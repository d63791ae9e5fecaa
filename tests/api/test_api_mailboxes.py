"""Mailboxes through the API: the nested shape, secrets that never come back, field errors at the right pointer."""

import copy

import pytest
from sqlalchemy import func, select, text

from app.mailboxes.models import Mailbox, MailboxAlias
from app.queues.services import create_queue
from tests.api.problems import field_errors as _pointers

PROBLEM = "application/problem+json"
INBOUND_SECRET = "imap-s3cret-value"
OUTBOUND_SECRET = "smtp-s3cret-value"
GOOD = {
    "name": "Support", "address": "support@acme.test", "aliases": ["help@acme.test"], "queue": "IT",
    "inbound": {"protocol": "imap", "host": "127.0.0.1", "port": 993, "security": "tls",
                "username": "support@acme.test", "password": INBOUND_SECRET, "folder": "INBOX"},
    "outbound": {"host": "127.0.0.1", "port": 587, "security": "starttls", "username": "support@acme.test",
                 "password": OUTBOUND_SECRET},
    "sync": {"mode": "poll", "interval_seconds": 60},
}


def body(**changes) -> dict:
    """GOOD with changes; ``inbound__port=0`` changes a nested key."""
    data = copy.deepcopy(GOOD)
    for key, value in changes.items():
        part, _sep, field = key.partition("__")
        if field:
            data[part][field] = value
        else:
            data[part] = value
    return data



def _count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def acme(db, create_tenant):
    tenant = create_tenant("acme")
    tenant.it_queue = create_queue(tenant, name="IT")
    return tenant


@pytest.fixture
def headers(acme, api_token):
    return api_token(acme)


def _create(client, headers, **changes):
    response = client.post("/api/v1/mailboxes", json=body(**changes), headers=headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.json


def test_create_answers_the_mailbox_without_its_secrets(client, db, acme, headers):
    response = client.post("/api/v1/mailboxes", json=GOOD, headers=headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    raw = response.get_data(as_text=True)
    assert INBOUND_SECRET not in raw and OUTBOUND_SECRET not in raw and '"password"' not in raw
    mailbox = response.json
    assert mailbox["address"] == "support@acme.test" and mailbox["status"] == "active"
    assert mailbox["queue"] == acme.it_queue.id
    assert mailbox["inbound"]["has_password"] is True and mailbox["outbound"]["has_password"] is True
    assert mailbox["inbound"]["host"] == "127.0.0.1" and mailbox["inbound"]["port"] == 993
    assert mailbox["inbound"]["folder"] == "INBOX" and mailbox["outbound"]["mode"] == "own"
    assert mailbox["sync"] == {"mode": "poll", "interval_seconds": 60}
    assert [a["address"] for a in mailbox["aliases"]] == ["help@acme.test"]
    # encrypted at rest; the model decrypts
    stored = db.session.execute(text("select inbound_password, outbound_password from mailboxes")).one()
    assert INBOUND_SECRET not in stored[0] and OUTBOUND_SECRET not in stored[1]
    assert db.session.get(Mailbox, mailbox["id"]).inbound_password == INBOUND_SECRET


def test_extensions_folders_after_fetch_outbound_none_and_alias_queues(client, db, acme, headers):
    hr = create_queue(acme, name="HR")
    mailbox = _create(client, headers, outbound=None, queue=acme.it_queue.id, from_name="Acme Help",
                      reply_to="noreply@acme.test",
                      inbound__folders=["INBOX", "Support"], inbound__after_fetch="move",
                      inbound__move_to_folder="Done", aliases=["help@acme.test", {"address": "jobs@acme.test",
                                                                                  "queue": "HR"}])
    assert mailbox["outbound"]["mode"] == "none" and mailbox["outbound"]["has_password"] is False
    assert mailbox["inbound"]["folders"] == ["INBOX", "Support"] and mailbox["inbound"]["after_fetch"] == "move"
    assert mailbox["inbound"]["move_to_folder"] == "Done"
    assert mailbox["from_name"] == "Acme Help" and mailbox["reply_to"] == "noreply@acme.test"
    routes = {a["address"]: a["queue"] for a in mailbox["aliases"]}
    assert routes == {"help@acme.test": acme.it_queue.id, "jobs@acme.test": hr.id}


def test_list_get_patch_delete(client, db, acme, headers):
    created = _create(client, headers)
    listed = client.get("/api/v1/mailboxes", headers=headers).json
    assert [m["id"] for m in listed["items"]] == [created["id"]]
    assert listed["meta"] == {"page": 1, "per_page": 25, "total": 1, "pages": 1}
    url = f"/api/v1/mailboxes/{created['id']}"
    assert client.get(url, headers=headers).json["name"] == "Support"

    patched = client.patch(url, json={"inbound": {"host": "127.0.0.2"}, "sync": {"interval_seconds": 300}},
                           headers=headers)
    assert patched.status_code == 200, patched.get_data(as_text=True)
    assert patched.json["inbound"]["host"] == "127.0.0.2" and patched.json["sync"]["interval_seconds"] == 300
    assert patched.json["inbound"]["has_password"] is True
    mailbox = db.session.get(Mailbox, created["id"])
    db.session.refresh(mailbox)
    assert mailbox.inbound_password == INBOUND_SECRET and mailbox.outbound_password == OUTBOUND_SECRET
    assert client.patch(url, json={"inbound": {"password": ""}}, headers=headers).status_code == 200
    db.session.refresh(mailbox)
    assert mailbox.inbound_password == INBOUND_SECRET
    stored = db.session.execute(text("select inbound_password from mailboxes")).scalar()
    assert INBOUND_SECRET not in stored

    signed = client.patch(url, json={"signature": "Acme Support", "disclaimer": "Confidential.",
                                     "sent_folder": "Sent"}, headers=headers)
    assert signed.status_code == 200, signed.get_data(as_text=True)
    assert (signed.json["signature"], signed.json["disclaimer"], signed.json["sent_folder"]) == (
        "Acme Support", "Confidential.", "Sent")
    too_long = client.patch(url, json={"signature": "x" * 5001}, headers=headers)
    assert set(_pointers(too_long)) == {"#/signature"}

    bad = client.patch(url, json={"inbound": {"port": 0}}, headers=headers)
    assert set(_pointers(bad)) == {"#/inbound/port"}
    db.session.refresh(mailbox)
    assert mailbox.inbound_port == 993

    assert client.delete(url, headers=headers).status_code == 204
    assert client.get(url, headers=headers).status_code == 404
    assert _count(db, Mailbox) == 0


def test_patch_aliases_replaces_the_list(client, db, acme, headers):
    hr = create_queue(acme, name="HR")
    created = _create(client, headers, aliases=["help@acme.test", "old@acme.test"])
    url = f"/api/v1/mailboxes/{created['id']}"
    response = client.patch(url, json={"aliases": ["help@acme.test", {"address": "new@acme.test", "queue": hr.id}]},
                            headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert {a["address"]: a["queue"] for a in response.json["aliases"]} == {
        "help@acme.test": acme.it_queue.id, "new@acme.test": hr.id}
    bad = client.patch(url, json={"name": "Renamed", "aliases": ["help@acme.test", "not an address"]},
                       headers=headers)
    assert set(_pointers(bad)) == {"#/aliases/1"}
    bad = client.patch(url, json={"name": "Renamed", "aliases": [{"address": "x@acme.test", "queue": "Nope"}]},
                       headers=headers)
    assert set(_pointers(bad)) == {"#/aliases/0/queue"}
    assert _count(db, MailboxAlias) == 2
    assert client.get(url, headers=headers).json["name"] == "Support"
    taken = _create(client, headers, address="sales@acme.test", aliases=[])
    clash = client.patch(url, json={"aliases": ["help@acme.test", taken["address"]]}, headers=headers)
    assert set(_pointers(clash)) == {"#/aliases"}
    assert client.patch(url, json={"aliases": []}, headers=headers).json["aliases"] == []


def test_pause_resume(client, db, acme, headers):
    url = f"/api/v1/mailboxes/{_create(client, headers)['id']}"
    paused = client.post(f"{url}/pause", headers=headers)
    assert paused.status_code == 200 and paused.json["status"] == "paused"
    resumed = client.post(f"{url}/resume", headers=headers)
    assert resumed.status_code == 200 and resumed.json["status"] == "active"


@pytest.mark.parametrize(("changes", "pointer"), [
    ({"inbound__port": 0}, "#/inbound/port"),
    ({"inbound__port": 70000}, "#/inbound/port"),
    ({"inbound__host": ""}, "#/inbound/host"),
    ({"inbound__host": "not a host!"}, "#/inbound/host"),
    ({"inbound__protocol": "smtp"}, "#/inbound/protocol"),
    ({"inbound__protocol": "x"}, "#/inbound/protocol"),
    ({"address": "support"}, "#/address"),
    ({"inbound__security": "none"}, "#/inbound/security"),
    ({"outbound__security": "none"}, "#/outbound/security"),
    ({"inbound__after_fetch": "move"}, "#/inbound/move_to_folder"),
    ({"inbound__protocol": "pop3", "inbound__port": 995, "sync__mode": "idle"}, "#/sync/mode"),
    ({"inbound__protocol": "pop3", "inbound__port": 995, "inbound__after_fetch": "mark_seen"},
     "#/inbound/after_fetch"),
    ({"queue": "Nope"}, "#/queue"),
    ({"queue": 999999}, "#/queue"),
    ({"queue": 2**40}, "#/queue"),
    ({"aliases": [{"address": "x@acme.test", "queue": -1}]}, "#/aliases/0/queue"),
    ({"sync__interval_seconds": 1}, "#/sync/interval_seconds"),
    ({"inbound__folders": []}, "#/inbound/folders"),
    ({"inbound__folder": " "}, "#/inbound/folder"),
    ({"inbound__ca_pem": "not a certificate"}, "#/inbound/ca_pem"),
    ({"inbound__username": ""}, "#/inbound/username"),
    ({"outbound__host": ""}, "#/outbound/host"),
    ({"outbound__port": 0}, "#/outbound/port"),
    ({"outbound__mode": "carrier pigeon"}, "#/outbound/mode"),
    ({"reply_to": "nobody"}, "#/reply_to"),
    ({"aliases": ["support@acme.test"]}, "#/aliases"),
    ({"aliases": [{"address": "x@acme.test", "queue": "Nope"}]}, "#/aliases/0/queue"),
    # type errors come from the schema, nested the same way
    ({"inbound__port": "abc"}, "#/inbound/port"),
    ({"inbound__protocol": 5}, "#/inbound/protocol"),
    ({"inbound__colour": "blue"}, "#/inbound/colour"),
    ({"colour": "blue"}, "#/colour"),
    ({"aliases": [42]}, "#/aliases/0"),
    ({"queue": True}, "#/queue"),
])
def test_bad_input_is_a_field_error_at_its_pointer_and_creates_nothing(client, db, acme, headers, changes, pointer):
    response = client.post("/api/v1/mailboxes", json=body(**changes), headers=headers)
    assert set(_pointers(response)) == {pointer}
    assert _count(db, Mailbox) == 0 and _count(db, MailboxAlias) == 0


def test_missing_fields_are_reported_by_the_service(client, db, acme, headers):
    response = client.post("/api/v1/mailboxes", json={"outbound": None}, headers=headers)
    assert set(_pointers(response)) == {"#/name", "#/address", "#/inbound/host", "#/inbound/port",
                                        "#/inbound/username", "#/inbound/password"}
    assert _count(db, Mailbox) == 0


def test_messages_are_in_the_tenants_language(client, db, create_tenant, api_token):
    tenant = create_tenant("firma", locale="de")
    response = client.post("/api/v1/mailboxes", json=body(address="support", inbound__host="", queue=None),
                           headers=api_token(tenant))
    assert _pointers(response) == {"#/address": "Geben Sie eine gültige E-Mail-Adresse ein, z. B. name@example.com.",
                                   "#/inbound/host": "Dieses Feld ist erforderlich."}


def test_plaintext_is_allowed_when_the_tenant_allows_it(client, db, acme, headers):
    acme.allow_plaintext = True
    db.session.commit()
    mailbox = _create(client, headers, inbound__security="none", inbound__port=143)
    assert mailbox["inbound"]["security"] == "none"


@pytest.mark.parametrize("host", ["10.0.0.1", "169.254.169.254", "localhost", "127.0.0.1"])
def test_private_hosts_are_refused_at_save(app, client, db, acme, headers, host):
    app.config["ALLOW_PRIVATE_HOSTS"] = False
    try:
        response = client.post("/api/v1/mailboxes", json=body(inbound__host=host, outbound=None), headers=headers)
        assert set(_pointers(response)) == {"#/inbound/host"}
        assert "private or internal" in _pointers(response)["#/inbound/host"]
        assert _count(db, Mailbox) == 0
    finally:
        app.config["ALLOW_PRIVATE_HOSTS"] = True


def test_connection_test_job_and_health_and_log(client, db, acme, headers, create_tenant, api_token):
    mailbox = _create(client, headers)
    started = client.post(f"/api/v1/mailboxes/{mailbox['id']}/test", headers=headers)
    assert started.status_code == 202 and started.json["job_id"]
    job_id = started.json["job_id"]
    assert started.headers["Location"].endswith(f"/api/v1/jobs/{job_id}")
    job = client.get(f"/api/v1/jobs/{job_id}", headers=headers)
    assert job.status_code == 200
    assert job.json["job_id"] == job_id and job.json["kind"] == "connection_test"
    assert job.json["mailbox_id"] == mailbox["id"] and job.json["status"] == "queued" and job.json["steps"] == []
    other = api_token(create_tenant("globex"))
    assert client.get(f"/api/v1/jobs/{job_id}", headers=other).status_code == 404
    assert client.get("/api/v1/jobs/no-such-job", headers=headers).status_code == 404

    health = client.get(f"/api/v1/mailboxes/{mailbox['id']}/health", headers=headers)
    assert health.status_code == 200
    assert set(health.json) == {"status", "last_sync_at", "attempts_24h", "success_rate_24h", "median_latency_ms",
                                "failure_streak", "failure_category"}
    assert health.json["status"] == "active" and health.json["attempts_24h"] == 0
    log = client.get(f"/api/v1/mailboxes/{mailbox['id']}/log", headers=headers)
    assert log.status_code == 200 and log.json["items"] == [] and log.json["meta"]["total"] == 0


def test_job_steps_and_log_entries_are_described(client, db, acme, headers):
    from app.connections.models import ConnectionKind, ConnectionLog, ConnectionTest

    mailbox = _create(client, headers)
    steps = [{"direction": "inbound", "step": "dns", "ok": True, "latency_ms": 1.5, "category": None, "detail": {},
              "server_response": None},
             {"direction": "inbound", "step": "login", "ok": False, "latency_ms": 20.0, "category": "auth_failed",
              "detail": {"reason": "AUTHENTICATIONFAILED"}, "server_response": "a1 NO [AUTHENTICATIONFAILED]"}]
    db.session.add(ConnectionTest(tenant_id=acme.id, mailbox_id=mailbox["id"], job_id="job-1", status="failed",
                                  steps=steps))
    db.session.add(ConnectionLog(tenant_id=acme.id, mailbox_id=mailbox["id"], kind=ConnectionKind.TEST,
                                 direction="inbound", duration_ms=21.5, ok=False, category="auth_failed",
                                 step="login", server_response="a1 NO [AUTHENTICATIONFAILED]", job_id="job-1"))
    db.session.commit()
    job = client.get("/api/v1/jobs/job-1", headers=headers).json
    assert job["status"] == "failed"
    assert [(s["step"], s["label"], s["ok"]) for s in job["steps"]] == [("dns", "Name lookup", True),
                                                                        ("login", "Log in", False)]
    assert job["steps"][0]["message"] is None
    assert "rejected the user name or password" in job["steps"][1]["message"]
    log = client.get(f"/api/v1/mailboxes/{mailbox['id']}/log", headers=headers).json["items"]
    assert [(e["kind"], e["direction"], e["ok"], e["category"], e["step"]) for e in log] == [
        ("test", "inbound", False, "auth_failed", "login")]
    assert log[0]["duration_ms"] == 21.5 and log[0]["started_at"]
    health = client.get(f"/api/v1/mailboxes/{mailbox['id']}/health", headers=headers).json
    assert health["attempts_24h"] == 1 and health["success_rate_24h"] == 0


def test_other_tenants_mailboxes_are_invisible(client, db, acme, headers, create_tenant, api_token):
    mailbox = _create(client, headers)
    other = api_token(create_tenant("globex"))
    url = f"/api/v1/mailboxes/{mailbox['id']}"
    for method, path in [("get", ""), ("patch", ""), ("delete", ""), ("post", "/pause"), ("post", "/resume"),
                         ("post", "/test"), ("get", "/health"), ("get", "/log")]:
        kwargs = {"json": {"name": "Mine now"}} if method == "patch" else {}
        response = getattr(client, method)(url + path, headers=other, **kwargs)
        assert response.status_code == 404, (method, path)
        assert response.mimetype == PROBLEM
    assert client.get("/api/v1/mailboxes", headers=other).json["items"] == []
    # the other tenant's queue cannot be named either
    assert set(_pointers(client.post("/api/v1/mailboxes", json=body(address="s@globex.test"), headers=other))) == {
        "#/queue"}
    theirs = client.post("/api/v1/mailboxes", json=body(address="s@globex.test", queue=acme.it_queue.id),
                         headers=other)
    assert set(_pointers(theirs)) == {"#/queue"}
    assert client.get(url, headers=headers).json["name"] == "Support"
    assert db.session.get(Mailbox, mailbox["id"]).status.value == "active"


def test_requires_a_token(client, db):
    assert client.get("/api/v1/mailboxes").status_code == 401
    assert client.post("/api/v1/mailboxes", json=GOOD).status_code == 401
    assert client.get("/api/v1/jobs/x").status_code == 401


def test_openapi_lists_the_mailbox_paths(client, db):
    from openapi_spec_validator import validate

    validate(client.get("/api/v1/openapi.json").json)
    paths = client.get("/api/v1/openapi.json").json["paths"]
    for path in ("/api/v1/mailboxes", "/api/v1/mailboxes/{mailbox_id}", "/api/v1/mailboxes/{mailbox_id}/pause",
                 "/api/v1/mailboxes/{mailbox_id}/resume", "/api/v1/mailboxes/{mailbox_id}/test",
                 "/api/v1/mailboxes/{mailbox_id}/health", "/api/v1/mailboxes/{mailbox_id}/log",
                 "/api/v1/jobs/{job_id}"):
        assert path in paths, path
    schemas = client.get("/api/v1/openapi.json").json["components"]["schemas"]
    for name in ("Mailbox", "InboundOut", "OutboundOut"):
        secrets = [key for key in schemas[name]["properties"] if key.endswith("password") and key != "has_password"]
        assert secrets == [], name
    assert "has_password" in schemas["InboundOut"]["properties"]


def test_backfill_checks_its_date_and_starts_a_job_for_own_mailboxes_only(client, db, acme, headers, create_tenant,
                                                                          api_token):
    from app.mailboxes.models import Mailbox

    mailbox_id = _create(client, headers)["id"]
    url = f"/api/v1/mailboxes/{mailbox_id}/backfill"
    for bad in ({"since": "2999-01-01"}, {"since": "not a date"}, {}):
        response = client.post(url, json=bad, headers=headers)
        assert response.status_code == 422 and "#/since" in _pointers(response), bad
    started = client.post(url, json={"since": "2026-01-01"}, headers=headers)
    assert started.status_code == 202 and started.headers["Location"].endswith(started.json["job_id"])
    assert db.session.get(Mailbox, mailbox_id).import_since.date().isoformat() == "2026-01-01"
    other = api_token(create_tenant("other"))
    assert client.post(url, json={"since": "2026-01-01"}, headers=other).status_code == 404
