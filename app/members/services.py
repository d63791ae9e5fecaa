"""Members of a tenant: invitations (signed, expiring, single-use links), roles, removal."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, select

from app.audit.services import record
from app.auth import validation as v
from app.auth.models import User
from app.auth.services import user_by_email
from app.errors import FieldErrors, collect
from app.extensions import db
from app.members.models import Invitation
from tenants.models import Membership, Role, Tenant, utcnow


class InvitationInvalid(Exception):
    """The link is forged, expired, revoked or already used; ``str(exc)`` is a localized explanation."""


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="postroom.invitation")


def members(tenant: Tenant) -> list[Membership]:
    query = select(Membership).join(Membership.user).where(Membership.tenant_id == tenant.id).order_by(User.name)
    return list(db.session.scalars(query))


def pending_invitations(tenant: Tenant) -> list[Invitation]:
    query = Invitation.all(tenant).where(Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None),
                                         Invitation.expires_at > utcnow())
    return list(db.session.scalars(query.order_by(Invitation.created_at.desc())))


def _grantable_roles(actor_role: Role) -> tuple[Role, ...]:
    return tuple(r for r in Role if r.rank <= actor_role.rank)


def invite(tenant: Tenant, *, email: str, role: Role | str, inviter_role: Role,
           invited_by_id: int | None) -> tuple[Invitation, str]:
    """Create an invitation; returns it with its link token (shown once to the inviter).

    ``inviter_role`` bounds the role that may be granted (an API token acts as an admin).
    """
    normalized, email_message = v.normalize_email(email)
    role_value = role.value if isinstance(role, Role) else role
    role_ok = role_value in {r.value for r in _grantable_roles(inviter_role)}
    collect(email=email_message, role=None if role_ok else _("You cannot grant this role."))
    existing = user_by_email(normalized or "")
    if existing and db.session.scalar(select(Membership.id).where(
            Membership.tenant_id == tenant.id, Membership.user_id == existing.id)):
        raise FieldErrors({"email": _("This person is already a member.")})
    max_age = current_app.config["INVITATION_MAX_AGE"]
    invitation = Invitation(tenant_id=tenant.id, email=normalized, role=Role(role_value),
                            invited_by_id=invited_by_id, expires_at=utcnow() + timedelta(seconds=max_age))
    db.session.add(invitation)
    db.session.flush()
    record(tenant, "member.invited", object_type="invitation", object_id=invitation.id, label=invitation.email,
           changes={"role": [None, invitation.role.value]})
    token = _serializer().dumps({"i": invitation.id, "t": tenant.id})
    from app.outbound import notifications

    inviter = db.session.get(User, invited_by_id) if invited_by_id else None
    notifications.invitation(tenant, invitation.email, token, inviter)  # the link by mail, through the relay
    db.session.commit()
    return invitation, token


def revoke_invitation(invitation: Invitation) -> None:
    if invitation.revoked_at is None:
        invitation.revoked_at = utcnow()
        record(invitation.tenant, "member.invitation_withdrawn", object_type="invitation", object_id=invitation.id,
               label=invitation.email)
    db.session.commit()


def load_invitation(token: str) -> Invitation:
    """The pending invitation behind ``token``; raises ``InvitationInvalid`` with the reason otherwise."""
    try:
        data = _serializer().loads(token, max_age=current_app.config["INVITATION_MAX_AGE"])
    except SignatureExpired:
        raise InvitationInvalid(_("This invitation has expired. Ask for a new one.")) from None
    except BadSignature:
        raise InvitationInvalid(_("This invitation link is not valid.")) from None
    invitation = db.session.get(Invitation, data.get("i"))
    if invitation is None or invitation.tenant_id != data.get("t"):
        raise InvitationInvalid(_("This invitation link is not valid."))
    if not invitation.pending:
        raise InvitationInvalid(_("This invitation has already been used or was withdrawn."))
    return invitation


def accept_invitation(invitation: Invitation, *, user: User | None = None, name: str = "",
                      password: str = "") -> User:
    """Join the tenant as ``user`` (signed in with the invited address) or as a new account."""
    if user is None:
        collect(name=v.name_error(name), password=v.password_error(password, email=invitation.email))
        if user_by_email(invitation.email):
            raise FieldErrors({"email": _("An account with this e-mail address already exists. Please log in.")})
        user = User(email=invitation.email, name=name.strip())
        user.set_password(password)
        db.session.add(user)
    elif user.email != invitation.email:
        raise InvitationInvalid(_("This invitation is for %(email)s. Log in with that address.",
                                  email=invitation.email))
    db.session.add(Membership(tenant_id=invitation.tenant_id, user=user, role=invitation.role))
    invitation.accepted_at = utcnow()
    record(invitation.tenant, "member.joined", object_type="user", label=user.email,
           changes={"role": [None, invitation.role.value]})
    db.session.commit()
    return user


def _owner_count(tenant: Tenant) -> int:
    query = select(func.count()).where(Membership.tenant_id == tenant.id, Membership.role == Role.OWNER)
    return db.session.scalar(query) or 0


def _check_may_manage(actor: Membership, target: Membership) -> None:
    if target.role == Role.OWNER and actor.role != Role.OWNER:
        raise FieldErrors({"role": _("Only an owner can change another owner.")})
    if target.role == Role.OWNER and _owner_count(target.tenant) == 1:
        raise FieldErrors({"role": _("A tenant needs at least one owner.")})


def change_role(actor: Membership, target: Membership, role: Role | str) -> None:
    role_value = role.value if isinstance(role, Role) else role
    collect(role=None if role_value in {r.value for r in _grantable_roles(actor.role)}
            else _("You cannot grant this role."))
    if target.role != Role(role_value):
        _check_may_manage(actor, target)
        record(target.tenant, "member.role_changed", object_type="user", object_id=target.user_id,
               label=target.user.email, changes={"role": [target.role.value, role_value]})
    target.role = Role(role_value)
    db.session.commit()


def remove_member(actor: Membership, target: Membership) -> None:
    _check_may_manage(actor, target)
    record(target.tenant, "member.removed", object_type="user", object_id=target.user_id, label=target.user.email,
           changes={"role": [target.role.value, None]})
    db.session.delete(target)
    db.session.commit()


def membership_by_id(tenant: Tenant, membership_id: int) -> Membership | None:
    return db.session.scalar(select(Membership).where(Membership.tenant_id == tenant.id,
                                                      Membership.id == membership_id))
