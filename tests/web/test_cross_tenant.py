"""Every portal route, visited by a member of another tenant, is a 404; every role-guarded route refuses weaker roles.

The route list comes from the app itself, so a new route without a cross-tenant check cannot slip through.
"""

import re

import pytest

from tenants.models import Role

SAMPLE_IDS = {"membership_id": 1, "invitation_id": 1, "token_id": 1, "mailbox_id": 1, "alias_id": 1, "queue_id": 1,
              "job_id": "0" * 32, "provider": "dev", "receipt_id": 1, "ticket_id": 1,
              "rule_id": 1, "message_id": 1, "template_id": 1, "attachment_id": 1,
              "event": "acknowledgement", "locale": "de", "endpoint_id": 1, "delivery_id": 1}


def tenant_routes(app):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/t/<tenant_slug>"):
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                yield rule, method


def _path(rule, slug: str) -> str:
    return re.sub(r"<(?:int:)?(\w+)>", lambda m: slug if m.group(1) == "tenant_slug" else str(
        SAMPLE_IDS[m.group(1)]), rule.rule)


def test_every_tenant_route_is_404_for_another_tenants_member(app, client, create_tenant, login):
    create_tenant("victim")
    attacker = create_tenant("attacker")
    login(attacker.owner)
    routes = list(tenant_routes(app))
    assert len(routes) >= 10
    for rule, method in routes:
        response = client.open(_path(rule, "victim"), method=method, data={})
        assert response.status_code == 404, f"{method} {rule.rule} answered {response.status_code}"
        # ... and the same route works for one's own tenant (it is not a 404 for everyone).
        own = client.open(_path(rule, "attacker"), method=method, data={})
        assert own.status_code != 500, f"{method} {rule.rule} failed for its own tenant"


def test_routes_for_a_missing_tenant_are_404(app, client, create_tenant, login):
    login(create_tenant("real").owner)
    for rule, method in tenant_routes(app):
        assert client.open(_path(rule, "missing"), method=method, data={}).status_code == 404


def test_ids_of_another_tenants_objects_are_404(client, db, create_tenant, add_member, login):
    from sqlalchemy import select

    from app.members.services import invite
    from app.tokens.services import create_token
    from tenants.models import Membership

    victim = create_tenant("victim")
    member = add_member(victim, Role.AGENT)
    victim_membership = db.session.scalar(select(Membership).where(Membership.user_id == member.id))
    invitation, _link = invite(victim, email="x@victim.test", role="agent", inviter_role=Role.OWNER,
                               invited_by_id=None)
    token, _plaintext = create_token(victim, name="victim token")
    attacker = create_tenant("attacker")
    login(attacker.owner)
    for path in (f"/t/attacker/members/{victim_membership.id}/role",
                 f"/t/attacker/members/{victim_membership.id}/remove",
                 f"/t/attacker/members/invitations/{invitation.id}/revoke",
                 f"/t/attacker/settings/tokens/{token.id}/revoke"):
        assert client.post(path, data={"role": "admin"}).status_code == 404, path
    db.session.refresh(victim_membership)
    db.session.refresh(token)
    assert victim_membership.role is Role.AGENT and token.revoked_at is None


def _guarded(app):
    for rule, method in tenant_routes(app):
        view_role = getattr(app.view_functions[rule.endpoint], "required_role", None)
        blueprint_role = getattr(app.blueprints[rule.endpoint.split(".")[0]], "required_role", Role.AGENT)
        required = max((r for r in (view_role, blueprint_role) if r is not None), key=lambda r: r.rank)
        if required != Role.AGENT:
            yield rule, method, required


@pytest.mark.parametrize("role", [Role.AGENT, Role.ADMIN])
def test_role_guarded_routes_refuse_weaker_roles(app, client, create_tenant, add_member, login, role):
    tenant = create_tenant("acme")
    login(add_member(tenant, role))
    guarded = list(_guarded(app))
    assert guarded
    for rule, method, required in guarded:
        response = client.open(_path(rule, "acme"), method=method, data={})
        if not role.at_least(required):
            assert response.status_code == 403, f"{role} {method} {rule.rule}"
        else:
            assert response.status_code != 403, f"{role} {method} {rule.rule}"


API_ROUTES = [("GET", "/api/v1/invitations"), ("GET", "/api/v1/members"), ("GET", "/api/v1/tokens"),
              ("GET", "/api/v1/tenant"), ("GET", "/api/v1/webhooks")]


def test_api_token_sees_only_its_tenant(client, db, create_tenant, add_member, api_token):
    from app.members.services import invite
    from app.tokens.services import create_token

    victim = create_tenant("victim")
    add_member(victim, name="Victim Member")
    invitation, _link = invite(victim, email="x@victim.test", role="agent", inviter_role=Role.OWNER,
                               invited_by_id=None)
    victim_token, _plaintext = create_token(victim, name="victim token")
    attacker = create_tenant("attacker")
    headers = api_token(attacker)
    for method, path in API_ROUTES:
        body = client.open(path, method=method, headers=headers).get_data(as_text=True)
        assert "victim" not in body.lower(), path
    assert client.delete(f"/api/v1/invitations/{invitation.id}", headers=headers).status_code == 404
    assert client.delete(f"/api/v1/tokens/{victim_token.id}", headers=headers).status_code == 404
    db.session.refresh(invitation)
    assert invitation.revoked_at is None


def test_mailbox_queue_and_test_ids_of_another_tenant_are_404(client, db, create_tenant, login):
    from app.connections.services import start_test
    from app.mailboxes.models import Mailbox
    from app.mailboxes.services import add_alias, create_mailbox
    from app.queues.models import Queue
    from app.queues.services import create_queue

    victim = create_tenant("victim")
    queue = create_queue(victim, name="Secret queue")
    mailbox = create_mailbox(victim, {"name": "Victim", "address": "help@victim.test", "inbound_host": "127.0.0.1",
                                      "inbound_port": 993, "inbound_username": "v", "inbound_password": "victim pw",
                                      "outbound_mode": "none"})
    alias = add_alias(mailbox, "jobs@victim.test", queue.id)
    test = start_test(mailbox)
    attacker = create_tenant("attacker")
    login(attacker.owner)
    base = f"/t/attacker/mailboxes/{mailbox.id}"
    for path in (base, f"{base}/edit", f"{base}/delete", f"{base}/tests/{test.job_id}"):
        assert client.get(path).status_code == 404, path
    for path in (f"{base}/edit", f"{base}/pause", f"{base}/resume", f"{base}/delete", f"{base}/test",
                 f"{base}/aliases", f"{base}/aliases/{alias.id}/queue", f"{base}/aliases/{alias.id}/remove",
                 f"/t/attacker/queues/{queue.id}", f"/t/attacker/queues/{queue.id}/delete"):
        assert client.post(path, data={"name": "pwned", "queue_id": "", "address": "x@attacker.test"}
                           ).status_code == 404, path
    db.session.expire_all()
    untouched = db.session.get(Mailbox, mailbox.id)
    assert untouched.name == "Victim" and len(untouched.aliases) == 1
    assert db.session.get(Queue, queue.id).name == "Secret queue"
    for path in ("/t/attacker/mailboxes/", "/t/attacker/queues/", "/t/attacker/audit/"):
        page = client.get(path).get_data(as_text=True)
        assert "victim" not in page.lower() and "Secret queue" not in page, path
