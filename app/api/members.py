"""Members and invitations: the portal's Members page (``app.members.views``), over the same services."""

from __future__ import annotations

import marshmallow as ma
from flask import abort, g, url_for
from flask_babel import gettext as _
from flask_smorest import Blueprint
from sqlalchemy import select

from app.api.auth import authenticate_token
from app.api.pagination import PageArgsSchema, paginate
from app.api.problems import problem_response
from app.api.schemas import (
    InvitationCreatedSchema,
    InvitationCreateSchema,
    InvitationPageSchema,
    MemberPageSchema,
    MemberSchema,
    Strict,
)
from app.api.ticket_actions import _actor
from app.auth.models import User
from app.errors import FieldErrors
from app.extensions import db
from app.members import services
from app.members.models import Invitation
from tenants.models import Membership, Role, utcnow


class MemberChangeSchema(Strict):
    role = ma.fields.String(metadata={"enum": [role.value for role in Role], "description": (
        "agent or admin: an API token acts as an admin, so it can neither grant owner nor change an owner")})


blp = Blueprint("api_members", __name__, url_prefix="", description="Members and invitations")
blp.before_request(authenticate_token)


@blp.route("/members", methods=["GET"])
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, MemberPageSchema)
def list_members(args: dict):
    query = select(Membership).join(Membership.user).where(Membership.tenant_id == g.tenant.id).order_by(User.name)
    return paginate(query, **args)


def _acting_membership() -> Membership:
    """The token acts as its creator (see ``_actor``), and never above admin, as in invitations: a token cannot make
    or unmake owners. A creator no longer an admin here is refused, as the portal refuses them."""
    user = _actor()
    membership = db.session.scalar(select(Membership).where(Membership.tenant_id == g.tenant.id,
                                                            Membership.user_id == user.id))
    if membership is None or not membership.role.at_least(Role.ADMIN):
        abort(problem_response(403, detail=_("The member who created this API token may not manage members.")))
    # A stand-in, never added to the session: the services only read the acting role.
    return Membership(tenant_id=g.tenant.id, user_id=user.id, role=Role.ADMIN)


def _member(membership_id: int) -> Membership:
    target = services.membership_by_id(g.tenant, membership_id)
    if target is None:
        abort(404)
    return target


@blp.route("/members/<int:membership_id>", methods=["PATCH"])
@blp.arguments(MemberChangeSchema)
@blp.response(200, MemberSchema)
@blp.alt_response(403, response="FORBIDDEN")
@blp.alt_response(404, response="NOT_FOUND")
def change_member(changes: dict, membership_id: int):
    """The id is the member's ``id`` in ``GET /members``. A role the token may not grant, or an owner to change, is
    a 422 at ``#/role``."""
    actor, target = _acting_membership(), _member(membership_id)
    if "role" in changes:
        services.change_role(actor, target, changes["role"])
    return target


@blp.route("/members/<int:membership_id>", methods=["DELETE"])
@blp.response(204)
@blp.alt_response(403, response="FORBIDDEN")
@blp.alt_response(404, response="NOT_FOUND")
@blp.alt_response(409, response="CONFLICT")
def remove_member(membership_id: int):
    """Ends the member's access. Removing an owner is a 409. Removing the member the token acts as is a 403: the
    portal does not offer removing yourself either."""
    actor, target = _acting_membership(), _member(membership_id)
    if target.user_id == actor.user_id:
        abort(problem_response(403, detail=_("An API token cannot remove the member it acts as.")))
    try:
        services.remove_member(actor, target)
    except FieldErrors as error:
        abort(problem_response(409, detail=next(iter(error.errors.values()))))


@blp.route("/invitations", methods=["GET"])
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, InvitationPageSchema)
def list_invitations(args: dict):
    query = Invitation.all(g.tenant).where(Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None),
                                           Invitation.expires_at > utcnow())
    return paginate(query.order_by(Invitation.id.desc()), **args)


@blp.route("/invitations", methods=["POST"])
@blp.arguments(InvitationCreateSchema)
@blp.response(201, InvitationCreatedSchema)
def create_invitation(body: dict):
    """Invite someone; the answer carries the invitation link once. API tokens may grant up to admin."""
    invitation, token = services.invite(g.tenant, email=body["email"], role=body["role"], inviter_role=Role.ADMIN,
                                        invited_by_id=g.api_token.created_by_id)
    invitation.link = url_for("invitations.accept", token=token, _external=True)
    return invitation


@blp.route("/invitations/<int:invitation_id>", methods=["DELETE"])
@blp.response(204)
def delete_invitation(invitation_id: int):
    services.revoke_invitation(Invitation.get_by_id_and_tenant(invitation_id, g.tenant))
