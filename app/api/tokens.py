from __future__ import annotations

from flask import g
from flask_smorest import Blueprint

from app.api.auth import authenticate_token
from app.api.pagination import PageArgsSchema, paginate
from app.api.schemas import TokenCreatedSchema, TokenCreateSchema, TokenPageSchema
from app.tokens import services
from app.tokens.models import ApiToken

blp = Blueprint("api_tokens", __name__, url_prefix="/tokens", description="API tokens of the tenant")
blp.before_request(authenticate_token)


@blp.route("", methods=["GET"])
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, TokenPageSchema)
def list_tokens(args: dict):
    query = ApiToken.all(g.tenant).where(ApiToken.revoked_at.is_(None)).order_by(ApiToken.id.desc())
    return paginate(query, **args)


@blp.route("", methods=["POST"])
@blp.arguments(TokenCreateSchema)
@blp.response(201, TokenCreatedSchema)
def create_token(body: dict):
    """Create a token; the answer is the only time its value is shown."""
    token, plaintext = services.create_token(g.tenant, name=body["name"], created_by_id=g.api_token.created_by_id)
    token.token = plaintext
    return token


@blp.route("/<int:token_id>", methods=["DELETE"])
@blp.response(204)
def revoke_token(token_id: int):
    services.revoke_token(ApiToken.get_by_id_and_tenant(token_id, g.tenant))
