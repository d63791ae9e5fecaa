"""The operator view (/ops/): platform operators only (everyone else: a 404), every tenant's mailboxes failing
first, RQ as Redis has it (queue depth, workers that vanish with their heartbeat), pausing a tenant's mailbox with
an audit trail on both sides."""

from __future__ import annotations

import time

from rq import Queue, Worker
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.cli import grant_operator
from app.mailboxes.models import MailboxStatus
from app.operator.models import OperatorAction
from tenants.queues import region_redis
from tenants.regions import get_region


def _operator(db, create_user, login):
    user = create_user(email="ops@postroom.test", is_operator=True)
    login(user)
    return user


def test_the_operator_pages_do_not_exist_for_anyone_else(client, db, create_tenant, login, new_mailbox):
    tenant = create_tenant("acme")
    mailbox = new_mailbox(tenant, "support@acme.test")
    assert client.get("/ops/").status_code == 404  # not signed in
    login(tenant.owner)  # a tenant owner is no operator
    assert 'id="operations-link"' not in client.get("/t/acme/").get_data(as_text=True)
    for method, path in (("GET", "/ops/"), ("GET", "/ops/actions"), ("POST", f"/ops/mailboxes/{mailbox.id}/pause"),
                         ("POST", f"/ops/mailboxes/{mailbox.id}/resume")):
        assert client.open(path, method=method).status_code == 404, path
    db.session.refresh(mailbox)
    assert mailbox.status == MailboxStatus.ACTIVE


def test_failing_mailboxes_of_every_tenant_come_first_and_an_operator_can_pause_one(client, db, create_tenant,
                                                                                   create_user, login, new_mailbox):
    acme, globex = create_tenant("acme"), create_tenant("globex")
    fine = new_mailbox(acme, "support@acme.test")
    broken = new_mailbox(globex, "help@globex.test", status=MailboxStatus.FAILING, failure_streak=4,
                         last_failure_category="auth_failed")
    operator = _operator(db, create_user, login)
    html = client.get("/ops/").get_data(as_text=True)
    assert html.index(f'id="operator-mailbox-{broken.id}"') < html.index(f'id="operator-mailbox-{fine.id}"')
    assert "auth_failed" in html and "Globex" in html and "Acme" in html
    assert 'id="operations-link"' in html  # operators find the page from their menu

    response = client.post(f"/ops/mailboxes/{broken.id}/pause", data={"reason": "hammering the provider"})
    assert response.status_code == 302
    db.session.refresh(broken)
    assert broken.status == MailboxStatus.PAUSED
    [action] = db.session.scalars(select(OperatorAction))
    assert (action.operator, action.action, action.tenant_id, action.object_id) == (
        operator.email, "mailbox.paused_by_operator", globex.id, broken.id)
    assert action.details["reason"] == "hammering the provider"
    audit = db.session.scalar(select(AuditEvent).where(AuditEvent.tenant_id == globex.id,
                                                       AuditEvent.action == "mailbox.paused_by_operator"))
    assert audit.actor == operator.email and audit.changes == {"status": ["failing", "paused"]}
    assert "hammering the provider" in client.get("/ops/actions").get_data(as_text=True)
    assert client.post(f"/ops/mailboxes/{broken.id}/resume").status_code == 302
    db.session.refresh(broken)
    assert broken.status == MailboxStatus.ACTIVE


def test_queue_depth_matches_redis_under_a_backlog_and_a_stopped_worker_goes_with_its_heartbeat(
        client, db, create_user, login):
    _operator(db, create_user, login)
    region = get_region("default")
    redis = region_redis(region)
    queue = Queue(region.queue_name("default"), connection=redis)
    queue.enqueue_many([Queue.prepare_data("builtins.print", args=(n,)) for n in range(1000)])
    worker = Worker([queue], connection=redis, name="ops-test-worker")
    worker.register_birth()
    worker.heartbeat(timeout=1)

    html = client.get("/ops/").get_data(as_text=True)
    row = html[html.index(f'id="queue-{queue.name.replace(":", "-")}"'):]
    assert f'<td class="queue-depth">{queue.count}</td>' in row[:400] and queue.count == 1000
    assert 'data-name="ops-test-worker"' in html

    time.sleep(1.5)  # no heartbeat renews the key: the worker is gone once its TTL has passed
    html = client.get("/ops/", headers={"HX-Request": "true", "HX-Target": "operator-panel"}).get_data(as_text=True)
    assert html.lstrip().startswith('<div id="operator-panel"')
    assert 'data-name="ops-test-worker"' not in html


def test_operators_are_granted_on_the_command_line(app, db, create_user):
    user = create_user(email="Ops@Postroom.test")
    result = app.test_cli_runner().invoke(grant_operator, ["ops@postroom.test"])
    assert result.exit_code == 0 and "now an operator" in result.output
    db.session.refresh(user)
    assert user.is_operator is True
    missing = app.test_cli_runner().invoke(grant_operator, ["nobody@postroom.test"])
    assert missing.exit_code != 0 and "no user" in missing.output
