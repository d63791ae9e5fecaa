"""Changing members' roles and removing members through the API: the portal's rules, an API token acting as an
admin (as its creator, never above admin)."""

import pytest
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.tokens.services import create_token
from tenants.models import Membership, Role
from tests.api.problems import PROBLEM, field_errors


@pytest.fixture
def acme(db, create_tenant):
    return create_tenant("acme")


@pytest.fixture
def headers(acme, api_token):
    """A token made on the command line (no creator): it acts as the first owner, capped at admin."""
    return api_token(acme)


def _membership(db, tenant, user) -> Membership:
    return db.session.scalar(select(Membership).where(Membership.tenant_id == tenant.id,
                                                      Membership.user_id == user.id))


def _token_of(tenant, user) -> dict:
    _token, plaintext = create_token(tenant, name="script", created_by_id=user.id)
    return {"Authorization": f"Bearer {plaintext}"}


def _url(membership: Membership) -> str:
    return f"/api/v1/members/{membership.id}"


def test_member_ids_are_the_ids_listed(client, db, acme, headers, add_member):
    agent = _membership(db, acme, add_member(acme, name="Alex Agent"))
    listed = client.get("/api/v1/members", headers=headers).json["items"]
    by_name = {m["user"]["name"]: m["id"] for m in listed}
    assert by_name["Alex Agent"] == agent.id
    response = client.patch(_url(agent), json={"role": "admin"}, headers=headers)
    assert response.status_code == 200
    assert response.json["id"] == agent.id and response.json["role"] == "admin"
    assert response.json["user"]["name"] == "Alex Agent"


def test_role_change_and_removal_are_audited(client, db, acme, headers, add_member):
    user = add_member(acme, email="alex@acme.test")
    agent = _membership(db, acme, user)
    assert client.patch(_url(agent), json={"role": "admin"}, headers=headers).status_code == 200
    assert client.patch(_url(agent), json={"role": "admin"}, headers=headers).status_code == 200  # no change
    assert client.patch(_url(agent), json={}, headers=headers).json["role"] == "admin"
    assert client.delete(_url(agent), headers=headers).status_code == 204
    assert _membership(db, acme, user) is None
    assert client.patch(_url(agent), json={"role": "agent"}, headers=headers).status_code == 404
    events = list(db.session.scalars(select(AuditEvent).where(AuditEvent.tenant_id == acme.id,
                                                               AuditEvent.action.like("member.%"))
                                     .order_by(AuditEvent.id)))
    assert [(e.action, e.object_label, e.changes) for e in events] == [
        ("member.role_changed", "alex@acme.test", {"role": ["agent", "admin"]}),
        ("member.removed", "alex@acme.test", {"role": ["admin", None]})]
    assert {e.actor for e in events} == {"API token “test”"}


def test_bad_roles_are_field_errors(client, db, acme, headers, add_member):
    agent = _membership(db, acme, add_member(acme))
    for body in ({"role": "owner"}, {"role": "superuser"}, {"role": ""}, {"role": 5}, {"role": None}):
        assert set(field_errors(client.patch(_url(agent), json=body, headers=headers))) == {"#/role"}, body
    assert set(field_errors(client.patch(_url(agent), json={"role": "admin", "colour": "red"},
                                         headers=headers))) == {"#/colour"}
    assert field_errors(client.patch(_url(agent), json={"role": "owner"}, headers=headers)) == {
        "#/role": "You cannot grant this role."}
    db.session.refresh(agent)
    assert agent.role is Role.AGENT


def test_a_token_cannot_change_or_remove_owners(client, db, acme, headers, add_member):
    """Not even the token of an owner, and the last owner least of all."""
    owner = _membership(db, acme, acme.owner)
    owners_token = _token_of(acme, acme.owner)
    for token in (headers, owners_token):
        assert field_errors(client.patch(_url(owner), json={"role": "admin"}, headers=token)) == {
            "#/role": "Only an owner can change another owner."}
        # Both tokens act as this owner (one made by them, one made on the command line).
        assert client.delete(_url(owner), headers=token).status_code == 403
    second = _membership(db, acme, add_member(acme, Role.OWNER))
    for token in (headers, owners_token):
        assert set(field_errors(client.patch(_url(second), json={"role": "agent"}, headers=token))) == {"#/role"}
        removed = client.delete(_url(second), headers=token)
        assert removed.status_code == 409 and removed.mimetype == PROBLEM
        assert removed.json["detail"] == "Only an owner can change another owner."
    db.session.refresh(owner)
    db.session.refresh(second)
    assert (owner.role, second.role) == (Role.OWNER, Role.OWNER)
    assert db.session.scalar(select(AuditEvent.id).where(AuditEvent.action.like("member.%"))) is None


def test_the_token_acts_as_its_creator(client, db, acme, add_member):
    admin_user = add_member(acme, Role.ADMIN)
    admin = _membership(db, acme, admin_user)
    agent = _membership(db, acme, add_member(acme))
    token = _token_of(acme, admin_user)
    # The portal offers no button to remove yourself; the API refuses it outright.
    refused = client.delete(_url(admin), headers=token)
    assert refused.status_code == 403 and refused.mimetype == PROBLEM
    assert client.patch(_url(agent), json={"role": "admin"}, headers=token).status_code == 200
    # A creator who is no longer an admin here may not manage members, as in the portal.
    admin.role = Role.AGENT
    db.session.commit()
    for response in (client.patch(_url(agent), json={"role": "agent"}, headers=token),
                     client.delete(_url(agent), headers=token)):
        assert response.status_code == 403 and response.mimetype == PROBLEM
    db.session.refresh(agent)
    assert agent.role is Role.ADMIN and _membership(db, acme, admin_user) is not None


def test_other_tenants_members_are_404(client, db, acme, headers, create_tenant, add_member):
    globex = create_tenant("globex")
    theirs = _membership(db, globex, add_member(globex))
    for url in (_url(theirs), _url(_membership(db, globex, globex.owner)), "/api/v1/members/999999"):
        assert client.patch(url, json={"role": "admin"}, headers=headers).status_code == 404
        assert client.delete(url, headers=headers).status_code == 404
    db.session.refresh(theirs)
    assert theirs.role is Role.AGENT


def test_members_routes_need_a_token(client, db, acme, add_member):
    agent = _membership(db, acme, add_member(acme))
    assert client.patch(_url(agent), json={"role": "admin"}).status_code == 401
    assert client.delete(_url(agent)).status_code == 401
