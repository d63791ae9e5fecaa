from __future__ import annotations

from flask import g, url_for
from flask_smorest import Blueprint
from sqlalchemy import select

from app.api.auth import authenticate_token
from app.api.pagination import PageArgsSchema, paginate
from app.api.schemas import InvitationCreatedSchema, InvitationCreateSchema, InvitationPageSchema, MemberPageSchema
from app.auth.models import User
from app.members import services
from app.members.models import Invitation
from tenants.models import Membership, Role, utcnow

blp = Blueprint("api_members", __name__, url_prefix="", description="Members and invitations")
blp.before_request(authenticate_token)


@blp.route("/members", methods=["GET"])
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, MemberPageSchema)
def list_members(args: dict):
    query = select(Membership).join(Membership.user).where(Membership.tenant_id == g.tenant.id).order_by(User.name)
    return paginate(query, **args)


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
